/*
 * mod_registrar.c — the registrar: answers REGISTER for the location service (SPEC §7),
 * challenges unidentified requests, turns location changes into registrar:: events, and
 * offers `registrar unregister`.
 *
 * Needs the `location` (mod_location) and `endpoints` (mod_endpoints) interfaces at load;
 * without this module REGISTER gets 501 from mod_endpoints. Settings per profile come from
 * sip.conf <registrar>.
 */
#include "reg_internal.h"
#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <stddef.h>
#include <string.h>

reg_t *reg_global;

static const char *validate_algorithms(const aorta_setting_t *s, const char *value, apr_pool_t *pool)
{
    char *copy = apr_pstrdup(pool, value), *last, *tok;
    int n = 0;
    for (tok = apr_strtok(copy, ", ", &last); tok; tok = apr_strtok(NULL, ", ", &last), n++)
        if (reg_alg_parse(tok) == REG_ALG_UNKNOWN)
            return apr_psprintf(pool, "unknown algorithm '%s' (MD5, SHA-256)", tok);
    return n ? NULL : "needs at least one algorithm";
}

static const aorta_setting_t reg_settings[] = {
    {"realm", AORTA_SETTING_STRING, NULL, offsetof(reg_profile_t, realm), NULL, 0, 0, NULL, 1,
     "digest realm (default: the domain variable, else the profile name)"},
    {"min-expires", AORTA_SETTING_INT, "60", offsetof(reg_profile_t, min_expires), NULL, 1, 1000000000, NULL, 1,
     "shortest registration accepted; below it: 423 with Min-Expires"},
    {"max-expires", AORTA_SETTING_INT, "7200", offsetof(reg_profile_t, max_expires), NULL, 1, 1000000000, NULL, 1,
     "longer registrations are cut to this"},
    {"default-expires", AORTA_SETTING_INT, "3600", offsetof(reg_profile_t, default_expires), NULL, 1, 1000000000,
     NULL, 1, "expiry when neither the contact nor Expires gives one"},
    {"nonce-ttl", AORTA_SETTING_INT, "60", offsetof(reg_profile_t, nonce_ttl), NULL, 1, 86400, NULL, 0,
     "seconds a nonce is accepted; older ones get stale=true"},
    {"auth-algorithms", AORTA_SETTING_LIST, "MD5", offsetof(reg_profile_t, algorithms), NULL, 0, 0,
     validate_algorithms, 1,
     "digest algorithms challenged, in this order; MD5 alone by default: baresip 1.0 refuses any other challenge"},
    {NULL}};

apr_status_t reg_conf_parse(const aorta_conf_t *conf, apr_pool_t *pool, aorta_conf_errors_t *errs, reg_conf_t **out)
{
    reg_conf_t *rc = apr_pcalloc(pool, sizeof *rc);
    int nerr = aorta_conf_errors_count(errs);
    rc->profiles = apr_hash_make(pool);
    xmlNode *sip = aorta_conf_configuration(conf, "sip.conf");
    xmlNode *profiles = sip ? aorta_xml_child(sip, "profiles") : NULL;
    for (xmlNode *pr = profiles ? aorta_xml_child(profiles, "profile") : NULL; pr; pr = aorta_xml_next(pr, "profile")) {
        reg_profile_t *p = apr_pcalloc(pool, sizeof *p);
        const char *name = aorta_xml_attr(pr, "name");
        xmlNode *rn = aorta_xml_child(pr, "registrar");
        p->name = apr_pstrdup(pool, name ? name : "");
        aorta_settings_apply(reg_settings, p, conf, rn, pool, errs);
        if (!p->realm || !*p->realm) {
            const char *d = aorta_conf_var(conf, "domain");
            p->realm = apr_pstrdup(pool, d && *d ? d : p->name);
        }
        if (p->min_expires > p->max_expires)
            aorta_conf_error(errs, conf, rn ? rn : pr, "min-expires (%d) is above max-expires (%d)", p->min_expires,
                             p->max_expires);
        if (p->default_expires > p->max_expires)
            p->default_expires = p->max_expires;
        apr_hash_set(rc->profiles, p->name, APR_HASH_KEY_STRING, p);
        if (!rc->first)
            rc->first = p;
    }
    if (!rc->first) {
        /* no profile at all: defaults, so that the challenger still has a realm */
        reg_profile_t *p = apr_pcalloc(pool, sizeof *p);
        aorta_settings_apply(reg_settings, p, conf, NULL, pool, errs);
        p->name = "";
        p->realm = "aorta";
        rc->first = p;
    }
    *out = rc;
    return aorta_conf_errors_count(errs) > nerr ? AORTA_ECONFIG : APR_SUCCESS;
}

