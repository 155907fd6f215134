/*
 * dp_bridge.c — `bridge` to sip/ legs: a stateful forking proxy driven from the dialplan
 * (SPEC §12, RFC 3261 §16), on the proxy primitives of the endpoints interface.
 *
 *   branches (':_:') run at once, each on its own (a fork, br_fork_t): one whose groups have
 *                  all failed is over; the call fails when every fork is over
 *   groups ('|')   within a fork, tried in order: the next one starts when every leg of the
 *                  current one has failed (a leg's `leg_timeout` seconds count as a failure,
 *                  NO_ANSWER)
 *   legs (',')     ring together; the first 2xx of any fork is relayed to the caller (To tag,
 *                  Contact, Record-Route, body as received) and every other leg gets CANCEL
 *   later 2xx      (another leg answered too, or its answer crossed a CANCEL) forwarded to the
 *                  caller as well (RFC 3261 §16.7 step 5): the caller ACKs and ends that dialog
 *   18x            the first one is relayed (not one per leg)
 *   all failed     the best status per RFC 3261 §16.7 (dp_best_status; 503 becomes 500),
 *                  then continue_on_fail decides whether the dialplan goes on; when it does
 *                  not and the best came from a callee's response, that response is relayed
 *                  as received (§16.7 step 6: Retry-After, Warning, Contacts, body), a 401/407
 *                  with the challenges of every other 401/407 added (step 7); else (error/
 *                  legs, leg_timeout, no contact) the status is answered
 *   caller CANCEL  nta has answered it 200 and the INVITE 487; every leg is cancelled
 *
 * Threads and lifetimes: everything here runs on core workers keyed by the INVITE's Call-ID
 * (its service, its CANCEL, every branch event), so one bridge is never touched by two
 * threads at once and needs no lock; only the Call-ID -> bridge table has one. A bridge has
 * its own pool because its branches outlive the INVITE's request (a 2xx completes the
 * request while the losers still answer their CANCEL with 487); it is freed when the
 * call is over and no branch is left. The dialplan call (dp_call_t, in the request pool) is
 * touched only while the bridge is the call's current one (br->call != NULL).
 */
#include "dp_internal.h"
#include "mod_endpoints/ep_api.h"
#include "mod_location/loc_api.h"
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <stdlib.h>
#include <string.h>

typedef struct dp_bridge_s dp_bridge_t;

typedef struct br_leg {
    dp_bridge_t *br;
    const char *target; /* in br->pool */
    ep_branch_t *branch; /* while ringing */
    int fork;            /* index of its enterprise branch */
} br_leg_t;

/* One enterprise branch of the dial string, progressing through its groups on its own. */
typedef struct br_fork {
    int group_i; /* the group ringing now; == its number of groups once the fork is over */
    int ringing; /* its legs without a final response */
} br_fork_t;

struct dp_bridge_s {
    apr_pool_t *pool;
    char *call_id;
    dp_call_t *call;  /* NULL once the call no longer waits for this bridge */
    ep_request_t *req; /* idem */
    const dp_dialstring_t *ds; /* in the request pool: valid while call is */
    br_fork_t *forks;          /* one per branch of ds */
    apr_array_header_t *ringing; /* br_leg_t * of every started leg still without a final */
    apr_array_header_t *statuses; /* int: failed legs' statuses */
    apr_array_header_t *causes;   /* const char *: their causes */
    apr_array_header_t *finals;   /* ep_branch_event_t *: their responses (NULL when synthesized); each
                                     owns its msg until relayed, freed with the pool (final_cleanup) */
    int answered, cancelled, provisional_sent;
};

static const ep_api_t *br_ep;
static apr_thread_mutex_t *br_lock;
static apr_thread_cond_t *br_cond;
static apr_hash_t *br_active; /* Call-ID -> dp_bridge_t*, the bridges with ringing legs or a waiting call */

