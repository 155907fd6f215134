/*
 * dp_outgoing.c — `sip_notify` and `sip_message` (SPEC §8): one request to each destination
 * of a dial string, then one line per destination with its final status.
 *
 * A leg resolves as SPEC §8 says: sip/<endpoint> → the first contact of the endpoint's AORs
 * (in their configured order), sip/<endpoint>/<aor> → that AOR's first contact,
 * sip/<endpoint>/<uri> → that URI. A contact registered through Path is reached through that
 * route; one whose REGISTER came from another address than its Contact (NAT) is reached at
 * that source address. The leg's own variables sip_route / sip_network_destination (what
 * dial_contacts writes) win. error/ legs are reported with their cause's status, unsent.
 *
 * The command waits for every answer (the endpoints interface guarantees one callback per
 * request: the response, 408 on timeout, or 503): the callbacks run on core workers and
 * signal the waiting command thread. Requests go out with request_send_owned(), so an
 * unload cancels callbacks still pending.
 */
#include "dp_internal.h"
#include "mod_endpoints/ep_api.h"
#include "mod_location/loc_api.h"
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <stdlib.h>
#include <string.h>

typedef struct waitset {
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    int pending;
    apr_pool_t *pool;
} waitset_t;

typedef struct dest {
    const dp_leg_t *leg;
    ep_outgoing_t out;
    const char *why; /* set when nothing is sent */
    int status;
    char phrase[80]; /* the response's own phrase (valid only in the callback: copied) */
    waitset_t *ws;
} dest_t;

static void dest_done(int status, const char *phrase, const sip_t *sip, void *user)
{
    dest_t *d = user;
    apr_thread_mutex_lock(d->ws->lock);
    d->status = status;
    apr_cpystrn(d->phrase, phrase ? phrase : "", sizeof d->phrase);
    d->ws->pending--;
    apr_thread_cond_signal(d->ws->cond);
    apr_thread_mutex_unlock(d->ws->lock);
}

static void resolve(dest_t *d)
{
    const char *uri, *route, *dest, *why;
    int st = dp_leg_resolve(d->leg, d->ws->pool, &uri, &route, &dest, &why);
    if (st) {
        d->status = st;
        d->why = d->leg->kind == DP_LEG_ERROR ? apr_pstrcat(d->ws->pool, why, ": not sent", NULL) : why;
        return;
    }
    d->out.endpoint = d->leg->endpoint;
    d->out.uri = uri;
    d->out.route = route;
    d->out.destination = dest;
}

/* Run one outgoing request per leg of @p dialstring and print the outcome of each. */
static apr_status_t send_all(const char *cmd, const char *dialstring, const ep_outgoing_t *tmpl, aorta_stream_t *out,
                             apr_pool_t *pool)
{
    const ep_api_t *ep = aorta_interface_get(EP_API_NAME);
    const loc_api_t *loc = aorta_interface_get(LOC_API_NAME);
    dp_dialstring_t *ds;
    const char *err;
    if (!ep || !loc) {
        aorta_stream_printf(out, "-ERR %s needs mod_endpoints and mod_location\n", cmd);
        return AORTA_EDEPEND;
    }
    if (dp_dialstring_parse(dialstring, pool, &ds, &err) != APR_SUCCESS) {
        aorta_stream_printf(out, "-ERR bad dial string: %s\n", err);
        return AORTA_ESYNTAX;
    }
    waitset_t ws = {NULL, NULL, 0, pool};
    apr_thread_mutex_create(&ws.lock, APR_THREAD_MUTEX_DEFAULT, pool);
    apr_thread_cond_create(&ws.cond, pool);
    apr_array_header_t *dests = apr_array_make(pool, ds->nlegs, sizeof(dest_t *));
    for (int i = 0; i < ds->legs->nelts; i++) {
        dest_t *d = apr_pcalloc(pool, sizeof *d);
        d->leg = APR_ARRAY_IDX(ds->legs, i, dp_leg_t *);
        d->out = *tmpl;
        d->ws = &ws;
        resolve(d);
        APR_ARRAY_PUSH(dests, dest_t *) = d;
    }
    for (int i = 0; i < dests->nelts; i++) {
        dest_t *d = APR_ARRAY_IDX(dests, i, dest_t *);
        if (d->why)
            continue;
        apr_thread_mutex_lock(ws.lock);
        ws.pending++;
        apr_thread_mutex_unlock(ws.lock);
        apr_status_t st = ep->request_send_owned(dp_module, &d->out, dest_done, d);
        if (st != APR_SUCCESS) {
            char buf[128];
            apr_thread_mutex_lock(ws.lock);
            ws.pending--;
            apr_thread_mutex_unlock(ws.lock);
            d->status = 503;
            d->why = apr_psprintf(pool, "not sent: %s", aorta_strerror(st, buf, sizeof buf));
        }
    }
    apr_thread_mutex_lock(ws.lock);
    while (ws.pending)
        apr_thread_cond_wait(ws.cond, ws.lock);
    apr_thread_mutex_unlock(ws.lock);
    for (int i = 0; i < dests->nelts; i++) {
        const dest_t *d = APR_ARRAY_IDX(dests, i, dest_t *);
        aorta_stream_printf(out, "%s -> %s: %d %s%s%s%s\n", d->leg->target, d->out.uri ? d->out.uri : "-", d->status,
                            *d->phrase ? d->phrase : dp_sip_phrase(d->status), d->why ? " (" : "", d->why ? d->why : "",
                            d->why ? ")" : "");
    }
    aorta_log(AORTA_LOG_INFO, "%s %s: %d destination%s", cmd, dialstring, dests->nelts, dests->nelts == 1 ? "" : "s");
    return APR_SUCCESS;
}

apr_status_t dp_cmd_sip_notify(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    char *argv[4] = {NULL};
    int argc = aorta_api_split(args, pool, argv, 4);
    if (argc < 2 || argc == 3) {
        aorta_stream_puts(out, "-ERR usage: sip_notify <dialstring> <event> [<content-type> <body>]\n");
        return AORTA_ESYNTAX;
    }
    ep_outgoing_t t = {0};
    t.method = "NOTIFY";
    /* an unsolicited NOTIFY (RFC 6665 §4.2: no subscription) such as check-sync */
    t.headers = apr_psprintf(pool, "Event: %s\r\nSubscription-State: terminated;reason=noresource\r\n", argv[1]);
    if (argc == 4) {
        t.content_type = argv[2];
        t.body = argv[3];
    }
    return send_all("sip_notify", argv[0], &t, out, pool);
}

apr_status_t dp_cmd_sip_message(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    char *argv[2] = {NULL};
    int argc = aorta_api_split(args, pool, argv, 2);
    if (argc < 2) {
        aorta_stream_puts(out, "-ERR usage: sip_message <dialstring> <text>\n");
        return AORTA_ESYNTAX;
    }
    ep_outgoing_t t = {0};
    t.method = "MESSAGE";
    t.content_type = "text/plain";
    t.body = argv[1];
    return send_all("sip_message", argv[0], &t, out, pool);
}
