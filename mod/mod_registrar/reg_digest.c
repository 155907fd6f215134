/*
 * reg_digest.c — digest computation, stateless nonces and the nonce-count table.
 *
 * Nonce = 16 hex digits of the issue time (µs) followed by the first 16 bytes, in hex, of
 * HMAC-SHA256(secret, time-hex ":" realm). It needs no state to verify: recompute the HMAC
 * and compare the age with nonce-ttl. The secret is random per process, so nonces of an
 * earlier run are simply invalid (the client gets a fresh challenge).
 *
 * Replays: a nonce's nonce-count must grow. The table keeps the highest nc per nonce in two
 * generations per shard; the older one is dropped once the newer is ttl old, so an entry
 * outlives the nonce's validity (which is what makes forgetting it safe).
 */
#include "reg_digest.h"
#include <aorta/pool.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

reg_alg_t reg_alg_parse(const char *name)
{
    if (!name || !strcasecmp(name, "MD5"))
        return REG_ALG_MD5;
    if (!strcasecmp(name, "SHA-256"))
        return REG_ALG_SHA256;
    return REG_ALG_UNKNOWN;
}

const char *reg_alg_name(reg_alg_t alg)
{
    return alg == REG_ALG_SHA256 ? "SHA-256" : alg == REG_ALG_MD5 ? "MD5" : "unknown";
}

static void to_hex(const unsigned char *in, unsigned n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = 0;
}

void reg_digest_hex(reg_alg_t alg, const char *s, apr_size_t len, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(s, len, md, &n, alg == REG_ALG_SHA256 ? EVP_sha256() : EVP_md5(), NULL);
    to_hex(md, n, out);
}

/* H of the pieces joined with ':' */
static void hash_join(reg_alg_t alg, char *out, int n, const char *const *parts)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestInit_ex(ctx, alg == REG_ALG_SHA256 ? EVP_sha256() : EVP_md5(), NULL);
    for (int i = 0; i < n; i++) {
        if (i)
            EVP_DigestUpdate(ctx, ":", 1);
        EVP_DigestUpdate(ctx, parts[i] ? parts[i] : "", parts[i] ? strlen(parts[i]) : 0);
    }
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    to_hex(md, len, out);
}

void reg_digest_ha1(reg_alg_t alg, const char *user, const char *realm, const char *password, char *out)
{
    const char *p[3] = {user, realm, password};
    hash_join(alg, out, 3, p);
}

void reg_digest_response(reg_alg_t alg, const char *ha1, const char *nonce, const char *nc, const char *cnonce,
                         const char *qop, const char *method, const char *uri, char *out)
{
    char ha2[REG_HEX_MAX];
    const char *a2[2] = {method, uri};
    hash_join(alg, ha2, 2, a2);
    if (qop) {
        const char *p[6] = {ha1, nonce, nc, cnonce, qop, ha2};
        hash_join(alg, out, 6, p);
    } else {
        const char *p[3] = {ha1, nonce, ha2};
        hash_join(alg, out, 3, p);
    }
}

/* ---- nonces -------------------------------------------------------------------------- */

struct reg_mac {
    EVP_MAC *hmac;
    EVP_MAC_CTX *keyed; /* only ever copied, never updated: safe to share between threads */
};

static apr_status_t mac_cleanup(void *data)
{
    reg_mac_t *m = data;
    EVP_MAC_CTX_free(m->keyed);
    EVP_MAC_free(m->hmac);
    return APR_SUCCESS;
}

apr_status_t reg_mac_create(reg_mac_t **out, const unsigned char *secret, apr_pool_t *pool)
{
    reg_mac_t *m = apr_pcalloc(pool, sizeof *m);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0), OSSL_PARAM_construct_end()};
    if (!(m->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(m->keyed = EVP_MAC_CTX_new(m->hmac)) ||
        !EVP_MAC_init(m->keyed, secret, REG_SECRET_LEN, params)) {
        mac_cleanup(m);
        return APR_EGENERAL;
    }
    apr_pool_cleanup_register(pool, m, mac_cleanup, apr_pool_cleanup_null);
    *out = m;
    return APR_SUCCESS;
}

static void nonce_mac(const reg_mac_t *m, const char *ts, const char *realm, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t n = 0;
    char buf[512];
    int len = snprintf(buf, sizeof buf, "%s:%s", ts, realm ? realm : "");
    if (len < 0 || len >= (int)sizeof buf)
        len = (int)sizeof buf - 1;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(m->keyed);
    if (!c || !EVP_MAC_update(c, (const unsigned char *)buf, (size_t)len) || !EVP_MAC_final(c, md, &n, sizeof md) ||
        n < 16)
        aorta_pool_abort(APR_ENOMEM); /* OpenSSL out of memory: fatal, as for pools */
    EVP_MAC_CTX_free(c);
    to_hex(md, 16, out);
}

