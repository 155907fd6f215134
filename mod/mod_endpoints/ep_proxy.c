/*
 * ep_proxy.c — the proxy primitives behind the dialplan's bridge (RFC 3261 §16): forwarding a
 * held INVITE to targets (branches), cancelling a branch, and routing the dialog's later
 * requests (ACK for 2xx, BYE, re-INVITE, UPDATE, INFO...) that come back through our
 * Record-Route, in both directions.
 *
 *   worker (the INVITE's service)          root thread (profile)
 *   ------------------------------         ----------------------------------------------
 *   proxy_branch_start: copy the INVITE,
 *     new R-URI, route set, Record-Route,
 *     Max-Forwards - 1         ──post──►   nta_outgoing_mcreate (nta adds its Via), timer
 *                                          each response: msg_dup ─► worker keyed by Call-ID
 *   branch callback ◄──────────────────    (100 is hop-by-hop: not reported)
 *   proxy_relay / proxy_branch_cancel ─►   nta_incoming_mreply / nta_outgoing_cancel
 *
 * Invariants: nta objects (orq, irq, timers) are touched by the root thread only. A branch is
 * one malloc'd block with references: the owner's (dropped after its final event returned),
 * the root's (dropped when its client transaction is gone) and one per pending cancel post.
 * A branch whose leg timeout passed is reported final (408, timed_out) at once and CANCELled;
 * its transaction stays open, silently, until the callee's final response ends it.
 * In-dialog requests are relayed only when their top Route is this profile AND their Call-ID
 * is one we forwarded an INVITE for (root-thread table, entries expire with dialog-cache-ttl
 * unless an in-dialog request refreshes them), so the proxy is not an open relay. A forked
 * INVITE may set up several dialogs (every 2xx is forwarded, RFC 3261 §16.7 step 5): the table
 * has one entry per dialog, keyed by the callee's tag, and the Call-ID is forgotten when the
 * BYE of its last dialog is answered. Each side's entry keeps the next hop that reaches it
 * when its Contact does not (NAT): the callee's `destination`, the caller's source address;
 * requests towards that side (To tag = its tag) go there, the Request-URI unchanged. Two
 * Record-Route entries (RFC 5658) when the callee's transport differs from the caller's.
 */
#include "ep_internal.h"
#include "ep_route.h"

#include <apr_strings.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/nta_stateless.h>
#include <stdlib.h>
#include <string.h>

#define EP_NONE ((void *)-1) /* sofia's NONE: a stateless nta_outgoing_mcreate's result */
#define EP_BRIDGED_SWEEP 4096

struct ep_branch {
    ep_mod_t *m;
    ep_profile_t *p;
    char *key; /* the Call-ID: the worker key of every event */
    msg_t *msg; /* the INVITE to send, until the root thread sent it */
    char *destination;
    char *caller_key;  /* "Call-ID\x01caller-tag", NULL without a From tag */
    char *caller_dest; /* the caller's source address when its Contact does not reach it, or NULL */
    int timeout_ms;
    int ttl;
    ep_branch_fn fn;
    void *user;
    aorta_module_t *owner; /* whose code fn is: its unload waits for the events */
    volatile apr_uint32_t refs;
    /* root thread only */
    nta_outgoing_t *orq;
    su_timer_t *timer;
    int final_reported;
    struct ep_branch *next, **prevp;
};

typedef struct ep_bevent {
    ep_branch_event_t ev;
    ep_branch_t *b;
    int final;
    char phrase[128];
} ep_bevent_t;

typedef struct ep_relay {
    ep_profile_t *p;
    nta_incoming_t *irq;
    nta_outgoing_t *orq;
    int is_bye;
    char *call_id;
    char *dest_keys[2]; /* a BYE's "Call-ID\x01tag" of both its tags: forgotten with the call */
    struct ep_relay *next, **prevp;
} ep_relay_t;

/* ---- helpers ---------------------------------------------------------------------------- */

/* Is @p r (a Route entry) this profile? Host is its sip-ip, port its SIP or TLS port. */
static int route_is_us(const ep_profile_t *p, const sip_route_t *r)
{
    const url_t *u = r ? r->r_url : NULL;
    return u && ep_route_is_local(u->url_host, u->url_port, u->url_type == url_sips, p->set.sip_ip, p->set.sip_port,
                                  p->set.tls_port);
}