const reg_profile_t *reg_conf_profile(const reg_conf_t *conf, const char *name)
{
    const reg_profile_t *p = name ? apr_hash_get(conf->profiles, name, APR_HASH_KEY_STRING) : NULL;
    return p ? p : conf->first;
}

/* ---- registrar unregister ------------------------------------------------------------- */

typedef struct waiter {
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    int done;
    apr_status_t st;
} waiter_t;

static void unregister_done(apr_status_t st, const loc_contact_t *const *v, int n, void *user)
{
    waiter_t *w = user;
    apr_thread_mutex_lock(w->lock);
    w->done = 1;
    w->st = st;
    apr_thread_cond_signal(w->cond);
    apr_thread_mutex_unlock(w->lock);
}

apr_status_t reg_cmd_unregister(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    reg_t *reg = reg_global;
    char *argv[3] = {NULL, NULL, NULL};
    int argc = aorta_api_split(args, pool, argv, 3);
    if (argc < 2 || strcmp(argv[0], "unregister")) {
        aorta_stream_puts(out, "-ERR usage: registrar unregister <aor> [<contact-uri>|all]\n");
        return AORTA_ESYNTAX;
    }
    aorta_config_gen_t *agen = NULL;
    if (!reg->loc->aor_find(argv[1], &agen)) {
        aorta_stream_printf(out, "-ERR no such aor '%s'\n", argv[1]);
        return AORTA_ENOTFOUND;
    }
    aorta_module_config_release(agen);
    const char *which = argc >= 3 ? argv[2] : "all";
    if (*which == '<') { /* accept the URI with its angle brackets as shown in a 200 OK */
        char *w = apr_pstrdup(pool, which + 1);
        char *gt = strchr(w, '>');
        if (gt)
            *gt = 0;
        which = w;
    }
    loc_editor_t *ed;
    if (reg->loc->edit_begin(argv[1], &ed) != APR_SUCCESS) {
        aorta_stream_puts(out, "-ERR location unavailable\n");
        return AORTA_ESTORE;
    }
    int n, removed = 0;
    const loc_contact_t *const *cur = reg->loc->edit_contacts(ed, &n);
    for (int i = 0; i < n; i++) {
        if (strcmp(which, "all") && strcasecmp(which, cur[i]->uri))
            continue;
        reg->loc->edit_remove(ed, cur[i], LOC_REASON_ADMIN);
        removed++;
    }
    if (!removed) {
        reg->loc->edit_abort(ed);
        aorta_stream_printf(out, "-ERR no matching contact on aor '%s'\n", argv[1]);
        return AORTA_ENOTFOUND;
    }
    waiter_t w = {NULL, NULL, 0, APR_SUCCESS};
    apr_thread_mutex_create(&w.lock, APR_THREAD_MUTEX_DEFAULT, pool);
    apr_thread_cond_create(&w.cond, pool);
    reg->loc->edit_commit(ed, NULL, unregister_done, &w);
    apr_thread_mutex_lock(w.lock);
    while (!w.done)
        apr_thread_cond_wait(w.cond, w.lock);
    apr_thread_mutex_unlock(w.lock);
    if (w.st != APR_SUCCESS) {
        aorta_stream_puts(out, "-ERR the store could not commit the removal\n");
        return AORTA_ESTORE;
    }
    aorta_stream_printf(out, "+OK removed %d contact%s\n", removed, removed == 1 ? "" : "s");
    return APR_SUCCESS;
}

/* ---- module --------------------------------------------------------------------------- */

static apr_status_t registrar_configure(aorta_module_t *mod, const aorta_conf_t *conf, apr_pool_t *gen_pool,
                                        aorta_conf_errors_t *errs, void **cfg)
{
    reg_conf_t *rc;
    apr_status_t rv = reg_conf_parse(conf, gen_pool, errs, &rc);
    *cfg = rc;
    return rv;
}

