/*
 * reg_internal.h — mod_registrar's private types.
 *
 * Ownership: reg_t lives in the module pool; the configuration (reg_conf_t) in its
 * generation pool (taken with a reference for the duration of one request); a request
 * context (reg_ctx_t) in the request's pool, which lives until the final reply.
 */
#ifndef REG_INTERNAL_H
#define REG_INTERNAL_H

#include <aorta/aorta.h>
#include <apr_hash.h>
#include <apr_network_io.h>
#include "mod_location/loc_api.h"
#include "mod_endpoints/ep_api.h"
#include "reg_digest.h"
#include "reg_outcome.h"
#include "reg_rules.h"

typedef struct reg_profile {
    const char *name;
    const char *realm;
    int min_expires, max_expires, default_expires;
    int nonce_ttl;
    apr_array_header_t *algorithms; /**< const char *, challenge order */
} reg_profile_t;

typedef struct reg_conf {
    apr_hash_t *profiles;           /**< name -> reg_profile_t* */
    reg_profile_t *first;
} reg_conf_t;

typedef struct reg {
    aorta_module_t *mod;
    const loc_api_t *loc;
    const ep_api_t *ep;
    unsigned char secret[REG_SECRET_LEN];
    reg_mac_t *mac; /* keyed with secret */
    reg_nc_table_t *nc;
    volatile apr_uint32_t inflight; /**< REGISTERs held until their commit; shutdown waits for 0 */
} reg_t;

extern reg_t *reg_global;

/** What events need to know about the REGISTER behind a change. */
typedef struct reg_ctx {
    const char *profile, *endpoint, *aor;
    const char *from_user, *from_host, *to_user, *to_host;
    const char *username, *realm;
    const char *network_ip, *network_proto, *user_agent, *call_id, *contact;
    apr_port_t network_port;
} reg_ctx_t;

apr_status_t reg_conf_parse(const aorta_conf_t *conf, apr_pool_t *pool, aorta_conf_errors_t *errs, reg_conf_t **out);
const reg_profile_t *reg_conf_profile(const reg_conf_t *conf, const char *name);

/* reg_register.c */
void reg_register_handle(ep_request_t *req, void *user);
void reg_register_challenge(ep_request_t *req, void *user);

/* reg_events.c */
void reg_events_change(const loc_change_t *ch, void *user);
void reg_events_failure(const reg_ctx_t *ctx, reg_outcome_t o);

/* mod_registrar.c */
apr_status_t reg_cmd_unregister(const char *args, aorta_stream_t *out, apr_pool_t *pool);

#endif