/* FreeSWITCH's sip-to-cause mapping (mod_sofia's sofia_glue_sip_cause_to_freeswitch), the common ones. */
static const char *cause_of_status(int st)
{
    switch (st) {
    case 404: case 485: case 604: return "UNALLOCATED_NUMBER";
    case 486: case 600: return "USER_BUSY";
    case 408: return "NO_USER_RESPONSE";
    case 480: return "NO_ANSWER";
    case 403: case 401: case 407: case 603: return "CALL_REJECTED";
    case 410: return "NUMBER_CHANGED";
    case 483: return "EXCHANGE_ROUTING_ERROR";
    case 484: return "INVALID_NUMBER_FORMAT";
    case 487: return "ORIGINATOR_CANCEL";
    case 488: case 606: return "INCOMPATIBLE_DESTINATION";
    case 501: return "SERVICE_NOT_IMPLEMENTED";
    case 502: return "NETWORK_OUT_OF_ORDER";
    case 503: return "NORMAL_TEMPORARY_FAILURE";
    case 504: return "RECOVERY_ON_TIMER_EXPIRE";
    default: return st >= 500 ? "NORMAL_TEMPORARY_FAILURE" : "NORMAL_UNSPECIFIED";
    }
}

/* ---- where a leg goes (also used by sip_notify / sip_message and dialplan_test) -------- */

/* The route to a contact as mod_location records it (see loc_dial.c): Path, or a NAT'd source. */
static void contact_route(const loc_contact_t *c, apr_pool_t *pool, const char **uri, const char **route,
                          const char **destination)
{
    *uri = apr_pstrdup(pool, c->uri);
    if (c->path) {
        *route = apr_pstrdup(pool, c->path);
        return;
    }
    if (c->is_static || !c->src_ip)
        return;
    url_t *u = url_make(NULL, c->uri); /* sofia's parser on a malloc'd home: freed below */
    int nat = 1;
    if (u) {
        const char *port = u->url_port ? u->url_port : (u->url_type == url_sips ? "5061" : "5060");
        nat = !u->url_host || strcmp(u->url_host, c->src_ip) || atoi(port) != c->src_port;
        su_free(NULL, u);
    }
    if (nat)
        *destination =
            apr_psprintf(pool, "sip:%s%s%s:%u;transport=%s", strchr(c->src_ip, ':') ? "[" : "", c->src_ip,
                         strchr(c->src_ip, ':') ? "]" : "", c->src_port, c->transport ? c->transport : "udp");
}

int dp_leg_resolve(const dp_leg_t *leg, apr_pool_t *pool, const char **uri, const char **route,
                   const char **destination, const char **why)
{
    const ep_api_t *ep = aorta_interface_get(EP_API_NAME);
    const loc_api_t *loc = aorta_interface_get(LOC_API_NAME);
    *uri = *route = *destination = *why = NULL;
    if (leg->kind == DP_LEG_ERROR) {
        *why = apr_psprintf(pool, "error leg %s", leg->cause);
        return dp_cause_to_sip(leg->cause);
    }
    if (!ep || !loc) {
        *why = "needs mod_endpoints and mod_location";
        return 503;
    }
    aorta_config_gen_t *gen = NULL;
    const ep_endpoint_t *e = ep->endpoint_find(leg->endpoint, &gen);
    if (!e) {
        *why = apr_psprintf(pool, "endpoint '%s' not found", leg->endpoint);
        return 404;
    }
    apr_array_header_t *aors = apr_array_copy(pool, e->aors);
    for (int i = 0; i < aors->nelts; i++)
        APR_ARRAY_IDX(aors, i, const char *) = apr_pstrdup(pool, APR_ARRAY_IDX(aors, i, const char *));
    aorta_module_config_release(gen);
    if (leg->uri) {
        *uri = leg->uri;
    } else {
        if (leg->aor) {
            aors = apr_array_make(pool, 1, sizeof(const char *));
            APR_ARRAY_PUSH(aors, const char *) = leg->aor;
        }
        for (int i = 0; i < aors->nelts && !*uri; i++) {
            apr_array_header_t *cs;
            if (loc->contacts_get(APR_ARRAY_IDX(aors, i, const char *), pool, &cs) == APR_SUCCESS && cs->nelts)
                contact_route(APR_ARRAY_IDX(cs, 0, const loc_contact_t *), pool, uri, route, destination);
        }
        if (!*uri) {
            *why = leg->aor ? apr_psprintf(pool, "AOR %s has no contact", leg->aor)
                            : apr_psprintf(pool, "no AOR of endpoint %s has a contact", leg->endpoint);
            return dp_cause_to_sip("USER_NOT_REGISTERED");
        }
    }
    const char *v;
    if ((v = dp_vars_get(leg->vars, "sip_route")) && *v)
        *route = v;
    if ((v = dp_vars_get(leg->vars, "sip_network_destination")) && *v)
        *destination = v;
    return 0;
}