/* Our Record-Route entry for @p transport: the profile's address, the TLS port for tls. */
static sip_record_route_t *record_route_make(su_home_t *home, const ep_profile_t *p, const char *transport,
                                             apr_pool_t *pool)
{
    int v6 = strchr(p->set.sip_ip, ':') != NULL;
    int port = strcasecmp(transport, "tls") ? p->set.sip_port : p->set.tls_port;
    const char *tr = strcasecmp(transport, "udp") ? apr_psprintf(pool, ";transport=%s", transport) : "";
    return sip_record_route_make(
        home, apr_psprintf(pool, "<sip:%s%s%s:%d%s;lr>", v6 ? "[" : "", p->set.sip_ip, v6 ? "]" : "", port, tr));
}

static void branch_unref(ep_branch_t *b)
{
    if (apr_atomic_dec32(&b->refs) != 0)
        return;
    if (b->msg)
        msg_destroy(b->msg);
    free(b->key);
    free(b->destination);
    free(b->caller_key);
    free(b->caller_dest);
    free(b);
}

/* Insert a route set "<a>,<b>" before the request's Routes, in order. */
static int route_set_insert(msg_t *msg, sip_t *sip, const char *set)
{
    su_home_t *home = msg_home(msg);
    char *items[32], *copy = su_strdup(home, set);
    int n = copy ? ep_route_set_split(copy, items, 32) : -1;
    sip_route_t *r[32];
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (!(r[i] = sip_route_make(home, items[i])))
            return -1;
    for (int i = n - 1; i >= 0; i--)
        if (msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)r[i]) < 0)
            return -1;
    return 0;
}

/* ---- the bridged Call-IDs (root thread) ----------------------------------------------- */

/*
 * The table holds three kinds of keys: a Call-ID (the call was proxied by us; it counts its
 * dialogs), "Call-ID\x01callee-tag" for each callee that answered 2xx, and
 * "Call-ID\x01caller-tag" when the caller's Contact does not reach it. A side's entry may hold
 * the next hop that reaches it (a NAT'd source address), so the dialog's later requests
 * towards that side take the flow its INVITE came or went by.
 */
enum { EP_BRIDGED_CALL, EP_BRIDGED_CALLEE, EP_BRIDGED_CALLER };

typedef struct ep_bridged_e {
    apr_time_t expires;
    int ttl;     /* s: what a refresh adds */
    int kind;    /* EP_BRIDGED_* */
    int dialogs; /* a Call-ID's: callee entries whose BYE has not been answered */
    char *dest;  /* a side's next hop, or NULL: its Contact */
} ep_bridged_e;

/* "Call-ID\x01tag", malloc'd (NULL when out of memory or without a tag). */
static char *bridged_dest_key(const char *call_id, const char *tag)
{
    char *key = call_id && tag ? malloc(strlen(call_id) + strlen(tag) + 2) : NULL;
    if (key)
        sprintf(key, "%s\x01%s", call_id, tag);
    return key;
}

/* The entry of @p key (created as @p kind when missing, *created set), its lifetime renewed. */
static ep_bridged_e *bridged_put(ep_profile_t *p, const char *key, int kind, const char *dest, int ttl, int *created)
{
    apr_time_t now = apr_time_now();
    if (created)
        *created = 0;
    if (!p->bridged || ++p->bridged_adds % EP_BRIDGED_SWEEP == 0) {
        apr_pool_t *pool;
        if (aorta_pool_create_unmanaged(&pool) != APR_SUCCESS)
            return NULL;
        apr_hash_t *h = apr_hash_make(pool);
        for (apr_hash_index_t *hi = p->bridged ? apr_hash_first(NULL, p->bridged) : NULL; hi; hi = apr_hash_next(hi)) {
            const void *k;
            void *v;
            apr_hash_this(hi, &k, NULL, &v);
            const ep_bridged_e *old = v;
            if (old->expires > now) {
                ep_bridged_e *e = apr_palloc(pool, sizeof *e);
                *e = *old;
                e->dest = old->dest ? apr_pstrdup(pool, old->dest) : NULL;
                apr_hash_set(h, apr_pstrdup(pool, k), APR_HASH_KEY_STRING, e);
            }
        }
        if (p->bridged_pool)
            apr_pool_destroy(p->bridged_pool);
        p->bridged_pool = pool;
        p->bridged = h;
    }
    ep_bridged_e *e = apr_hash_get(p->bridged, key, APR_HASH_KEY_STRING);
    if (e && e->expires <= now) {
        apr_hash_set(p->bridged, key, APR_HASH_KEY_STRING, NULL); /* a stale one starts over */
        e = NULL;
    }
    if (!e) {
        e = apr_pcalloc(p->bridged_pool, sizeof *e);
        e->kind = kind;
        apr_hash_set(p->bridged, apr_pstrdup(p->bridged_pool, key), APR_HASH_KEY_STRING, e);
        if (created)
            *created = 1;
    }
    e->ttl = ttl > 0 ? ttl : 3600;
    e->expires = now + apr_time_from_sec(e->ttl);
    if (dest && (!e->dest || strcmp(e->dest, dest)))
        e->dest = apr_pstrdup(p->bridged_pool, dest); /* rare: the pool's rebuild reclaims the old one */
    return e;
}

