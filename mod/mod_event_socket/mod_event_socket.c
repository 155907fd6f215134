/*
 * mod_event_socket.c — glue for the FreeSWITCH-compatible inbound event socket: the module
 * definition, the event_socket.conf settings table, and load / runtime / shutdown.
 *
 * The protocol lives in esl_conn.c (one thread per connection for its commands) and
 * esl_writer.c (one thread writing to every connection), the listening socket in
 * esl_listener.c, bgapi jobs in esl_bgapi.c, and the pure pieces (framing, subscriptions,
 * filters, the bounded queue, the ACL) in esl_proto.c, esl_sub.c, esl_filter.c, esl_queue.c
 * and esl_acl.c. Configuration changes take effect at `module reload mod_event_socket`
 * (reloadxml validates them): the listening socket and every client's state depend on them.
 */
#include "esl.h"

#include <apr_strings.h>
#include <stddef.h>
#include <string.h>

static const aorta_setting_t esl_settings_table[] = {
    {"listen-ip", AORTA_SETTING_STRING, "127.0.0.1", offsetof(esl_settings_t, listen_ip), NULL, 0, 0, NULL, 0,
     "address to listen on (numeric IPv4 or IPv6); keep it on loopback unless an ACL guards it"},
    {"listen-port", AORTA_SETTING_INT, "8021", offsetof(esl_settings_t, listen_port), NULL, 1, 65535, NULL, 0,
     "TCP port"},
    {"password", AORTA_SETTING_STRING, NULL, offsetof(esl_settings_t, password), NULL, 0, 0, NULL, 0,
     "required: the module refuses to start without one (make install generates one in vars.xml)"},
    {"apply-inbound-acl", AORTA_SETTING_LIST, NULL, offsetof(esl_settings_t, acl_list), NULL, 0, 0, NULL, 0,
     "comma-separated CIDRs or addresses allowed to connect; others get text/rude-rejection; empty: any"},
    {"max-clients", AORTA_SETTING_INT, "64", offsetof(esl_settings_t, max_clients), NULL, 1, 100000, NULL, 0,
     "simultaneous connections; more are rejected"},
    {"max-queue", AORTA_SETTING_INT, "20000", offsetof(esl_settings_t, max_queue), NULL, 10, 10000000, NULL, 0,
     "events and log lines buffered per subscriber; a subscriber that falls this far behind is disconnected"},
    {"auth-timeout", AORTA_SETTING_INT, "25", offsetof(esl_settings_t, auth_timeout), NULL, 1, 3600, NULL, 0,
     "seconds a new connection has to authenticate"},
    {NULL, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL}};

static const aorta_settings_section_t esl_settings_sections[] = {
    {"event_socket.conf: settings", esl_settings_table}, {NULL, NULL}};

static apr_status_t esl_configure(aorta_module_t *mod, const aorta_conf_t *conf, apr_pool_t *gen_pool,
                                  aorta_conf_errors_t *errs, void **cfg)
{
    esl_settings_t *s = apr_pcalloc(gen_pool, sizeof(*s));
    xmlNode *cf = aorta_conf_configuration(conf, "event_socket.conf");
    xmlNode *settings = cf ? aorta_xml_child(cf, "settings") : NULL;
    const char *bad = NULL;
    apr_status_t st;

    (void)mod;
    if ((st = aorta_settings_apply(esl_settings_table, s, conf, settings, gen_pool, errs)) != APR_SUCCESS)
        return st;
    if (!s->password || !*s->password) {
        /* refused here, not only in load(), so that `aorta --check` reports it too */
        aorta_conf_error(errs, conf, settings ? settings : cf,
                         "mod_event_socket refuses to start: no password set in event_socket.conf (param "
                         "\"password\"; the shipped configuration takes it from event_socket_password in vars.xml)");
        return AORTA_ECONFIG;
    }
    if (esl_acl_parse(s->acl_list, gen_pool, &s->acl, &bad) != APR_SUCCESS) {
        xmlNode *p, *at = settings;
        for (p = settings ? aorta_xml_child(settings, "param") : NULL; p; p = aorta_xml_next(p, "param")) {
            const char *n = aorta_xml_attr(p, "name");
            if (n && strcmp(n, "apply-inbound-acl") == 0)
                at = p;
        }
        aorta_conf_error(errs, conf, at, "apply-inbound-acl: '%s' is not an IP address or CIDR", bad);
        return AORTA_ECONFIG;
    }
    *cfg = s;
    return APR_SUCCESS;
}

