/*
 * ep_outgoing.c — non-INVITE requests that other modules send (qualify OPTIONS, NOTIFY,
 * MESSAGE) and the `sip_options` command that exercises it.
 *
 * request_send() runs on any thread: it resolves the endpoint in the current generation,
 * copies everything it needs into a request pool of its own (the generation may go), and
 * posts the request to the endpoint's profile thread. There, and only there, a leg and a
 * client transaction are created; the final response (or nta's 408 on timeout) is copied
 * with msg_dup, the transaction and leg destroyed, and the caller's callback runs on a core
 * worker with that copy (a task owned by mod_endpoints, so the module is not unloaded under
 * it). request_send_owned() ties a request to its caller's module: unregister_owner() then
 * cancels its callback. Next hop, first match wins: destination (e.g. a NAT'd source
 * address) > the endpoint's outbound-proxy > the route set's first ;lr hop > the URI (with
 * the endpoint's transport added when the URI names none).
 */
#include "ep_internal.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

typedef struct ep_out {
    apr_pool_t *pool;
    ep_mod_t *mod;
    ep_profile_t *profile;
    aorta_module_t *owner; /* request_send_owned(); NULL: request_send() */
    /* under mod->out_lock */
    int cancelled, running;
    struct ep_out *live_next, **live_prevp;
    const char *method, *uri, *route, *next_hop, *from, *to, *headers, *content_type, *body, *user_agent;
    ep_response_fn fn;
    void *user;
    /* root thread only */
    nta_leg_t *leg;
    nta_outgoing_t *orq;
    struct ep_out *next, **prevp; /* in profile->pending while the transaction is open */
    /* result, handed to the worker */
    int status;
    const char *phrase;
    msg_t *resp;
} ep_out_t;

static void out_unlink_live(ep_out_t *out)
{
    *out->live_prevp = out->live_next;
    if (out->live_next)
        out->live_next->live_prevp = out->live_prevp;
}

static void outgoing_deliver(void *arg)
{
    ep_out_t *out = arg;
    ep_mod_t *m = out->mod;
    ep_profile_t *p = out->profile;
    apr_thread_mutex_lock(m->out_lock);
    int cancelled = out->cancelled;
    out->running = !cancelled;
    apr_thread_mutex_unlock(m->out_lock);
    if (!cancelled)
        out->fn(out->status, out->phrase, out->resp ? sip_object(out->resp) : NULL, out->user);
    apr_thread_mutex_lock(m->out_lock);
    out_unlink_live(out);
    apr_thread_cond_broadcast(m->out_cond);
    apr_thread_mutex_unlock(m->out_lock);
    if (out->resp)
        msg_destroy(out->resp);
    apr_pool_destroy(out->pool);
    apr_atomic_dec32(&p->outgoing);
}

void ep_outgoing_cancel_owner(ep_mod_t *m, aorta_module_t *owner)
{
    apr_thread_mutex_lock(m->out_lock);
    for (ep_out_t *o = m->live; o; o = o->live_next)
        if (o->owner == owner)
            o->cancelled = 1;
    for (;;) {
        int busy = 0;
        for (ep_out_t *o = m->live; o && !busy; o = o->live_next)
            busy = o->owner == owner && o->running;
        if (!busy)
            break;
        apr_thread_cond_wait(m->out_cond, m->out_lock);
    }
    apr_thread_mutex_unlock(m->out_lock);
}

/* Root thread: give the result to a worker. */
static void outgoing_finish(ep_out_t *out, int status, const char *phrase)
{
    if (out->prevp) {
        *out->prevp = out->next;
        if (out->next)
            out->next->prevp = out->prevp;
        out->prevp = NULL;
    }
    out->status = status;
    out->phrase = apr_pstrdup(out->pool, phrase ? phrase : "");
    if (out->orq)
        nta_outgoing_destroy(out->orq), out->orq = NULL;
    if (out->leg)
        nta_leg_destroy(out->leg), out->leg = NULL;
    /* owned by mod_endpoints: unloading it waits for the task, whose code is ours */
    if (aorta_task_push_owned(out->mod->mod, outgoing_deliver, out) != APR_SUCCESS) {
        /* the pool is draining: run it here rather than lose the callback */
        outgoing_deliver(out);
    }
}

