/*
 * dp_exec.c — the dialplan applications and the loop that runs a hunt's steps.
 *
 * Applications (FreeSWITCH names and data syntax):
 *   set <name>=<value>      a call variable (no value: unset)
 *   log [<level>] <text>    a log line (level: debug..crit; default debug, as FreeSWITCH's log)
 *   respond <code> [reason] 1xx: sent and the dialplan goes on; 3xx-6xx: the final answer
 *   hangup [<cause>]        the final answer is the cause's SIP status (default NORMAL_CLEARING)
 *   bridge <dialstring>     see dp_bridge(): only error/ legs: their best status at once; sip/
 *                           legs: call->bridge_start (dp_bridge.c) suspends the run while they
 *                           ring; in a dry run (dialplan_test) where each leg would go
 * A failed bridge ends the call with its status unless continue_on_fail is true or lists the
 * cause (FreeSWITCH's variable), in which case the next action runs.
 *
 * The final decision is made exactly once: the first step that sets call->status stops the
 * run. Everything is computed in the call's pool; nothing here touches SIP.
 */
#include "dp_internal.h"
#include <apr_strings.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void trace(dp_call_t *call, const char *fmt, const char *a, const char *b)
{
    if (call->trace)
        call->trace(call->trace_user, fmt, a, b);
}

#define decide dp_decide

void dp_decide(dp_call_t *call, int status, const char *phrase, const char *why)
{
    call->status = status;
    call->phrase = phrase && *phrase ? phrase : dp_sip_phrase(status);
    call->why = why;
}

/* ---- set ----------------------------------------------------------------------------------- */

void dp_set_apply(apr_table_t *vars, const char *data, apr_pool_t *pool)
{
    const char *eq = strchr(data, '=');
    char *name = eq ? apr_pstrndup(pool, data, (apr_size_t)(eq - data)) : apr_pstrdup(pool, data);
    apr_collapse_spaces(name, name);
    if (!*name)
        return;
    if (eq && eq[1])
        apr_table_set(vars, name, eq + 1);
    else
        apr_table_unset(vars, name);
}

static const char *set_check(const char *data, apr_pool_t *pool)
{
    return (!*data || *data == '=') ? "needs <name>=<value>" : NULL;
}

static apr_status_t app_set(dp_call_t *call, const char *data)
{
    if (set_check(data, call->pool)) {
        aorta_log(AORTA_LOG_WARNING, "dialplan: set \"%s\": needs <name>=<value>", data);
        return APR_SUCCESS;
    }
    dp_set_apply(call->vars, data, call->pool);
    return APR_SUCCESS;
}

/* ---- log ----------------------------------------------------------------------------------- */

static apr_status_t app_log(dp_call_t *call, const char *data)
{
    aorta_log_level_t level = AORTA_LOG_DEBUG;
    const char *sp = strchr(data, ' ');
    if (sp && aorta_log_level_parse(apr_pstrndup(call->pool, data, (apr_size_t)(sp - data)), &level) == APR_SUCCESS)
        data = sp + 1;
    else
        level = AORTA_LOG_DEBUG;
    if (!call->dry_run)
        aorta_log(level, "%s", data);
    return APR_SUCCESS;
}

/* ---- respond ------------------------------------------------------------------------------- */

static const char *respond_parse(const char *data, int *code, const char **reason)
{
    char *end;
    long c = strtol(data, &end, 10);
    if (end == data || (*end && *end != ' '))
        return "needs a status code: respond <code> [reason]";
    if (c < 100 || c > 699)
        return "the status must be 100..699";
    if (c >= 200 && c < 300)
        return "2xx cannot be sent by respond (answering needs a bridge)";
    while (*end == ' ')
        end++;
    *code = (int)c;
    *reason = end;
    return NULL;
}

static const char *respond_check(const char *data, apr_pool_t *pool)
{
    int code;
    const char *reason;
    return respond_parse(data, &code, &reason);
}

static apr_status_t app_respond(dp_call_t *call, const char *data)
{
    int code;
    const char *reason, *err = respond_parse(data, &code, &reason);
    if (err) {
        aorta_log(AORTA_LOG_ERR, "dialplan: respond \"%s\": %s", data, err);
        decide(call, 500, NULL, apr_psprintf(call->pool, "respond \"%s\": %s", data, err));
        return APR_SUCCESS;
    }
    if (code < 200) {
        if (call->provisional)
            call->provisional(call, code, *reason ? reason : dp_sip_phrase(code));
        return APR_SUCCESS;
    }
    decide(call, code, reason, apr_psprintf(call->pool, "respond %d", code));
    return APR_SUCCESS;
}