/* The server keeps its own copy: the configuration generation may be replaced at reloadxml. */
static esl_settings_t *esl_settings_copy(const esl_settings_t *in, apr_pool_t *pool)
{
    esl_settings_t *s = apr_pmemdup(pool, in, sizeof(*s));
    s->listen_ip = apr_pstrdup(pool, in->listen_ip ? in->listen_ip : "127.0.0.1");
    s->password = apr_pstrdup(pool, in->password ? in->password : "");
    s->acl_list = in->acl_list ? apr_array_copy(pool, in->acl_list) : NULL;
    if (s->acl_list) {
        int i;
        for (i = 0; i < s->acl_list->nelts; i++)
            APR_ARRAY_IDX(s->acl_list, i, const char *) = apr_pstrdup(pool, APR_ARRAY_IDX(s->acl_list, i, const char *));
    }
    if (esl_acl_parse(s->acl_list, pool, &s->acl, NULL) != APR_SUCCESS)
        s->acl = NULL; /* cannot happen: configure() parsed the same list */
    return s;
}

static apr_status_t esl_load(aorta_module_t *mod, apr_pool_t *pool)
{
    const esl_settings_t *cfg = aorta_module_config(mod);
    esl_server_t *srv;
    apr_status_t st;

    if (!cfg || !cfg->password || !*cfg->password) {
        aorta_log(AORTA_LOG_ERR, "mod_event_socket refuses to start: no password set in event_socket.conf "
                                 "(param \"password\"; the shipped configuration takes it from "
                                 "event_socket_password in vars.xml)\n");
        return AORTA_ECONFIG;
    }
    srv = apr_pcalloc(pool, sizeof(*srv));
    srv->mod = mod;
    srv->pool = pool;
    srv->cfg = esl_settings_copy(cfg, pool);
    srv->listen_fd = -1;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->jobs_done, NULL);
    if ((st = esl_writer_start(srv)) != APR_SUCCESS) {
        pthread_cond_destroy(&srv->jobs_done);
        pthread_mutex_destroy(&srv->lock);
        return st;
    }
    if ((st = esl_server_listen(srv)) != APR_SUCCESS) {
        esl_writer_stop(srv);
        pthread_cond_destroy(&srv->jobs_done);
        pthread_mutex_destroy(&srv->lock);
        return st;
    }
    if (esl_acl_count(srv->cfg->acl) == 0 && strcmp(srv->cfg->listen_ip, "127.0.0.1") != 0 &&
        strcmp(srv->cfg->listen_ip, "::1") != 0)
        aorta_log(AORTA_LOG_WARNING, "event socket listens on %s without apply-inbound-acl: anyone who can reach "
                                     "it may try the password\n", srv->cfg->listen_ip);
    aorta_module_set_data(mod, srv);
    return APR_SUCCESS;
}

static void esl_runtime(aorta_module_t *mod)
{
    esl_server_run(aorta_module_get_data(mod));
}

static void esl_shutdown(aorta_module_t *mod)
{
    esl_server_t *srv = aorta_module_get_data(mod);
    if (!srv)
        return;
    esl_server_stop(srv);
    pthread_cond_destroy(&srv->jobs_done);
    pthread_mutex_destroy(&srv->lock);
    aorta_module_set_data(mod, NULL);
}

static const aorta_api_command_t esl_api_table[] = {{NULL, NULL, NULL, NULL}};

AORTA_MODULE_EXPORT(mod_event_socket) = {
    .abi = AORTA_MODULE_ABI,
    .name = "mod_event_socket",
    .build = AORTA_BUILD_SIGNATURE,
    .depends = NULL,
    .settings = esl_settings_sections,
    .api = esl_api_table,
    .configure = esl_configure,
    .load = esl_load,
    .runtime = esl_runtime,
    .reconfigure = NULL,
    .shutdown = esl_shutdown,
};
