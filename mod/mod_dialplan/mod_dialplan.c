/*
 * mod_dialplan.c — the XML dialplan and bridge (SPEC §5.5, §12): INVITEs from identified
 * endpoints run the dialplan of their endpoint's context; the dial-string parser is published
 * as the `dialstring` interface; `sip_notify` / `sip_message` send to dial strings
 * (dp_outgoing.c); `dialplan_test` and `dialstring_parse` show what a call or a dial string
 * would do without SIP.
 *
 * Configuration: <section name="dialplan"> (dp_xml.c), one immutable generation; reloadxml
 * swaps it (each call holds the generation it started with).
 */
#include "dp_internal.h"
#include <apr_strings.h>
#include <string.h>

aorta_module_t *dp_module;

static const dp_dialstring_api_t dp_dialstring_api = {
    .version = DP_DIALSTRING_API_VERSION,
    .parse = dp_dialstring_parse,
    .vars_get = dp_vars_get,
    .cause_lookup = dp_cause_lookup,
    .cause_to_sip = dp_cause_to_sip,
};

/* ---- API ----------------------------------------------------------------------------------- */

static apr_status_t cmd_dialstring_parse(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    dp_dialstring_t *ds;
    const char *err;
    if (!*args) {
        aorta_stream_puts(out, "-ERR usage: dialstring_parse <dialstring>\n");
        return AORTA_ESYNTAX;
    }
    if (dp_dialstring_parse(args, pool, &ds, &err) != APR_SUCCESS) {
        aorta_stream_printf(out, "-ERR %s\n", err);
        return AORTA_ESYNTAX;
    }
    aorta_stream_puts(out, dp_dialstring_describe(ds, pool));
    return APR_SUCCESS;
}

static void test_trace(void *user, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    aorta_stream_vprintf(user, fmt, ap);
    va_end(ap);
    aorta_stream_puts(user, "\n");
}

static apr_status_t cmd_dialplan_test(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    char *argv[66] = {NULL};
    int argc = aorta_api_split(args, pool, argv, 66);
    if (argc < 2) {
        aorta_stream_puts(out, "-ERR usage: dialplan_test <context> <destination_number> [<var>=<value> ...]\n");
        return AORTA_ESYNTAX;
    }
    dp_call_t call = {0};
    call.pool = pool;
    call.vars = apr_table_make(pool, 16);
    call.dry_run = 1;
    call.trace = test_trace;
    call.trace_user = out;
    apr_table_set(call.vars, "destination_number", argv[1]);
    for (int i = 2; i < argc; i++) {
        if (!strchr(argv[i], '=') || *argv[i] == '=') {
            aorta_stream_printf(out, "-ERR '%s': variables are <name>=<value>\n", argv[i]);
            return AORTA_ESYNTAX;
        }
        dp_set_apply(call.vars, argv[i], pool);
    }
    aorta_config_gen_t *gen;
    const dp_conf_t *conf = aorta_module_config_acquire(dp_module, &gen);
    if (!apr_hash_get(conf->contexts, argv[0], APR_HASH_KEY_STRING)) {
        aorta_module_config_release(gen);
        aorta_stream_printf(out, "-ERR no context '%s' in the dialplan (an INVITE would get 404 Not Found)\n", argv[0]);
        return AORTA_ENOTFOUND;
    }
    aorta_stream_printf(out, "context: %s\ndestination_number: %s\n", argv[0], argv[1]);
    const char *ext;
    call.leg_resolve = dp_leg_resolve;
    dp_route(&call, conf, argv[0], &ext);
    aorta_module_config_release(gen);
    aorta_stream_printf(out, "extension: %s\nresult: %d %s (%s)\n", ext ? ext : "none", call.status, call.phrase,
                        call.why);
    return APR_SUCCESS;
}

/* ---- module -------------------------------------------------------------------------------- */

static apr_status_t dialplan_configure(aorta_module_t *mod, const aorta_conf_t *conf, apr_pool_t *gen_pool,
                                       aorta_conf_errors_t *errs, void **cfg)
{
    dp_conf_t *dc;
    apr_status_t rv = dp_conf_parse(conf, gen_pool, errs, &dc);
    *cfg = dc;
    return rv;
}

static apr_status_t dialplan_load(aorta_module_t *mod, apr_pool_t *pool)
{
    apr_status_t rv;
    dp_conf_t *dc = aorta_module_config(mod);
    dp_module = mod;
    if ((rv = aorta_interface_publish(mod, DP_DIALSTRING_API_NAME, &dp_dialstring_api)) != APR_SUCCESS)
        return rv;
    if ((rv = dp_bridge_init(pool)) != APR_SUCCESS || (rv = dp_invite_start(mod)) != APR_SUCCESS)
        return rv;
    aorta_log(AORTA_LOG_INFO, "mod_dialplan: %u context%s, %d extension%s", apr_hash_count(dc->contexts),
              apr_hash_count(dc->contexts) == 1 ? "" : "s", dc->nextensions, dc->nextensions == 1 ? "" : "s");
    return APR_SUCCESS;
}

static apr_status_t dialplan_reconfigure(aorta_module_t *mod, void *cfg)
{
    dp_conf_t *dc = cfg;
    /* the core made cfg current: new calls acquire it, running calls keep theirs */
    aorta_log(AORTA_LOG_INFO, "mod_dialplan: reloaded, %u context%s, %d extension%s", apr_hash_count(dc->contexts),
              apr_hash_count(dc->contexts) == 1 ? "" : "s", dc->nextensions, dc->nextensions == 1 ? "" : "s");
    return APR_SUCCESS;
}

static void dialplan_shutdown(aorta_module_t *mod)
{
    dp_invite_stop(mod);
}

static const aorta_api_command_t dialplan_api[] = {
    {"dialplan_test", "<context> <destination_number> [<var>=<value> ...]",
     "show which extension a call matches and what its actions would do (nothing is sent)", cmd_dialplan_test},
    {"sip_notify", "<dialstring> <event> [<content-type> <body>]",
     "send a NOTIFY to each destination of the dial string and show each final status", dp_cmd_sip_notify},
    {"sip_message", "<dialstring> <text>", "send a MESSAGE (text/plain) to each destination and show each final status",
     dp_cmd_sip_message},
    {"dialstring_parse", "<dialstring>", "show a dial string's branches, groups, legs and variables",
     cmd_dialstring_parse},
    {NULL, NULL, NULL, NULL}};

AORTA_MODULE_EXPORT(mod_dialplan) = {
    .abi = AORTA_MODULE_ABI,
    .name = "mod_dialplan",
    .build = AORTA_BUILD_SIGNATURE,
    .depends = NULL,
    .settings = NULL,
    .api = dialplan_api,
    .configure = dialplan_configure,
    .load = dialplan_load,
    .runtime = NULL,
    .reconfigure = dialplan_reconfigure,
    .shutdown = dialplan_shutdown,
};
