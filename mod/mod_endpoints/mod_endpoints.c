/*
 * mod_endpoints.c — the SIP endpoint module (as mod_sofia is FreeSWITCH's): module
 * definition, settings and API tables, the `endpoints` interface table, load/shutdown.
 *
 * The logic lives beside this file: ep_config.c (sip.conf), ep_profile.c (one thread + nta
 * agent per profile), ep_pipeline.c (incoming requests), ep_identify.c (identifiers),
 * ep_registry.c (who handles what), ep_dialog.c (dialog endpoint cache), ep_outgoing.c
 * (requests we send), ep_show.c (API commands), ep_cidr.c (pure CIDR matching).
 *
 * Reloads: reloadxml swaps the configuration generation (endpoints, auths, identify rules,
 * identify-order, unidentified-response, user-agent) without touching the listeners;
 * listener settings (sip-ip, sip-port, transports, tls-*, transaction-linger,
 * max-message-size) and added or removed profiles take effect at `module reload
 * mod_endpoints`, which this module says in the log when it sees such a change.
 */
#include "ep_internal.h"

#include <apr_strings.h>
#include <dlfcn.h>
#include <sofia-sip/su_log.h>
#include <stdio.h>
#include <string.h>

ep_mod_t *ep_g;

/* exported by libsofia-sip-ua but not declared in its headers */
extern su_log_t nta_log[];
extern su_log_t tport_log[];

ep_profile_t *ep_profile_find(ep_mod_t *m, const char *name)
{
    for (int i = 0; m && i < m->profiles->nelts; i++) {
        ep_profile_t *p = APR_ARRAY_IDX(m->profiles, i, ep_profile_t *);
        if (!strcmp(p->name, name))
            return p;
    }
    return NULL;
}

/* ---- the `endpoints` interface ---------------------------------------------------------- */

static apr_status_t api_method_register(aorta_module_t *owner, const char *method, ep_method_fn fn, void *user)
{
    return ep_g ? ep_registry_method_add(ep_g->registry, owner, method, fn, user, 0) : AORTA_ESHUTDOWN;
}

static void api_unregister_owner(aorta_module_t *owner)
{
    if (ep_g) {
        ep_registry_unregister_owner(ep_g->registry, owner);
        ep_outgoing_cancel_owner(ep_g, owner);
    }
}

static apr_status_t api_identifier_register(aorta_module_t *owner, const char *name, ep_identify_fn fn, void *user)
{
    return ep_g ? ep_registry_identifier_add(ep_g->registry, owner, name, fn, user, 0) : AORTA_ESHUTDOWN;
}

static apr_status_t api_challenger_set(aorta_module_t *owner, ep_challenge_fn fn, void *user)
{
    return ep_g ? ep_registry_challenger_set(ep_g->registry, owner, fn, user, 0) : AORTA_ESHUTDOWN;
}

static apr_status_t api_option_tag_register(aorta_module_t *owner, const char *tag)
{
    return ep_g ? ep_registry_option_tag_add(ep_g->registry, owner, tag) : AORTA_ESHUTDOWN;
}

static const ep_endpoint_t *api_endpoint_find(const char *name, aorta_config_gen_t **gen)
{
    *gen = NULL;
    if (!ep_g || !name)
        return NULL;
    const ep_config_t *cfg = aorta_module_config_acquire(ep_g->mod, gen);
    const ep_endpoint_ext_t *e = cfg ? apr_hash_get(cfg->endpoints, name, APR_HASH_KEY_STRING) : NULL;
    if (!e) {
        aorta_module_config_release(*gen);
        *gen = NULL;
        return NULL;
    }
    return &e->pub;
}

static const ep_auth_t *api_auth_find(const char *name, aorta_config_gen_t **gen)
{
    *gen = NULL;
    if (!ep_g || !name)
        return NULL;
    const ep_config_t *cfg = aorta_module_config_acquire(ep_g->mod, gen);
    const ep_auth_t *a = cfg ? apr_hash_get(cfg->auths, name, APR_HASH_KEY_STRING) : NULL;
    if (!a) {
        aorta_module_config_release(*gen);
        *gen = NULL;
    }
    return a;
}

static const ep_endpoint_t *api_request_endpoint_find(const ep_request_t *req, const char *name)
{
    const ep_req_priv_t *priv = req ? req->priv : NULL;
    if (!priv || !priv->pconf || !name)
        return NULL;
    const ep_endpoint_ext_t *e = apr_hash_get(priv->pconf->endpoints, name, APR_HASH_KEY_STRING);
    return e ? &e->pub : NULL;
}