static ep_bridged_e *bridged_get(ep_profile_t *p, const char *key)
{
    ep_bridged_e *e = p->bridged && key ? apr_hash_get(p->bridged, key, APR_HASH_KEY_STRING) : NULL;
    return e && e->expires > apr_time_now() ? e : NULL;
}

static int bridged_has(ep_profile_t *p, const char *call_id)
{
    return bridged_get(p, call_id) != NULL;
}

/* A callee answered 2xx with tag @p tag: one more dialog of the call, with its next hop. */
static void bridged_dialog_add(ep_profile_t *p, const char *call_id, const char *tag, const char *dest, int ttl)
{
    char *key = bridged_dest_key(call_id, tag);
    int created;
    if (key && bridged_put(p, key, EP_BRIDGED_CALLEE, dest, ttl, &created) && created) {
        ep_bridged_e *call = bridged_put(p, call_id, EP_BRIDGED_CALL, NULL, ttl, NULL);
        if (call)
            call->dialogs++;
    }
    free(key);
}

/* An in-dialog request: the call and both sides' entries live on for another dialog-cache-ttl. */
static void bridged_refresh(ep_profile_t *p, const char *call_id, const char *tag1, const char *tag2)
{
    apr_time_t now = apr_time_now();
    const char *tags[2] = {tag1, tag2};
    ep_bridged_e *e = bridged_get(p, call_id);
    if (e)
        e->expires = now + apr_time_from_sec(e->ttl);
    for (int i = 0; i < 2; i++) {
        char *key = bridged_dest_key(call_id, tags[i]);
        if ((e = bridged_get(p, key)) != NULL)
            e->expires = now + apr_time_from_sec(e->ttl);
        free(key);
    }
}

/* The next hop remembered for requests towards the side whose tag is @p to_tag, or NULL. */
static const char *bridged_dest(ep_profile_t *p, const char *call_id, const char *to_tag)
{
    char *key = bridged_dest_key(call_id, to_tag);
    ep_bridged_e *e = key ? bridged_get(p, key) : NULL;
    free(key);
    return e ? e->dest : NULL;
}

/* A BYE's final response (@p dest_keys: "Call-ID\x01tag" of both its tags): that dialog is
 * over; the call, and the caller's entry, when it was the last one. */
static void bridged_bye(ep_profile_t *p, const char *call_id, char *const dest_keys[2])
{
    if (!p->bridged)
        return;
    ep_bridged_e *call = apr_hash_get(p->bridged, call_id, APR_HASH_KEY_STRING);
    for (int i = 0; i < 2; i++) {
        ep_bridged_e *e = dest_keys[i] ? apr_hash_get(p->bridged, dest_keys[i], APR_HASH_KEY_STRING) : NULL;
        if (e && e->kind == EP_BRIDGED_CALLEE) {
            apr_hash_set(p->bridged, dest_keys[i], APR_HASH_KEY_STRING, NULL);
            if (call && call->dialogs > 0)
                call->dialogs--;
        }
    }
    if (call && call->dialogs > 0)
        return; /* another 2xx of the fork set up a dialog that still runs */
    apr_hash_set(p->bridged, call_id, APR_HASH_KEY_STRING, NULL);
    for (int i = 0; i < 2; i++)
        if (dest_keys[i])
            apr_hash_set(p->bridged, dest_keys[i], APR_HASH_KEY_STRING, NULL);
}