static int outgoing_response(ep_out_t *out, nta_outgoing_t *orq, const sip_t *sip)
{
    int status = sip && sip->sip_status ? sip->sip_status->st_status : nta_outgoing_status(orq);
    if (status < 200)
        return 0;
    const char *phrase = sip && sip->sip_status ? sip->sip_status->st_phrase : sip_status_phrase(status);
    if (sip) {
        msg_t *m = nta_outgoing_getresponse(orq);
        if (m) {
            out->resp = msg_dup(m);
            msg_destroy(m);
        }
    }
    aorta_log(AORTA_LOG_DEBUG, "%s to %s: %d %s\n", out->method, out->uri, status, phrase ? phrase : "");
    outgoing_finish(out, status, phrase);
    return 0;
}

void ep_outgoing_start(ep_profile_t *p, ep_out_t *out)
{
    if (!p->agent) {
        outgoing_finish(out, 503, "Profile Not Running");
        return;
    }
    out->leg = nta_leg_tcreate(p->agent, NULL, NULL, SIPTAG_FROM_STR(out->from), SIPTAG_TO_STR(out->to), TAG_END());
    if (!out->leg) {
        outgoing_finish(out, 503, "Cannot Create Leg");
        return;
    }
    nta_leg_tag(out->leg, NULL);
    out->orq =
        nta_outgoing_tcreate(out->leg, outgoing_response, out, out->next_hop ? URL_STRING_MAKE(out->next_hop) : NULL,
                             sip_method_code(out->method), out->method, URL_STRING_MAKE(out->uri),
                             TAG_IF(out->route, SIPTAG_ROUTE_STR(out->route)),
                             TAG_IF(out->user_agent, SIPTAG_USER_AGENT_STR(out->user_agent)),
                             TAG_IF(out->headers, SIPTAG_HEADER_STR(out->headers)),
                             TAG_IF(out->content_type, SIPTAG_CONTENT_TYPE_STR(out->content_type)),
                             TAG_IF(out->body, SIPTAG_PAYLOAD_STR(out->body)), TAG_END());
    if (!out->orq) {
        aorta_log(AORTA_LOG_WARNING, "profile %s: cannot send %s to %s\n", p->name, out->method, out->uri);
        outgoing_finish(out, 503, "Cannot Send Request");
        return;
    }
    out->next = p->pending;
    if (out->next)
        out->next->prevp = &out->next;
    out->prevp = &p->pending;
    p->pending = out;
}

void ep_outgoing_abort_all(ep_profile_t *p)
{
    while (p->pending)
        outgoing_finish(p->pending, 503, "Shutting Down");
}

static const char *opt(apr_pool_t *pool, const char *s)
{
    return s && *s ? apr_pstrdup(pool, s) : NULL;
}

apr_status_t ep_request_send(const ep_outgoing_t *o, ep_response_fn fn, void *user)
{
    return ep_request_send_owned(NULL, o, fn, user);
}