static apr_status_t api_method_register_ex(aorta_module_t *owner, const char *method, ep_method_fn fn, void *user,
                                           unsigned flags)
{
    return ep_g ? ep_registry_method_add(ep_g->registry, owner, method, fn, user, flags) : AORTA_ESHUTDOWN;
}

static apr_status_t api_identifier_register_ex(aorta_module_t *owner, const char *name, ep_identify_fn fn, void *user,
                                               unsigned flags)
{
    return ep_g ? ep_registry_identifier_add(ep_g->registry, owner, name, fn, user, flags) : AORTA_ESHUTDOWN;
}

static apr_status_t api_challenger_set_ex(aorta_module_t *owner, ep_challenge_fn fn, void *user, unsigned flags)
{
    return ep_g ? ep_registry_challenger_set(ep_g->registry, owner, fn, user, flags) : AORTA_ESHUTDOWN;
}

static const ep_api_t ep_api_table = {
    .version = EP_API_VERSION,
    .method_register = api_method_register,
    .unregister_owner = api_unregister_owner,
    .identifier_register = api_identifier_register,
    .challenger_set = api_challenger_set,
    .reply = ep_reply,
    .hold = ep_hold,
    .endpoint_find = api_endpoint_find,
    .auth_find = api_auth_find,
    .request_send = ep_request_send,
    .option_tag_register = api_option_tag_register,
    .request_endpoint_find = api_request_endpoint_find,
    .request_send_owned = ep_request_send_owned,
    .proxy_branch_start = ep_proxy_branch_start,
    .proxy_branch_cancel = ep_proxy_branch_cancel,
    .proxy_relay = ep_proxy_relay,
    .proxy_ackbye = ep_proxy_ackbye,
    .proxy_forward_2xx = ep_proxy_forward_2xx,
    .proxy_challenges_add = ep_proxy_challenges_add,
    .method_register_ex = api_method_register_ex,
    .identifier_register_ex = api_identifier_register_ex,
    .challenger_set_ex = api_challenger_set_ex,
};

/* ---- sofia's own log, into ours --------------------------------------------------------- */

static void ep_sofia_log(void *stream, const char *fmt, va_list ap)
{
    char buf[512];
    (void)stream;
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n <= 0)
        return;
    aorta_log(AORTA_LOG_DEBUG, "sofia: %s%s", buf, buf[strlen(buf) - 1] == '\n' ? "" : "\n");
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static apr_status_t ep_configure(aorta_module_t *mod, const aorta_conf_t *conf, apr_pool_t *gen_pool,
                                 aorta_conf_errors_t *errs, void **cfg)
{
    (void)mod;
    ep_config_t *c = NULL;
    apr_status_t st = ep_config_parse(conf, gen_pool, errs, &c);
    *cfg = c;
    return st;
}

static void ep_stop_all(ep_mod_t *m)
{
    for (int i = m->profiles->nelts - 1; i >= 0; i--)
        ep_profile_stop(APR_ARRAY_IDX(m->profiles, i, ep_profile_t *));
}


/*
 * sofia-sip keeps thread-specific data with destructors and process-wide state set up by
 * su_init(). If this module were the last user and the loader unmapped libsofia-sip-ua at
 * unload (or after a failed load), a thread exiting later would run a destructor in unmapped
 * code (AddressSanitizer shows it at the next thread start). Pin the library for the life of
 * the process: unloading mod_endpoints still stops every profile and frees its state.
 */