void reg_nonce_make(const reg_mac_t *mac, const char *realm, apr_time_t now, char *out)
{
    /* The issue time is also the nonce's identity (nonce-counts are tracked per nonce), so
     * two challenges must never get the same one: the time is made strictly increasing
     * across the process; under load it runs at most a few µs ahead of the clock. */
    static apr_uint64_t last_issued;
    apr_uint64_t t = (apr_uint64_t)now;
    apr_uint64_t prev = __atomic_load_n(&last_issued, __ATOMIC_RELAXED);
    do {
        if (t <= prev)
            t = prev + 1;
    } while (!__atomic_compare_exchange_n(&last_issued, &prev, t, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
    apr_snprintf(out, 17, "%016" APR_UINT64_T_HEX_FMT, t);
    nonce_mac(mac, out, realm, out + 16);
}

reg_nonce_state_t reg_nonce_check(const reg_mac_t *mac, const char *realm, const char *nonce, apr_time_t now,
                                  int ttl)
{
    char ts[17];
    if (!nonce || strlen(nonce) != REG_NONCE_LEN)
        return REG_NONCE_INVALID;
    memcpy(ts, nonce, 16);
    ts[16] = 0;
    for (int i = 0; i < 16; i++)
        if (!strchr("0123456789abcdef", ts[i]))
            return REG_NONCE_INVALID;
    char want[33];
    nonce_mac(mac, ts, realm, want);
    if (CRYPTO_memcmp(want, nonce + 16, 32))
        return REG_NONCE_INVALID;
    apr_time_t issued = (apr_time_t)apr_strtoi64(ts, NULL, 16);
    if (issued > now + apr_time_from_sec(5) || now - issued > apr_time_from_sec(ttl))
        return REG_NONCE_STALE;
    return REG_NONCE_VALID;
}

/* ---- nonce counts -------------------------------------------------------------------- */

#define NC_SHARDS 64

typedef struct nc_shard {
    apr_thread_mutex_t *lock;
    apr_pool_t *gen[2]; /* [0] current, [1] previous */
    apr_hash_t *h[2];
    apr_time_t started;
} nc_shard_t;

struct reg_nc_table {
    apr_time_t ttl;
    nc_shard_t shards[NC_SHARDS];
};

apr_status_t reg_nc_create(reg_nc_table_t **out, int ttl, apr_pool_t *pool)
{
    reg_nc_table_t *t = apr_pcalloc(pool, sizeof *t);
    t->ttl = apr_time_from_sec(ttl > 0 ? ttl : 1);
    for (int i = 0; i < NC_SHARDS; i++) {
        nc_shard_t *s = &t->shards[i];
        apr_status_t rv = apr_thread_mutex_create(&s->lock, APR_THREAD_MUTEX_DEFAULT, pool);
        if (rv != APR_SUCCESS)
            return rv;
        for (int g = 0; g < 2; g++) {
            apr_pool_create_unmanaged_ex(&s->gen[g], NULL, NULL);
            s->h[g] = apr_hash_make(s->gen[g]);
        }
    }
    *out = t;
    return APR_SUCCESS;
}

void reg_nc_destroy(reg_nc_table_t *t)
{
    if (!t)
        return;
    for (int i = 0; i < NC_SHARDS; i++)
        for (int g = 0; g < 2; g++)
            if (t->shards[i].gen[g])
                apr_pool_destroy(t->shards[i].gen[g]);
}

int reg_nc_accept(reg_nc_table_t *t, const char *nonce, const char *nc_hex, apr_time_t now)
{
    apr_uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)nonce; *p; p++)
        h = (h ^ *p) * 16777619u;
    nc_shard_t *s = &t->shards[h % NC_SHARDS];
    unsigned long nc = nc_hex ? strtoul(nc_hex, NULL, 16) : 0;
    int ok;
    apr_thread_mutex_lock(s->lock);
    if (!s->started)
        s->started = now;
    if (now - s->started > t->ttl) {
        apr_pool_t *old = s->gen[1];
        s->gen[1] = s->gen[0];
        s->h[1] = s->h[0];
        apr_pool_clear(old);
        s->gen[0] = old;
        s->h[0] = apr_hash_make(old);
        s->started = now;
    }
    unsigned long *seen = apr_hash_get(s->h[0], nonce, APR_HASH_KEY_STRING);
    if (!seen) {
        unsigned long *prev = apr_hash_get(s->h[1], nonce, APR_HASH_KEY_STRING);
        seen = apr_palloc(s->gen[0], sizeof *seen);
        *seen = prev ? *prev : 0;
        apr_hash_set(s->h[0], apr_pstrdup(s->gen[0], nonce), APR_HASH_KEY_STRING, seen);
    }
    ok = nc > *seen;
    if (ok)
        *seen = nc;
    apr_thread_mutex_unlock(s->lock);
    return ok;
}
