/*
 * reg_digest.h — HTTP digest for the registrar (RFC 2617 / RFC 7616 / RFC 8760): MD5 and
 * SHA-256 through OpenSSL EVP, stateless HMAC nonces with a time to live, and the
 * nonce-count replay table. No sofia or module state: unit-tested alone.
 */
#ifndef REG_DIGEST_H
#define REG_DIGEST_H

#include <apr.h>
#include <apr_pools.h>
#include <apr_time.h>

typedef enum reg_alg { REG_ALG_MD5, REG_ALG_SHA256, REG_ALG_UNKNOWN } reg_alg_t;

/** "MD5" / "SHA-256" (case-insensitive; NULL means MD5 as RFC 2617 says) → algorithm. */
reg_alg_t reg_alg_parse(const char *name);
const char *reg_alg_name(reg_alg_t alg);

/** Longest hex digest plus NUL (SHA-256: 64 + 1). */
#define REG_HEX_MAX 65

/** H(s) in lower-case hex into @p out (REG_HEX_MAX bytes). */
void reg_digest_hex(reg_alg_t alg, const char *s, apr_size_t len, char *out);
/** HA1 = H(user:realm:password). */
void reg_digest_ha1(reg_alg_t alg, const char *user, const char *realm, const char *password, char *out);
/**
 * The expected response: H(HA1:nonce:nc:cnonce:qop:HA2) with qop, H(HA1:nonce:HA2) without
 * (@p qop NULL), HA2 = H(method:uri).
 */
void reg_digest_response(reg_alg_t alg, const char *ha1, const char *nonce, const char *nc, const char *cnonce,
                         const char *qop, const char *method, const char *uri, char *out);

/* ---- nonces -------------------------------------------------------------------------- */

#define REG_SECRET_LEN 32
#define REG_NONCE_LEN 48 /* 16 hex of time (µs) + 32 hex of HMAC */

/**
 * The nonces' MAC, keyed once: OpenSSL 3's one-shot HMAC() looks the algorithm up on every
 * call, a tenth of a digest REGISTER's CPU; a keyed context is copied per nonce instead.
 * Freed with @p pool. May be used from any number of threads at once.
 */
typedef struct reg_mac reg_mac_t;
apr_status_t reg_mac_create(reg_mac_t **out, const unsigned char *secret, apr_pool_t *pool);

/** A new nonce for @p realm issued at @p now into @p out (REG_NONCE_LEN + 1 bytes). */
void reg_nonce_make(const reg_mac_t *mac, const char *realm, apr_time_t now, char *out);

typedef enum reg_nonce_state { REG_NONCE_VALID, REG_NONCE_STALE, REG_NONCE_INVALID } reg_nonce_state_t;

/** Check that @p nonce was made by us for @p realm and is at most @p ttl seconds old at @p now. */
reg_nonce_state_t reg_nonce_check(const reg_mac_t *mac, const char *realm, const char *nonce, apr_time_t now,
                                  int ttl);

/* ---- nonce counts -------------------------------------------------------------------- */

typedef struct reg_nc_table reg_nc_table_t;

/** A thread-safe table of the highest nc seen per nonce; entries live between ttl and 2×ttl. */
apr_status_t reg_nc_create(reg_nc_table_t **t, int ttl, apr_pool_t *pool);
/** Record @p nc (hex) for @p nonce at @p now: 1 if it is higher than any seen, 0 for a replay. */
int reg_nc_accept(reg_nc_table_t *t, const char *nonce, const char *nc, apr_time_t now);
void reg_nc_destroy(reg_nc_table_t *t);

#endif