/* ---- the table of bridges ------------------------------------------------------------------ */

static void br_free_if_over(dp_bridge_t *br)
{
    if (br->call || br->ringing->nelts)
        return;
    apr_thread_mutex_lock(br_lock);
    if (apr_hash_get(br_active, br->call_id, APR_HASH_KEY_STRING) == br)
        apr_hash_set(br_active, br->call_id, APR_HASH_KEY_STRING, NULL);
    apr_thread_cond_broadcast(br_cond);
    apr_thread_mutex_unlock(br_lock);
    apr_pool_destroy(br->pool);
}

static void br_cancel_ringing(dp_bridge_t *br)
{
    for (int i = 0; i < br->ringing->nelts; i++)
        br_ep->proxy_branch_cancel(APR_ARRAY_IDX(br->ringing, i, br_leg_t *)->branch);
}

static apr_status_t final_cleanup(void *data)
{
    ep_branch_event_t *ev = data;
    if (ev->msg)
        msg_destroy(ev->msg);
    ev->msg = NULL;
    return APR_SUCCESS;
}

/* A leg failed with @p status; @p ev (or NULL) is its response, kept so it can be relayed. */
static void br_fail_ev(dp_bridge_t *br, int status, const char *cause, ep_branch_event_t *ev)
{
    ep_branch_event_t *keep = NULL;
    if (ev && ev->msg && !ev->timed_out && ev->status == status) {
        keep = apr_pcalloc(br->pool, sizeof *keep);
        keep->status = ev->status;
        keep->phrase = apr_pstrdup(br->pool, ev->phrase);
        keep->msg = ev->msg; /* taken: branch_deliver destroys only what is left in ev */
        keep->priv = ev->priv;
        ev->msg = NULL;
        ev->sip = NULL;
        apr_pool_cleanup_register(br->pool, keep, final_cleanup, apr_pool_cleanup_null);
    }
    APR_ARRAY_PUSH(br->statuses, int) = status;
    APR_ARRAY_PUSH(br->causes, const char *) = apr_pstrdup(br->pool, cause);
    APR_ARRAY_PUSH(br->finals, ep_branch_event_t *) = keep;
}

static void br_fail(dp_bridge_t *br, int status, const char *cause)
{
    br_fail_ev(br, status, cause, NULL);
}

/* The call stops waiting for this bridge: the run goes on (or ends) with its decision. */
static void br_release_call(dp_bridge_t *br)
{
    dp_call_t *call = br->call;
    br->call = NULL;
    br->req = NULL;
    call->suspended = 0;
    if (!call->status)
        dp_exec_continue(call);
    if (!call->suspended)
        call->done(call);
}

static void br_event(ep_branch_t *b, ep_branch_event_t *ev, void *user);