static void ep_pin_sofia(void)
{
    Dl_info info;
    if (dladdr((void *)su_init, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static apr_status_t ep_load(aorta_module_t *mod, apr_pool_t *pool)
{
    apr_status_t st;
    const ep_config_t *cfg = aorta_module_config(mod);
    ep_mod_t *m = apr_pcalloc(pool, sizeof *m);
    m->mod = mod;
    m->pool = pool;
    m->profiles = apr_array_make(pool, 2, sizeof(ep_profile_t *));
    if ((st = ep_registry_create(&m->registry, pool)) != APR_SUCCESS ||
        (st = ep_dialogs_create(&m->dialogs, pool)) != APR_SUCCESS ||
        (st = apr_thread_mutex_create(&m->out_lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS ||
        (st = apr_thread_cond_create(&m->out_cond, pool)) != APR_SUCCESS)
        return st;
    ep_pin_sofia();
    su_init();
    su_log_redirect(su_log_default, ep_sofia_log, NULL);
    su_log_redirect(nta_log, ep_sofia_log, NULL);
    su_log_redirect(tport_log, ep_sofia_log, NULL);
    ep_g = m;
    aorta_module_set_data(mod, m);
    ep_identify_register_builtins(m);
    ep_registry_method_add(m->registry, mod, "OPTIONS", ep_options_service, m, EP_SERVICE_NONBLOCKING);

    for (int i = 0; cfg && i < cfg->profiles->nelts; i++) {
        const ep_profile_conf_t *pc = APR_ARRAY_IDX(cfg->profiles, i, const ep_profile_conf_t *);
        ep_profile_t *p;
        if ((st = ep_profile_start(m, pc, &p)) != APR_SUCCESS)
            goto fail;
        APR_ARRAY_PUSH(m->profiles, ep_profile_t *) = p;
    }
    if (!m->profiles->nelts)
        aorta_log(AORTA_LOG_WARNING, "sip.conf defines no profile: no SIP listener is running\n");
    if ((st = aorta_interface_publish(mod, EP_API_NAME, &ep_api_table)) != APR_SUCCESS)
        goto fail;
    return APR_SUCCESS;
fail:
    ep_stop_all(m);
    su_log_redirect(su_log_default, NULL, NULL);
    su_log_redirect(nta_log, NULL, NULL);
    su_log_redirect(tport_log, NULL, NULL);
    ep_registry_destroy(m->registry);
    ep_g = NULL;
    su_deinit();
    return st;
}

static apr_status_t ep_reconfigure(aorta_module_t *mod, void *cfgp)
{
    ep_mod_t *m = aorta_module_get_data(mod);
    const ep_config_t *cfg = cfgp;
    for (int i = 0; i < m->profiles->nelts; i++) {
        ep_profile_t *p = APR_ARRAY_IDX(m->profiles, i, ep_profile_t *);
        const ep_profile_conf_t *pc = ep_config_profile(cfg, p->name);
        if (!pc) {
            aorta_log(AORTA_LOG_WARNING,
                      "profile %s was removed from sip.conf: it answers 503 until `module reload mod_endpoints`\n",
                      p->name);
            continue;
        }
        ep_profile_settings_t want = pc->set;
        if (!want.tls_cert_dir)
            want.tls_cert_dir = p->set.tls_cert_dir; /* the running one holds the resolved default */
        if (ep_settings_transport_differs(&p->set, &want))
            aorta_log(AORTA_LOG_WARNING,
                      "profile %s: listener settings changed (sip-ip, sip-port, transports, tls-*, "
                      "transaction-linger, max-message-size); they take effect at `module reload mod_endpoints`\n",
                      p->name);
    }
    for (int i = 0; i < cfg->profiles->nelts; i++) {
        const ep_profile_conf_t *pc = APR_ARRAY_IDX(cfg->profiles, i, const ep_profile_conf_t *);
        if (!ep_profile_find(m, pc->name))
            aorta_log(AORTA_LOG_WARNING, "new profile %s starts at `module reload mod_endpoints`\n", pc->name);
    }
    aorta_log(AORTA_LOG_INFO, "endpoints and identify rules reloaded (%u endpoints)\n", apr_hash_count(cfg->endpoints));
    return APR_SUCCESS;
}

static void ep_shutdown(aorta_module_t *mod)
{
    ep_mod_t *m = aorta_module_get_data(mod);
    if (!m)
        return;
    ep_stop_all(m);
    su_log_redirect(su_log_default, NULL, NULL);
    su_log_redirect(nta_log, NULL, NULL);
    su_log_redirect(tport_log, NULL, NULL);
    ep_registry_destroy(m->registry);
    ep_g = NULL;
    su_deinit();
}

static const aorta_settings_section_t ep_settings[] = {
    {"sip.conf: profiles/profile/settings", ep_profile_settings_table},
    {"sip.conf: profiles/profile/endpoints/endpoint", ep_endpoint_settings_table},
    {"sip.conf: profiles/profile/auths/auth", ep_auth_settings_table},
    {NULL, NULL}};

static const aorta_api_command_t ep_commands[] = {
    {"show profiles", "[as json]", "SIP profiles: listeners, counters, unidentified sources", ep_cmd_show_profiles},
    {"show endpoints", "[<name>] [as json]", "configured endpoints (one in detail with its name)",
     ep_cmd_show_endpoints},
    {"sip_options", "<endpoint> <uri> [<destination>|<route set>]",
     "send OPTIONS over the endpoint's profile, print the final status", ep_cmd_sip_options},
    {NULL, NULL, NULL, NULL}};

AORTA_MODULE_EXPORT(mod_endpoints) = {
    .abi = AORTA_MODULE_ABI,
    .name = "mod_endpoints",
    .build = AORTA_BUILD_SIGNATURE,
    .depends = NULL,
    .settings = ep_settings,
    .api = ep_commands,
    .configure = ep_configure,
    .load = ep_load,
    .runtime = NULL,
    .reconfigure = ep_reconfigure,
    .shutdown = ep_shutdown,
};