/* ---- branches: events to the worker ------------------------------------------------------ */

static void branch_deliver(void *arg)
{
    ep_bevent_t *e = arg;
    ep_branch_t *b = e->b;
    b->fn(b, &e->ev, b->user);
    if (e->ev.msg)
        msg_destroy(e->ev.msg);
    if (e->final)
        branch_unref(b); /* the owner's reference: the branch is gone for it now */
    free(e);
}

/* Root thread: report @p status (with a copy of @p resp, a reference the caller keeps). */
static void branch_report(ep_branch_t *b, int status, const char *phrase, msg_t *resp, int timed_out)
{
    ep_bevent_t *e = calloc(1, sizeof *e);
    if (!e) {
        if (status < 200)
            return;
        aorta_log(AORTA_LOG_CRIT, "proxy: out of memory reporting a final response: branch leaked\n");
        return;
    }
    e->b = b;
    e->final = status >= 200;
    e->ev.status = status;
    e->ev.timed_out = timed_out;
    apr_cpystrn(e->phrase, phrase ? phrase : sip_status_phrase(status) ? sip_status_phrase(status) : "",
                sizeof e->phrase);
    e->ev.phrase = e->phrase;
    if (resp && (e->ev.msg = msg_dup(resp)))
        e->ev.sip = sip_object(e->ev.msg);
    e->ev.priv = b->p;
    if (e->final)
        b->final_reported = 1;
    if (aorta_task_push_keyed_owned(b->owner ? b->owner : b->m->mod, b->key, strlen(b->key), branch_deliver, e) !=
        APR_SUCCESS)
        branch_deliver(e); /* the pool is draining: run it here rather than lose the event */
}

/* Root thread: the client transaction is over (or never was). */
static void branch_close(ep_profile_t *p, ep_branch_t *b)
{
    (void)p;
    if (b->timer)
        su_timer_destroy(b->timer), b->timer = NULL;
    if (b->orq)
        nta_outgoing_destroy(b->orq), b->orq = NULL;
    if (b->prevp) {
        *b->prevp = b->next;
        if (b->next)
            b->next->prevp = b->prevp;
        b->prevp = NULL;
    }
    branch_unref(b); /* the root's reference */
}

static int branch_response(struct ep_out *magic, nta_outgoing_t *orq, const sip_t *sip)
{
    ep_branch_t *b = (ep_branch_t *)magic;
    int status = sip && sip->sip_status ? sip->sip_status->st_status : nta_outgoing_status(orq);
    const char *phrase = sip && sip->sip_status ? sip->sip_status->st_phrase : NULL;
    if (status <= 100)
        return 0; /* hop by hop */
    if (status >= 200 && status < 300 && sip && sip->sip_to && sip->sip_to->a_tag)
        /* a dialog: its later requests (ACK, BYE, re-INVITE) towards this callee take its flow */
        bridged_dialog_add(b->p, b->key, sip->sip_to->a_tag, b->destination, b->ttl);
    if (!b->final_reported) {
        msg_t *resp = sip ? nta_outgoing_getresponse(orq) : NULL;
        branch_report(b, status, phrase, resp, 0);
        if (resp)
            msg_destroy(resp);
    }
    if (status >= 200)
        branch_close(b->p, b);
    return 0;
}

static void branch_timeout(ep_profile_t *p, su_timer_t *t, su_timer_arg_t *arg)
{
    ep_branch_t *b = arg;
    (void)p;
    (void)t; /* not running any more; branch_close destroys it */
    if (b->final_reported || !b->orq)
        return;
    aorta_log(AORTA_LOG_DEBUG, "proxy %s: branch timed out after %d ms: CANCEL\n", b->key, b->timeout_ms);
    nta_outgoing_cancel(b->orq);
    branch_report(b, 408, "Request Timeout", NULL, 1);
}