/* Start the legs of fork @p f's current group; returns how many ring. */
static int br_start_group(dp_bridge_t *br, int f)
{
    const dp_branch_t *bt = APR_ARRAY_IDX(br->ds->branches, f, dp_branch_t *);
    const dp_group_t *gr = APR_ARRAY_IDX(bt->groups, br->forks[f].group_i, dp_group_t *);
    apr_pool_t *pool = br->req->pool;
    int started = 0;
    for (int l = 0; l < gr->legs->nelts; l++) {
        const dp_leg_t *leg = APR_ARRAY_IDX(gr->legs, l, dp_leg_t *);
        const char *uri, *route, *dest, *why;
        int st = dp_leg_resolve(leg, pool, &uri, &route, &dest, &why);
        if (st) {
            aorta_log(AORTA_LOG_INFO, "bridge %s: leg %s fails at once: %d (%s)", br->call_id, leg->target, st, why);
            br_fail(br, st, leg->kind == DP_LEG_ERROR ? leg->cause : cause_of_status(st));
            continue;
        }
        ep_target_t t = {.uri = uri, .route = route, .destination = dest, .owner = dp_module};
        const char *lt = dp_vars_get(leg->vars, "leg_timeout");
        if (!lt)
            lt = apr_table_get(br->call->vars, "leg_timeout");
        if (lt && atoi(lt) > 0)
            t.timeout_ms = atoi(lt) * 1000;
        br_leg_t *bl = apr_pcalloc(br->pool, sizeof *bl);
        bl->br = br;
        bl->target = apr_pstrdup(br->pool, leg->target);
        bl->fork = f;
        apr_status_t rv = br_ep->proxy_branch_start(br->req, &t, br_event, bl, &bl->branch);
        if (rv != APR_SUCCESS) {
            char buf[120];
            aorta_log(AORTA_LOG_WARNING, "bridge %s: leg %s -> %s not sent: %s", br->call_id, leg->target, uri,
                      aorta_strerror(rv, buf, sizeof buf));
            br_fail(br, 503, "NORMAL_TEMPORARY_FAILURE");
            continue;
        }
        aorta_log(AORTA_LOG_DEBUG, "bridge %s: leg %s -> %s%s%s%s%s", br->call_id, leg->target, uri,
                  route ? " route " : "", route ? route : "", dest ? " via " : "", dest ? dest : "");
        APR_ARRAY_PUSH(br->ringing, br_leg_t *) = bl;
        started++;
    }
    br->forks[f].ringing += started;
    return started;
}

/* Fork @p f has nothing ringing: start its current group, or the next one that has a leg to
 * ring; when none is left the fork is over. */
static void br_fork_run(dp_bridge_t *br, int f)
{
    const dp_branch_t *bt = APR_ARRAY_IDX(br->ds->branches, f, dp_branch_t *);
    br_fork_t *fk = &br->forks[f];
    for (; fk->group_i < bt->groups->nelts; fk->group_i++)
        if (br_start_group(br, f))
            return;
    if (br->ds->branches->nelts > 1)
        aorta_log(AORTA_LOG_DEBUG, "bridge %s: branch %d: every leg failed", br->call_id, f + 1);
}

/* Every fork is over: the call fails with the best of every leg's status (RFC 3261 §16.7). */
static void br_decide_failure(dp_bridge_t *br)
{
    int best = dp_best_status((const int *)br->statuses->elts, br->statuses->nelts);
    const char *cause = "NORMAL_UNSPECIFIED";
    ep_branch_event_t *final = NULL;
    for (int i = 0; i < br->statuses->nelts; i++)
        if (APR_ARRAY_IDX(br->statuses, i, int) == best) {
            cause = APR_ARRAY_IDX(br->causes, i, const char *);
            final = APR_ARRAY_IDX(br->finals, i, ep_branch_event_t *);
            break;
        }
    if (!best)
        best = 480;
    if (best == 503)
        best = 500; /* RFC 3261 §16.7 step 6: a 503 is not forwarded as such */
    dp_call_t *call = br->call;
    dp_bridge_fail(call, cause, best, apr_psprintf(call->pool, "bridge: %s", cause));
    if (call->status && final && final->status == best) {
        /* the run ends here (no continue_on_fail): the callee's response itself is the answer */
        if (best == 401 || best == 407) {
            /* §16.7 step 7: with the challenges of every other 401/407, so the caller can
             * answer them all in one retry */
            int added = 0;
            for (int i = 0; i < br->finals->nelts; i++) {
                ep_branch_event_t *other = APR_ARRAY_IDX(br->finals, i, ep_branch_event_t *);
                if (other && other != final && (other->status == 401 || other->status == 407) &&
                    br_ep->proxy_challenges_add(final, other) == APR_SUCCESS)
                    added++;
            }
            if (added)
                aorta_log(AORTA_LOG_INFO, "bridge %s: %d %s relayed with the challenges of %d other leg%s",
                          br->call_id, best, final->phrase, added, added == 1 ? "" : "s");
        }
        call->phrase = final->phrase;
        call->relay = final; /* relayed by done(); the bridge's pool outlives that call */
    }
}