/* ---- hangup -------------------------------------------------------------------------------- */

static const char *hangup_check(const char *data, apr_pool_t *pool)
{
    if (*data && !dp_cause_lookup(data, NULL))
        return apr_psprintf(pool, "unknown hangup cause '%s'", data);
    return NULL;
}

static apr_status_t app_hangup(dp_call_t *call, const char *data)
{
    const char *cause = *data ? dp_cause_lookup(data, NULL) : "NORMAL_CLEARING";
    if (!cause) {
        aorta_log(AORTA_LOG_WARNING, "dialplan: hangup: unknown cause '%s', using NORMAL_CLEARING", data);
        cause = "NORMAL_CLEARING";
    }
    apr_table_set(call->vars, "hangup_cause", cause);
    decide(call, dp_cause_to_sip(cause), NULL, apr_psprintf(call->pool, "hangup %s", cause));
    return APR_SUCCESS;
}

/* ---- bridge -------------------------------------------------------------------------------- */

static const char *bridge_check(const char *data, apr_pool_t *pool)
{
    dp_dialstring_t *ds;
    const char *err;
    if (dp_dialstring_parse(data, pool, &ds, &err) != APR_SUCCESS)
        return apr_psprintf(pool, "bad dial string: %s", err);
    return NULL;
}

/* Does continue_on_fail let the dialplan go on after a bridge failed with @p cause? */
static int continue_on_fail(dp_call_t *call, const char *cause)
{
    const char *v = apr_table_get(call->vars, "continue_on_fail");
    int b;
    if (!v || !*v)
        return 0;
    if (aorta_parse_bool(v, &b) == APR_SUCCESS)
        return b;
    char *list = apr_pstrdup(call->pool, v), *last, *tok;
    for (tok = apr_strtok(list, ", ", &last); tok; tok = apr_strtok(NULL, ", ", &last)) {
        const char *c = dp_cause_lookup(tok, NULL);
        if (c && !strcmp(c, cause))
            return 1;
    }
    return 0;
}

#define bridge_failed dp_bridge_fail

void dp_bridge_fail(dp_call_t *call, const char *cause, int status, const char *why)
{
    apr_table_set(call->vars, "originate_disposition", cause);
    if (continue_on_fail(call, cause)) {
        trace(call, "bridge failed (%s), continue_on_fail: next action%s", cause, "");
        aorta_log(AORTA_LOG_INFO, "dialplan: bridge failed (%s: %s); continue_on_fail", cause, why);
        return;
    }
    decide(call, status, NULL, why);
}

apr_status_t dp_bridge(dp_call_t *call, const char *dialstring)
{
    dp_dialstring_t *ds;
    const char *err;
    while (*dialstring == ' ')
        dialstring++;
    if (!strncmp(dialstring, "-ERR", 4)) {
        /* an API in the data failed, e.g. ${dial_contacts(5999)} for an endpoint that does not exist */
        aorta_log(AORTA_LOG_NOTICE, "dialplan: bridge: the dial string is an API error: %s", dialstring);
        bridge_failed(call, "NO_ROUTE_DESTINATION", 404, apr_psprintf(call->pool, "bridge: %s", dialstring));
        return APR_SUCCESS;
    }
    if (dp_dialstring_parse(dialstring, call->pool, &ds, &err) != APR_SUCCESS) {
        aorta_log(AORTA_LOG_ERR, "dialplan: bridge \"%s\": bad dial string: %s", dialstring, err);
        decide(call, 500, NULL, apr_psprintf(call->pool, "bridge: bad dial string: %s", err));
        return APR_SUCCESS;
    }
    if (call->trace) {
        char *d = apr_pstrdup(call->pool, dp_dialstring_describe(ds, call->pool)), *last, *line;
        for (line = apr_strtok(d, "\n", &last); line; line = apr_strtok(NULL, "\n", &last))
            trace(call, "  %s%s", line, "");
    }
    if (ds->nerror < ds->nlegs) {
        if (call->bridge_start) {
            call->bridge_start(call, ds, dialstring);
            return APR_SUCCESS;
        }
        /* dialplan_test: show where each leg would go, send nothing */
        for (int i = 0; i < ds->legs->nelts; i++) {
            const dp_leg_t *leg = APR_ARRAY_IDX(ds->legs, i, dp_leg_t *);
            const char *uri, *route, *dest, *why;
            if (leg->kind != DP_LEG_SIP || !call->leg_resolve)
                continue;
            int st = call->leg_resolve(leg, call->pool, &uri, &route, &dest, &why);
            if (st)
                trace(call, "  %s -> %s", leg->target, apr_psprintf(call->pool, "%d (%s)", st, why));
            else
                trace(call, "  %s -> %s", leg->target,
                      apr_psprintf(call->pool, "%s%s%s%s%s", uri, route ? " route " : "", route ? route : "",
                                   dest ? " via " : "", dest ? dest : ""));
        }
        decide(call, 200, "OK",
               apr_psprintf(call->pool, "bridge: dry run, %d sip/ leg%s would ring; the callees' answers decide",
                            ds->nlegs - ds->nerror, ds->nlegs - ds->nerror == 1 ? "" : "s"));
        return APR_SUCCESS;
    }
    /* Only error/ legs: each fails at once; the best response wins (RFC 3261 §16.7). */
    int n = ds->legs->nelts;
    int *st = apr_palloc(call->pool, sizeof(int) * (apr_size_t)n);
    const char **causes = apr_palloc(call->pool, sizeof(char *) * (apr_size_t)n);
    for (int i = 0; i < n; i++) {
        causes[i] = APR_ARRAY_IDX(ds->legs, i, dp_leg_t *)->cause;
        st[i] = dp_cause_to_sip(causes[i]);
    }
    int best = dp_best_status(st, n);
    const char *cause = causes[0];
    for (int i = 0; i < n; i++)
        if (st[i] == best) {
            cause = causes[i];
            break;
        }
    bridge_failed(call, cause, best, apr_psprintf(call->pool, "bridge: %s", cause));
    return APR_SUCCESS;
}