void ep_proxy_branch_run(ep_profile_t *p, ep_branch_t *b)
{
    bridged_put(p, b->key, EP_BRIDGED_CALL, NULL, b->ttl, NULL);
    if (b->caller_key)
        bridged_put(p, b->caller_key, EP_BRIDGED_CALLER, b->caller_dest, b->ttl, NULL);
    msg_t *msg = b->msg;
    b->msg = NULL;
    b->orq = p->agent ? nta_outgoing_mcreate(p->agent, branch_response, (struct ep_out *)b,
                                             b->destination ? URL_STRING_MAKE(b->destination) : NULL, msg, TAG_END())
                      : NULL;
    if (!b->orq) {
        msg_destroy(msg);
        aorta_log(AORTA_LOG_WARNING, "proxy %s: cannot send the INVITE\n", b->key);
        branch_report(b, 503, "Cannot Send Request", NULL, 0);
        branch_close(p, b);
        return;
    }
    b->next = p->branches;
    if (b->next)
        b->next->prevp = &b->next;
    b->prevp = &p->branches;
    p->branches = b;
    if (b->timeout_ms > 0 && (b->timer = su_timer_create(su_root_task(p->root), (su_duration_t)b->timeout_ms)))
        su_timer_set(b->timer, branch_timeout, b);
}

void ep_proxy_branch_cancel_run(ep_profile_t *p, ep_branch_t *b)
{
    (void)p;
    if (b->orq && !b->final_reported)
        nta_outgoing_cancel(b->orq); /* nta waits for a provisional before sending it (RFC 3261 §9.1) */
    branch_unref(b);
}

/* ---- branches: the worker side ------------------------------------------------------------ */

apr_status_t ep_proxy_branch_start(ep_request_t *req, const ep_target_t *t, ep_branch_fn fn, void *user,
                                   ep_branch_t **out)
{
    ep_req_priv_t *priv = req ? req->priv : NULL;
    if (!priv || !t || !t->uri || !fn || !out || req->method != sip_method_invite || !priv->irq_present ||
        !req->sip->sip_call_id)
        return APR_EINVAL;
    if (strncasecmp(t->uri, "sip:", 4) && strncasecmp(t->uri, "sips:", 5))
        return AORTA_ESYNTAX;
    ep_profile_t *p = priv->profile;
    if (req->sip->sip_max_forwards && req->sip->sip_max_forwards->mf_count == 0)
        return APR_EINVAL; /* the caller answers 483 */

    /* the worker's private copy is copied again: each branch sends its own message */
    msg_t *msg = msg_dup(req->msg);
    if (!msg)
        return APR_ENOMEM;
    sip_t *sip = sip_object(msg);
    su_home_t *home = msg_home(msg);
    sip_request_t *rq = sip_request_create(home, SIP_METHOD_INVITE, URL_STRING_MAKE(t->uri), NULL);
    /* the transport towards the callee: its destination's, else its route's first hop's, else its URI's */
    char out_tp[16], first[512] = "";
    if (t->route && *t->route)
        apr_cpystrn(first, t->route, sizeof first); /* only its first entry is read */
    if (ep_route_transport(t->destination && *t->destination ? t->destination : *first ? first : t->uri, out_tp,
                           sizeof out_tp) < 0)
        apr_cpystrn(out_tp, "udp", sizeof out_tp);
    /* double Record-Route (RFC 5658) when the transports differ: each side's in-dialog requests
     * then come back to us on its own transport; the callee-facing entry ends up on top */
    sip_record_route_t *rr = record_route_make(home, p, req->transport, req->pool);
    int twice = strcasecmp(out_tp, req->transport) != 0;
    sip_record_route_t *rr2 = twice ? record_route_make(home, p, out_tp, req->pool) : NULL;
    sip_max_forwards_t *mf = sip_max_forwards_make(
        home, apr_itoa(req->pool, req->sip->sip_max_forwards ? (int)req->sip->sip_max_forwards->mf_count - 1 : 70));
    if (!rq || !rr || !mf || (twice && !rr2) || msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)rq) < 0) {
        msg_destroy(msg);
        return AORTA_ESYNTAX;
    }
    while (sip->sip_route && route_is_us(p, sip->sip_route))
        sip_route_remove(msg, sip);
    if ((t->route && *t->route && route_set_insert(msg, sip, t->route) < 0) ||
        msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)rr) < 0 ||
        (rr2 && msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)rr2) < 0) ||
        msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)mf) < 0) {
        msg_destroy(msg);
        return AORTA_ESYNTAX;
    }
    /* a caller whose Contact is not where its INVITE came from (NAT): the callee's requests go
     * back by that source, as its responses do (received/rport) */
    const char *caller_dest = NULL;
    const sip_contact_t *m = req->sip->sip_contact;
    if (req->sip->sip_from && req->sip->sip_from->a_tag && req->src_ip && m &&
        !ep_route_uri_is_source(m->m_url->url_host, m->m_url->url_port, m->m_url->url_type == url_sips, req->src_ip,
                                req->src_port)) {
        int v6 = strchr(req->src_ip, ':') != NULL;
        caller_dest = apr_psprintf(req->pool, "sip:%s%s%s:%u;transport=%s", v6 ? "[" : "", req->src_ip, v6 ? "]" : "",
                                   req->src_port, req->transport);
    }
    ep_branch_t *b = calloc(1, sizeof *b);
    if (!b || !(b->key = strdup(req->sip->sip_call_id->i_id)) ||
        (t->destination && *t->destination && !(b->destination = strdup(t->destination))) ||
        (caller_dest && (!(b->caller_key = bridged_dest_key(b->key, req->sip->sip_from->a_tag)) ||
                         !(b->caller_dest = strdup(caller_dest))))) {
        if (b)
            free(b->key), free(b->destination), free(b->caller_key), free(b);
        msg_destroy(msg);
        return APR_ENOMEM;
    }
    b->m = ep_g;
    b->p = p;
    b->msg = msg;
    b->fn = fn;
    b->user = user;
    b->timeout_ms = t->timeout_ms;
    b->owner = t->owner;
    b->ttl = priv->pconf ? priv->pconf->set.dialog_ttl : 3600;
    apr_atomic_set32(&b->refs, 2);
    *out = b;
    if (ep_profile_post(p, EP_SUMSG_BRANCH_START, b, NULL) != APR_SUCCESS) {
        apr_atomic_set32(&b->refs, 1);
        branch_unref(b);
        *out = NULL;
        return AORTA_ESHUTDOWN;
    }
    return APR_SUCCESS;
}