static void br_event(ep_branch_t *b, ep_branch_event_t *ev, void *user)
{
    br_leg_t *bl = user;
    dp_bridge_t *br = bl->br;
    (void)b;
    if (ev->status < 200) {
        /* the first 18x is relayed, as the callee sent it (To tag, Contact, SDP...) */
        if (ev->status >= 180 && br->call && !br->provisional_sent && !br->answered && !br->cancelled &&
            br_ep->proxy_relay(br->req, ev) == APR_SUCCESS)
            br->provisional_sent = 1;
        return;
    }
    for (int i = 0; i < br->ringing->nelts; i++)
        if (APR_ARRAY_IDX(br->ringing, i, br_leg_t *) == bl) {
            APR_ARRAY_IDX(br->ringing, i, br_leg_t *) = APR_ARRAY_IDX(br->ringing, br->ringing->nelts - 1, br_leg_t *);
            br->ringing->nelts--;
            break;
        }
    br->forks[bl->fork].ringing--;
    bl->branch = NULL;
    if (ev->status < 300) {
        if (br->call && !br->answered && !br->cancelled) {
            br->answered = 1;
            dp_call_t *call = br->call;
            call->relay = ev; /* relayed by done(), after everything else used the request */
            aorta_log(AORTA_LOG_INFO, "bridge %s: answered by %s (%d %s)", br->call_id, bl->target, ev->status,
                      ev->phrase);
            dp_decide(call, ev->status, ev->phrase, apr_psprintf(call->pool, "bridge: answered by %s", bl->target));
            br_cancel_ringing(br);
            br_release_call(br);
            /* the request and call are gone now */
        } else {
            /* a second 2xx (or one that crossed the CANCEL): the INVITE has its final answer, but
             * a proxy forwards every 2xx (RFC 3261 §16.7 step 5); the caller ACKs this dialog
             * and hangs it up itself, through our Record-Route */
            aorta_log(AORTA_LOG_NOTICE, "bridge %s: %s answered %d after the call's final answer: forwarded to the caller",
                      br->call_id, bl->target, ev->status);
            br_ep->proxy_forward_2xx(ev);
        }
    } else if (br->call && !br->answered && !br->cancelled) {
        int st = ev->timed_out ? 480 : ev->status;
        const char *cause = ev->timed_out ? "NO_ANSWER" : cause_of_status(ev->status);
        aorta_log(AORTA_LOG_INFO, "bridge %s: leg %s failed: %d %s%s", br->call_id, bl->target, ev->status,
                  ev->phrase, ev->timed_out ? " (leg_timeout)" : "");
        br_fail_ev(br, st, cause, ev);
        if (!br->forks[bl->fork].ringing) {
            br->forks[bl->fork].group_i++;
            br_fork_run(br, bl->fork);
        }
        if (!br->ringing->nelts) {
            br_decide_failure(br);
            br_release_call(br); /* every fork failed: the dialplan decides what now */
        }
    }
    br_free_if_over(br);
}

void dp_bridge_ring(dp_call_t *call, ep_request_t *req, const dp_dialstring_t *ds, const char *dialstring)
{
    apr_pool_t *pool;
    const char *call_id = req->sip->sip_call_id ? req->sip->sip_call_id->i_id : NULL;
    if (!br_ep || !call_id || aorta_pool_create_unmanaged(&pool) != APR_SUCCESS) {
        dp_bridge_fail(call, "NORMAL_TEMPORARY_FAILURE", 500, "bridge: cannot start");
        return;
    }
    if (req->sip->sip_max_forwards && req->sip->sip_max_forwards->mf_count == 0) {
        apr_pool_destroy(pool);
        dp_bridge_fail(call, "EXCHANGE_ROUTING_ERROR", 483, "bridge: Max-Forwards is 0");
        return;
    }
    dp_bridge_t *br = apr_pcalloc(pool, sizeof *br);
    br->pool = pool;
    br->call_id = apr_pstrdup(pool, call_id);
    br->call = call;
    br->req = req;
    br->ds = ds;
    br->ringing = apr_array_make(pool, 4, sizeof(br_leg_t *));
    br->statuses = apr_array_make(pool, 4, sizeof(int));
    br->causes = apr_array_make(pool, 4, sizeof(const char *));
    br->finals = apr_array_make(pool, 4, sizeof(ep_branch_event_t *));
    br->forks = apr_pcalloc(pool, sizeof(br_fork_t) * (apr_size_t)ds->branches->nelts);
    apr_thread_mutex_lock(br_lock);
    apr_hash_set(br_active, br->call_id, APR_HASH_KEY_STRING, br);
    apr_thread_mutex_unlock(br_lock);
    aorta_log(AORTA_LOG_DEBUG, "bridge %s: %s", br->call_id, dialstring);
    br_ep->reply(req, 100, "Trying", NULL, NULL, NULL);
    for (int f = 0; f < ds->branches->nelts; f++)
        br_fork_run(br, f); /* every enterprise branch starts now */
    if (br->ringing->nelts) {
        call->suspended = 1;
        return; /* the call waits; br_event resumes it */
    }
    /* nothing could ring: decide (or let continue_on_fail go on) synchronously */
    br_decide_failure(br);
    br->call = NULL;
    br->req = NULL;
    br_free_if_over(br);
}