static apr_status_t app_bridge(dp_call_t *call, const char *data)
{
    return dp_bridge(call, data);
}

/* ---- table and loop ------------------------------------------------------------------------ */

static const dp_app_t apps[] = {
    {"bridge", "<dialstring>", "fork the call to the dial string's legs", app_bridge, bridge_check},
    {"respond", "<code> [<reason>]", "send a response: 1xx goes on, 3xx-6xx ends the dialplan", app_respond,
     respond_check},
    {"hangup", "[<cause>]", "end the call with the cause's SIP status", app_hangup, hangup_check},
    {"set", "<name>=<value>", "set (or unset) a call variable", app_set, set_check},
    {"log", "[<level>] <text>", "write a log line", app_log, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

const dp_app_t *dp_app_find(const char *name)
{
    for (const dp_app_t *a = apps; a->name; a++)
        if (!strcmp(a->name, name))
            return a;
    return NULL;
}

void dp_exec_run(dp_call_t *call, const apr_array_header_t *steps)
{
    call->steps = steps;
    call->next = 0;
    dp_exec_continue(call);
}

void dp_exec_continue(dp_call_t *call)
{
    const apr_array_header_t *steps = call->steps;
    while (call->next < steps->nelts && !call->status && !call->suspended) {
        const dp_step_t *s = &APR_ARRAY_IDX(steps, call->next, dp_step_t);
        call->next++;
        const char *data, *err;
        if (dp_expand(s->data, call->vars, call->pool, &data, &err) != APR_SUCCESS) {
            aorta_log(AORTA_LOG_ERR, "dialplan %s: %s data \"%s\": %s", s->action->where, s->action->app->name, s->data,
                      err);
            decide(call, 500, NULL, apr_psprintf(call->pool, "%s: %s", s->action->app->name, err));
            break;
        }
        if (call->trace)
            call->trace(call->trace_user, "%s %s %s", s->anti ? "anti-action" : "action", s->action->app->name, data);
        s->action->app->run(call, data);
    }
    if (call->suspended)
        return; /* a bridge is ringing: dp_bridge resumes the run */
    if (!call->status)
        decide(call, 480, NULL, "the dialplan ended without a final answer");
}

void dp_route(dp_call_t *call, const dp_conf_t *conf, const char *context, const char **extension)
{
    apr_array_header_t *steps, *matched;
    *extension = NULL;
    apr_table_set(call->vars, "context", context);
    if (dp_hunt(conf, context, call->vars, call->pool, call->trace, call->trace_user, &steps, &matched) ==
        AORTA_ENOTFOUND) {
        decide(call, 404, NULL, apr_psprintf(call->pool, "no context '%s' in the dialplan", context));
        return;
    }
    if (matched->nelts)
        *extension = apr_array_pstrcat(call->pool, matched, ',');
    if (!steps->nelts) {
        /* FreeSWITCH: NO_ROUTE_DESTINATION */
        decide(call, 404, NULL, apr_psprintf(call->pool, "no extension of context '%s' matched", context));
        return;
    }
    dp_exec_run(call, steps);
}