void ep_proxy_branch_cancel(ep_branch_t *b)
{
    if (!b)
        return;
    apr_atomic_inc32(&b->refs);
    if (ep_profile_post(b->p, EP_SUMSG_BRANCH_CANCEL, b, NULL) != APR_SUCCESS)
        branch_unref(b);
}

/* Hand a branch's 2xx (ev->msg, taken) to the profile thread as message @p kind. */
static apr_status_t post_2xx(ep_branch_event_t *ev, int kind)
{
    if (!ev || !ev->msg || !ev->priv || ev->status < 200 || ev->status >= 300)
        return APR_EINVAL;
    msg_t *msg = ev->msg;
    ev->msg = NULL;
    ev->sip = NULL;
    if (ep_profile_post(ev->priv, kind, msg, NULL) != APR_SUCCESS) {
        msg_destroy(msg);
        return AORTA_ESHUTDOWN;
    }
    return APR_SUCCESS;
}

apr_status_t ep_proxy_ackbye(ep_branch_event_t *ev)
{
    return post_2xx(ev, EP_SUMSG_ACKBYE);
}

void ep_proxy_ackbye_run(ep_profile_t *p, msg_t *msg)
{
    if (!p->agent || nta_msg_ackbye(p->agent, msg) < 0)
        msg_destroy(msg);
}

static int via_is_us(const ep_profile_t *p, const sip_via_t *v)
{
    return v && ep_route_is_local(v->v_host, v->v_port, 0, p->set.sip_ip, p->set.sip_port, p->set.tls_port);
}

apr_status_t ep_proxy_forward_2xx(ep_branch_event_t *ev)
{
    return post_2xx(ev, EP_SUMSG_FORWARD_2XX);
}

void ep_proxy_forward_2xx_run(ep_profile_t *p, msg_t *msg)
{
    sip_t *sip = sip_object(msg);
    if (!p->agent || !sip || !sip->sip_via || !sip->sip_via->v_next || !via_is_us(p, sip->sip_via)) {
        /* nowhere to send it back: rather than leave the callee waiting for an ACK, end it */
        aorta_log(AORTA_LOG_WARNING, "proxy %s: a 2xx without the caller's Via: ACK and BYE\n",
                  sip && sip->sip_call_id ? sip->sip_call_id->i_id : "-");
        ep_proxy_ackbye_run(p, msg);
        return;
    }
    nta_msg_tsend(p->agent, msg, NULL, TAG_END()); /* removes our Via, sends by the caller's; takes msg */
}