static apr_status_t registrar_load(aorta_module_t *mod, apr_pool_t *pool)
{
    reg_conf_t *conf = aorta_module_config(mod);
    reg_t *reg = apr_pcalloc(pool, sizeof *reg);
    apr_status_t rv;
    reg->mod = mod;
    if ((rv = aorta_interface_require(mod, LOC_API_NAME, (const void **)&reg->loc)) != APR_SUCCESS ||
        (rv = aorta_interface_require(mod, EP_API_NAME, (const void **)&reg->ep)) != APR_SUCCESS)
        return rv;
    if (reg->loc->version != LOC_API_VERSION || reg->ep->version != EP_API_VERSION) {
        aorta_log(AORTA_LOG_ERR, "mod_registrar: interface version mismatch (location %d, endpoints %d)",
                  reg->loc->version, reg->ep->version);
        return AORTA_EDEPEND;
    }
    if ((rv = apr_generate_random_bytes(reg->secret, sizeof reg->secret)) != APR_SUCCESS ||
        (rv = reg_mac_create(&reg->mac, reg->secret, pool)) != APR_SUCCESS ||
        (rv = reg_nc_create(&reg->nc, conf->first->nonce_ttl, pool)) != APR_SUCCESS)
        return rv;
    reg_global = reg;
    /* Nothing on a REGISTER's path waits (location edits are queued to its writer, events are
     * queued): mod_endpoints may run it on the SIP thread, with no hand-off to a worker. */
    if ((rv = reg->ep->method_register_ex(mod, "REGISTER", reg_register_handle, reg, EP_SERVICE_NONBLOCKING)) !=
        APR_SUCCESS) {
        aorta_log(AORTA_LOG_ERR, "mod_registrar: cannot take the REGISTER method service");
        goto fail;
    }
    if ((rv = reg->ep->challenger_set_ex(mod, reg_register_challenge, reg, EP_SERVICE_NONBLOCKING)) != APR_SUCCESS) {
        aorta_log(AORTA_LOG_ERR, "mod_registrar: cannot set the challenger");
        goto fail;
    }
    if ((rv = reg->loc->subscribe(mod, reg_events_change, reg)) != APR_SUCCESS)
        goto fail;
    aorta_module_set_data(mod, reg);
    return APR_SUCCESS;
fail:
    reg->ep->unregister_owner(mod);
    reg->loc->unsubscribe(mod);
    reg_nc_destroy(reg->nc);
    reg_global = NULL;
    return rv;
}

static apr_status_t registrar_reconfigure(aorta_module_t *mod, void *cfg)
{
    return APR_SUCCESS; /* every request takes the current generation; nonce-ttl of the nc table needs a reload */
}

static void registrar_shutdown(aorta_module_t *mod)
{
    reg_t *reg = aorta_module_get_data(mod);
    if (!reg)
        return;
    reg->ep->unregister_owner(mod);
    /* REGISTERs waiting for their commit call back into this module: let them finish */
    for (int i = 0; i < 10000 && apr_atomic_read32(&reg->inflight); i++)
        apr_sleep(1000);
    if (apr_atomic_read32(&reg->inflight))
        aorta_log(AORTA_LOG_CRIT, "mod_registrar: %u REGISTERs still wait for the store at unload",
                  apr_atomic_read32(&reg->inflight));
    reg->loc->unsubscribe(mod);
    reg_nc_destroy(reg->nc);
    reg_global = NULL;
}

static const aorta_settings_section_t registrar_settings[] = {{"sip.conf: profile/registrar", reg_settings},
                                                              {NULL, NULL}};

static const aorta_api_command_t registrar_api[] = {
    {"registrar", "unregister <aor> [<contact-uri>|all]", "remove bindings (events with reason admin)",
     reg_cmd_unregister},
    {NULL, NULL, NULL, NULL}};

static const char *const registrar_depends[] = {"mod_location", "mod_endpoints", NULL};

AORTA_MODULE_EXPORT(mod_registrar) = {
    .abi = AORTA_MODULE_ABI,
    .name = "mod_registrar",
    .build = AORTA_BUILD_SIGNATURE,
    .depends = registrar_depends,
    .settings = registrar_settings,
    .api = registrar_api,
    .configure = registrar_configure,
    .load = registrar_load,
    .runtime = NULL,
    .reconfigure = registrar_reconfigure,
    .shutdown = registrar_shutdown,
};