apr_status_t ep_request_send_owned(aorta_module_t *owner, const ep_outgoing_t *o, ep_response_fn fn, void *user)
{
    ep_mod_t *m = ep_g;
    aorta_config_gen_t *gen;
    apr_pool_t *pool;
    apr_status_t st = APR_SUCCESS;
    if (!m || !o || !fn || !o->endpoint || !o->method || !o->uri)
        return APR_EINVAL;
    if (!strcasecmp(o->method, "INVITE") || !strcasecmp(o->method, "ACK") || !strcasecmp(o->method, "CANCEL"))
        return APR_ENOTIMPL; /* INVITE transactions belong to the dialplan's proxy */
    if (strncasecmp(o->uri, "sip:", 4) && strncasecmp(o->uri, "sips:", 5))
        return AORTA_ESYNTAX;
    const ep_config_t *cfg = aorta_module_config_acquire(m->mod, &gen);
    const ep_endpoint_ext_t *e = cfg ? apr_hash_get(cfg->endpoints, o->endpoint, APR_HASH_KEY_STRING) : NULL;
    ep_profile_t *p = e ? ep_profile_find(m, e->pub.profile) : NULL;
    const ep_profile_conf_t *pc = e ? ep_config_profile(cfg, e->pub.profile) : NULL;
    if (!e || !p || !pc) {
        st = !e ? AORTA_ENOTFOUND : APR_EGENERAL;
        goto done;
    }
    if ((st = aorta_pool_create_unmanaged(&pool)) != APR_SUCCESS)
        goto done;
    ep_out_t *out = apr_pcalloc(pool, sizeof *out);
    out->pool = pool;
    out->mod = m;
    out->owner = owner;
    out->profile = p;
    out->fn = fn;
    out->user = user;
    out->method = apr_pstrdup(pool, o->method);
    out->uri = apr_pstrdup(pool, o->uri);
    out->route = opt(pool, o->route);
    out->headers = opt(pool, o->headers);
    out->content_type = opt(pool, o->content_type);
    out->body = opt(pool, o->body);
    out->user_agent = opt(pool, pc->set.user_agent);
    int secure = !strncasecmp(o->uri, "sips:", 5);
    const char *fhost = e->from_domain ? e->from_domain : apr_psprintf(pool, "%s:%d", p->set.sip_ip, p->set.sip_port);
    out->from =
        apr_psprintf(pool, "<%s:%s@%s>", secure ? "sips" : "sip", e->from_user ? e->from_user : e->pub.name, fhost);
    out->to = apr_psprintf(pool, "<%s>", o->to && *o->to ? o->to : o->uri);
    if (o->destination && *o->destination)
        out->next_hop = apr_pstrdup(pool, o->destination);
    else if (e->outbound_proxy)
        out->next_hop = apr_pstrdup(pool, e->outbound_proxy);
    else if (!out->route && e->transport && !strstr(o->uri, "transport="))
        out->next_hop = apr_psprintf(pool, "%s;transport=%s", o->uri, e->transport);
    apr_atomic_inc32(&p->outgoing);
    apr_thread_mutex_lock(m->out_lock);
    out->live_next = m->live;
    if (out->live_next)
        out->live_next->live_prevp = &out->live_next;
    out->live_prevp = &m->live;
    m->live = out;
    apr_thread_mutex_unlock(m->out_lock);
    if ((st = ep_profile_post(p, EP_SUMSG_OUTGOING, out, NULL)) != APR_SUCCESS) {
        apr_thread_mutex_lock(m->out_lock);
        out_unlink_live(out);
        apr_thread_mutex_unlock(m->out_lock);
        apr_atomic_dec32(&p->outgoing);
        apr_pool_destroy(pool);
    }
done:
    aorta_module_config_release(gen);
    return st;
}

/* ---- sip_options <endpoint> <uri> [<destination>|<route set>] --------------------------- */

typedef struct options_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done, refs, status;
    char phrase[128];
} options_wait_t;

static void options_wait_unref(options_wait_t *w)
{
    pthread_mutex_lock(&w->lock);
    int last = --w->refs == 0;
    pthread_mutex_unlock(&w->lock);
    if (last) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
    }
}

static void options_done(int status, const char *phrase, const sip_t *sip, void *user)
{
    options_wait_t *w = user;
    (void)sip;
    pthread_mutex_lock(&w->lock);
    w->status = status;
    apr_cpystrn(w->phrase, phrase ? phrase : "", sizeof w->phrase);
    w->done = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    options_wait_unref(w);
}

apr_status_t ep_cmd_sip_options(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    char *argv[3] = {NULL, NULL, NULL};
    int argc = aorta_api_split(args, pool, argv, 3);
    if (argc < 2) {
        aorta_stream_puts(out, "-ERR usage: sip_options <endpoint> <uri> [<destination>|<route set>]\n");
        return AORTA_ESYNTAX;
    }
    options_wait_t *w = calloc(1, sizeof *w);
    if (!w)
        return APR_ENOMEM;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->refs = 2;
    ep_outgoing_t o = {.endpoint = argv[0], .method = "OPTIONS", .uri = argv[1]};
    /* "<sip:...;lr>,<...>" is a route set; anything else is a destination address */
    if (argv[2] && argv[2][0] == '<')
        o.route = argv[2];
    else
        o.destination = argv[2];
    apr_status_t st = ep_request_send(&o, options_done, w);
    if (st != APR_SUCCESS) {
        char buf[120];
        w->refs = 1;
        options_wait_unref(w);
        aorta_stream_printf(out, "-ERR %s\n",
                            st == AORTA_ENOTFOUND ? "no such endpoint" : aorta_strerror(st, buf, sizeof buf));
        return st;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 70; /* beyond any transaction timeout (T1x64 <= 64 s) */
    pthread_mutex_lock(&w->lock);
    while (!w->done && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
        ;
    int done = w->done, status = w->status;
    char phrase[128];
    apr_cpystrn(phrase, w->phrase, sizeof phrase);
    pthread_mutex_unlock(&w->lock);
    options_wait_unref(w);
    if (!done) {
        aorta_stream_puts(out, "-ERR no final response\n");
        return APR_TIMEUP;
    }
    aorta_stream_printf(out, "%d %s\n", status, phrase);
    return APR_SUCCESS;
}