apr_status_t ep_proxy_challenges_add(ep_branch_event_t *into, const ep_branch_event_t *from)
{
    if (!into || !into->msg || !from || !from->msg || into == from)
        return APR_EINVAL;
    sip_t *dst = sip_object(into->msg);
    const sip_t *src = sip_object(from->msg);
    if (!dst || !src)
        return APR_EINVAL;
    /* without modification (RFC 3261 §16.7 step 7): copies of the header lists, in order */
    if ((src->sip_www_authenticate &&
         msg_header_add_dup(into->msg, (msg_pub_t *)dst, (const msg_header_t *)src->sip_www_authenticate) < 0) ||
        (src->sip_proxy_authenticate &&
         msg_header_add_dup(into->msg, (msg_pub_t *)dst, (const msg_header_t *)src->sip_proxy_authenticate) < 0))
        return APR_ENOMEM;
    return APR_SUCCESS;
}

int ep_proxy_stray_response(ep_profile_t *p, msg_t *msg, sip_t *sip)
{
    /* only what this proxy forwarded: an INVITE 2xx of a bridged call, our Via on top */
    if (!sip || !sip->sip_status || sip->sip_status->st_status < 200 || sip->sip_status->st_status >= 300 ||
        !sip->sip_cseq || sip->sip_cseq->cs_method != sip_method_invite || !sip->sip_call_id ||
        !sip->sip_via || !sip->sip_via->v_next || !via_is_us(p, sip->sip_via) ||
        !bridged_has(p, sip->sip_call_id->i_id))
        return 0;
    aorta_log(AORTA_LOG_DEBUG, "proxy %s: forwarding a retransmitted 2xx statelessly\n", sip->sip_call_id->i_id);
    nta_msg_tsend(p->agent, msg, NULL, TAG_END()); /* removes our Via, sends by the next; takes msg */
    return 1;
}

/* ---- in-dialog requests ------------------------------------------------------------------- */

static void relay_close(ep_relay_t *r)
{
    if (r->orq)
        nta_outgoing_destroy(r->orq);
    if (r->irq)
        nta_incoming_destroy(r->irq);
    *r->prevp = r->next;
    if (r->next)
        r->next->prevp = r->prevp;
    free(r->call_id);
    free(r->dest_keys[0]);
    free(r->dest_keys[1]);
    free(r);
}

static int relay_response(struct ep_out *magic, nta_outgoing_t *orq, const sip_t *sip)
{
    ep_relay_t *r = (ep_relay_t *)magic;
    int status = sip && sip->sip_status ? sip->sip_status->st_status : nta_outgoing_status(orq);
    if (status <= 100)
        return 0;
    msg_t *resp = sip ? nta_outgoing_getresponse(orq) : NULL;
    if (resp) {
        sip_via_remove(resp, sip_object(resp));
        nta_incoming_mreply(r->irq, resp);
    } else {
        nta_incoming_treply(r->irq, status, sip_status_phrase(status), TAG_END());
    }
    if (status >= 200) {
        if (r->is_bye)
            bridged_bye(r->p, r->call_id, r->dest_keys);
        relay_close(r);
    }
    return 0;
}