/* On the call's worker key: stop the bridge, the call ends with @p status. */
static void br_stop(const char *call_id, int status, const char *cause, const char *why, const char *what)
{
    apr_thread_mutex_lock(br_lock);
    dp_bridge_t *br = br_active ? apr_hash_get(br_active, call_id, APR_HASH_KEY_STRING) : NULL;
    apr_thread_mutex_unlock(br_lock);
    /* the table's entries are only freed on this Call-ID's worker key, which we are on */
    if (!br || br->cancelled || br->answered)
        return;
    br->cancelled = 1;
    aorta_log(AORTA_LOG_INFO, "bridge %s: %s: cancelling %d leg%s", call_id, what, br->ringing->nelts,
              br->ringing->nelts == 1 ? "" : "s");
    br_cancel_ringing(br);
    if (br->call) {
        dp_call_t *call = br->call;
        apr_table_set(call->vars, "originate_disposition", cause);
        dp_decide(call, status, NULL, why);
        br_release_call(br);
    }
    br_free_if_over(br);
}

void dp_bridge_caller_cancel(const char *call_id)
{
    br_stop(call_id, 487, "ORIGINATOR_CANCEL", "bridge: the caller cancelled", "CANCEL from the caller");
}

static void br_shutdown_task(void *arg)
{
    br_stop(arg, 503, "NORMAL_TEMPORARY_FAILURE", "bridge: mod_dialplan is unloading", "unloading");
    free(arg);
}

apr_status_t dp_bridge_init(apr_pool_t *pool)
{
    apr_status_t rv;
    br_ep = aorta_interface_get(EP_API_NAME);
    if ((rv = apr_thread_mutex_create(&br_lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS ||
        (rv = apr_thread_cond_create(&br_cond, pool)) != APR_SUCCESS)
        return rv;
    /* the table allocates as it grows, under br_lock: in a pool nobody else uses */
    apr_pool_t *tp;
    if ((rv = aorta_pool_create(&tp, pool)) != APR_SUCCESS)
        return rv;
    br_active = apr_hash_make(tp);
    return APR_SUCCESS;
}

void dp_bridge_shutdown(void)
{
    if (!br_lock)
        return;
    /* Branch events run this module's code (they are tasks owned by it, so the unload waits
     * for them too). Each ringing call is stopped on its own worker key, where its bridge may
     * be touched, and the legs' CANCELs are answered at once; a silent callee is bounded by
     * the transaction timeout. */
    apr_time_t until = apr_time_now() + apr_time_from_sec(40);
    apr_thread_mutex_lock(br_lock);
    if (apr_hash_count(br_active))
        aorta_log(AORTA_LOG_NOTICE, "mod_dialplan: stopping %u ringing bridge%s", apr_hash_count(br_active),
                  apr_hash_count(br_active) == 1 ? "" : "s");
    for (apr_hash_index_t *hi = apr_hash_first(NULL, br_active); hi; hi = apr_hash_next(hi)) {
        const void *k;
        apr_hash_this(hi, &k, NULL, NULL);
        char *id = strdup(k);
        if (id && aorta_task_push_keyed_owned(dp_module, id, strlen(id), br_shutdown_task, id) != APR_SUCCESS)
            free(id);
    }
    while (apr_hash_count(br_active) && apr_time_now() < until)
        apr_thread_cond_timedwait(br_cond, br_lock, apr_time_from_msec(200));
    apr_thread_mutex_unlock(br_lock);
}