int ep_proxy_in_dialog(ep_profile_t *p, nta_incoming_t *irq, const sip_t *sip)
{
    if (!sip->sip_route || !route_is_us(p, sip->sip_route) || !sip->sip_call_id || !sip->sip_to ||
        !sip->sip_to->a_tag || !bridged_has(p, sip->sip_call_id->i_id))
        return -1;
    bridged_refresh(p, sip->sip_call_id->i_id, sip->sip_to->a_tag, sip->sip_from ? sip->sip_from->a_tag : NULL);
    sip_method_t method = sip->sip_request->rq_method;
    msg_t *orig = nta_incoming_getrequest(irq);
    msg_t *msg = orig ? msg_dup(orig) : NULL;
    if (orig)
        msg_destroy(orig);
    if (!msg)
        return method == sip_method_ack ? 200 : 500;
    sip_t *s = sip_object(msg);
    char last_tp[16] = ""; /* the transport our last Route entry names: with double record-routing
                            * (RFC 5658) the one towards the next hop */
    while (s->sip_route && route_is_us(p, s->sip_route)) {
        char *rs = url_as_string(msg_home(msg), s->sip_route->r_url);
        if (!rs || ep_route_transport(rs, last_tp, sizeof last_tp) < 0)
            last_tp[0] = '\0';
        sip_route_remove(msg, s);
    }
    /* the next hop: the remembered flow of the side it goes to (a NAT'd source), else
     * the Request-URI on the transport our Route asked for when nothing else routes it */
    const char *dest = bridged_dest(p, sip->sip_call_id->i_id, sip->sip_to->a_tag);
    const url_t *ru = s->sip_request->rq_url;
    char ru_tp[16];
    if (!dest && !s->sip_route && *last_tp && ru && ru->url_host && !url_param(ru->url_params, "transport", NULL, 0) &&
        ep_route_transport(ru->url_type == url_sips ? "sips:" : "sip:", ru_tp, sizeof ru_tp) == 0 &&
        strcmp(ru_tp, last_tp))
        dest = su_sprintf(msg_home(msg), "%s:%s%s%s;transport=%s", ru->url_type == url_sips ? "sips" : "sip",
                          ru->url_host, ru->url_port ? ":" : "", ru->url_port ? ru->url_port : "", last_tp);
    if (s->sip_max_forwards) {
        if (s->sip_max_forwards->mf_count == 0) {
            msg_destroy(msg);
            return method == sip_method_ack ? 200 : 483;
        }
        char n[24];
        snprintf(n, sizeof n, "%lu", s->sip_max_forwards->mf_count - 1);
        sip_max_forwards_t *mf = sip_max_forwards_make(msg_home(msg), n);
        if (mf)
            msg_header_insert(msg, (msg_pub_t *)s, (msg_header_t *)mf);
    }
    aorta_log(AORTA_LOG_DEBUG, "proxy %s: routing in-dialog %s%s%s\n", sip->sip_call_id->i_id,
              sip->sip_request->rq_method_name, dest ? " via " : "", dest ? dest : "");
    url_string_t *hop = dest ? URL_STRING_MAKE(dest) : NULL;
    if (method == sip_method_ack) {
        /* the ACK of a 2xx is its own transaction-less request: forwarded statelessly */
        nta_outgoing_t *o = nta_outgoing_mcreate(p->agent, NULL, NULL, hop, msg, NTATAG_STATELESS(1), TAG_END());
        if (!o)
            msg_destroy(msg);
        else if (o != EP_NONE)
            nta_outgoing_destroy(o);
        return 200; /* nta sends nothing to an ACK: it is just freed */
    }
    ep_relay_t *r = calloc(1, sizeof *r);
    if (!r || !(r->call_id = strdup(sip->sip_call_id->i_id))) {
        free(r);
        msg_destroy(msg);
        return 500;
    }
    r->p = p;
    r->irq = irq;
    r->is_bye = method == sip_method_bye;
    if (r->is_bye) {
        r->dest_keys[0] = bridged_dest_key(sip->sip_call_id->i_id, sip->sip_to->a_tag);
        r->dest_keys[1] = sip->sip_from ? bridged_dest_key(sip->sip_call_id->i_id, sip->sip_from->a_tag) : NULL;
    }
    r->next = p->relays;
    if (r->next)
        r->next->prevp = &r->next;
    r->prevp = &p->relays;
    p->relays = r;
    r->orq = nta_outgoing_mcreate(p->agent, relay_response, (struct ep_out *)r, hop, msg, TAG_END());
    if (!r->orq) {
        msg_destroy(msg);
        r->irq = NULL; /* answered by our return value */
        relay_close(r);
        return 503;
    }
    return 0;
}

void ep_proxy_abort_all(ep_profile_t *p)
{
    while (p->relays) {
        ep_relay_t *r = p->relays;
        nta_incoming_treply(r->irq, 503, "Shutting Down", TAG_END());
        relay_close(r);
    }
    while (p->branches) {
        ep_branch_t *b = p->branches;
        if (!b->final_reported)
            branch_report(b, 503, "Shutting Down", NULL, 0);
        branch_close(p, b);
    }
    if (p->bridged_pool)
        apr_pool_destroy(p->bridged_pool), p->bridged_pool = NULL, p->bridged = NULL;
}
