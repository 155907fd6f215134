/*
 * ep_pipeline.c — the life of one incoming request (SPEC §6).
 *
 *   root thread                      worker (core pool, serialized by key)
 *   -----------                      ---------------------------------------
 *   default leg callback:
 *     copy the request (msg_dup),
 *     source/transport facts,
 *     push keyed task  ───────────►  acquire the configuration generation
 *                                    dialog cache, else identifiers in identify-order
 *                                    no endpoint: unidentified-response
 *                                    method service, or 501
 *                                    reply(): one malloc'd record
 *   send final, destroy irq  ◄─────  su_msg (one per final reply)
 *   free the request
 *
 * The fast path: when the method's service, every identifier and the challenger are all
 * EP_SERVICE_NONBLOCKING (REGISTER and OPTIONS with the shipped modules), the right-hand
 * column runs on the root thread itself, on the transaction's own message (no copy), and a
 * final reply given there is sent at once. Each hand-off costs two wake-ups of a sleeping
 * thread — at 5k requests/s more CPU than the registrar's whole work — and a thread that
 * only queues (the location writer, the event dispatcher) never makes the root wait.
 * REGISTERs of one AOR stay in order: one profile's requests run one after another, and
 * the location editor locks the AOR across profiles.
 *
 * Invariants: the nta_incoming_t is touched only by the root thread; the worker owns the
 * msg copy and the request pool; a request holds two references (the pipeline's and the
 * pending final reply's), plus one per provisional reply queued for the root thread, and
 * goes back to the root thread when all are gone, so a service may hold() it and reply from
 * any thread, even before its handler returned, and a final never overtakes a provisional. The key is the
 * To user for REGISTER (one AOR's REGISTERs run in order) and the Call-ID otherwise.
 */
#include "ep_internal.h"

#include <apr_strings.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_util.h>
#include <stdlib.h>
#include <string.h>

static const char *proto_name(const char *p)
{
    if (!p)
        return "udp";
    if (!strcasecmp(p, "tls"))
        return "tls";
    if (!strcasecmp(p, "tcp"))
        return "tcp";
    return "udp";
}

/*
 * Request pools. Each request needs a pool of its own (a held request outlives its task), but
 * an unmanaged APR pool costs an allocator plus an mmap'd node to create and a munmap to
 * destroy (Debian's APR allocates nodes with mmap): a quarter of the CPU of a 501 at 5k/s.
 * Pools are created and finished in the profile thread only, so that thread keeps a stack of
 * cleared ones: no lock, no system call per request after warm-up.
 */
#define EP_POOL_CACHE ((int)(sizeof(((ep_profile_t *)0)->pool_cache) / sizeof(apr_pool_t *)))
#define EP_POOL_KEEP (64 * 1024) /* bytes each cached pool's allocator may keep */

static apr_pool_t *pool_get(ep_profile_t *p)
{
    apr_pool_t *pool = NULL;
    if (p->pool_cache_n > 0)
        return p->pool_cache[--p->pool_cache_n];
    if (aorta_pool_create_unmanaged(&pool) != APR_SUCCESS)
        return NULL;
    apr_allocator_max_free_set(apr_pool_allocator_get(pool), EP_POOL_KEEP);
    return pool;
}

/* Root thread only (or @p p NULL: just destroy). */
static void pool_put(ep_profile_t *p, apr_pool_t *pool)
{
    if (p && p->pool_cache_n < EP_POOL_CACHE) {
        apr_pool_clear(pool);
        p->pool_cache[p->pool_cache_n++] = pool;
    } else {
        apr_pool_destroy(pool);
    }
}

void ep_pipeline_pools_free(ep_profile_t *p)
{
    while (p->pool_cache_n > 0)
        apr_pool_destroy(p->pool_cache[--p->pool_cache_n]);
}

/* @p root: the profile when called in its thread (the pool is recycled), else NULL. */
static void request_free(ep_request_t *req, ep_profile_t *root)
{
    ep_req_priv_t *priv = req->priv;
    if (req->msg)
        msg_destroy(req->msg);
    if (priv->gen)
        aorta_module_config_release(priv->gen);
    free(priv->final_rec);
    if (priv->final_msg)
        msg_destroy(priv->final_msg);
    pool_put(root, req->pool);
}

static void pipeline_run(void *arg);
static void pipeline_execute(ep_request_t *req);
static void pipeline_unref(ep_request_t *req);

/*
 * Root thread: build a request from @p orig (a reference the caller gives up), then run it
 * here when nothing on its path can wait, else queue it for a worker.
 * @p irq is the transaction to answer, or NULL when nta has answered already (CANCEL).
 * Returns 0, or a status for the caller to answer with.
 */
static int pipeline_dispatch(ep_profile_t *p, nta_incoming_t *irq, msg_t *orig, sip_method_t method)
{
    apr_pool_t *pool = pool_get(p);
    if (!pool) {
        msg_destroy(orig);
        return 500;
    }
    /* held from the decision to the end of the run, so no service can be unregistered between */
    ep_registry_rdlock(p->mod->registry);
    int here = ep_registry_nonblocking(p->mod->registry, sip_object(orig)->sip_request->rq_method_name);
    if (!here)
        ep_registry_unlock(p->mod->registry);
    ep_request_t *req = apr_pcalloc(pool, sizeof *req);
    ep_req_priv_t *priv = apr_pcalloc(pool, sizeof *priv);
    req->pool = pool;
    req->priv = priv;
    req->profile = p->name;
    req->received = apr_time_now();
    req->local_ip = p->set.sip_ip;
    priv->profile = p;
    priv->irq = irq;
    priv->irq_present = irq != NULL;

    su_sockaddr_t *sa = msg_addr(orig);
    if (sa) {
        su_inet_ntop(sa->su_family, SU_ADDR(sa), priv->src_ip_buf, sizeof priv->src_ip_buf);
        req->src_port = ntohs(sa->su_port);
    }
    req->src_ip = priv->src_ip_buf;
    tport_t *tp = nta_incoming_transport(p->agent, irq, orig);
    if (tp) {
        req->transport = proto_name(tport_name(tp)->tpn_proto);
        tport_t *listener = tport_parent(tp);
        const tp_name_t *ln = tport_name(listener ? listener : tp);
        req->local_port = (apr_port_t)(ln && ln->tpn_port ? atoi(ln->tpn_port) : 0);
        tport_unref(tp);
    } else {
        req->transport = "udp";
    }
    if (here) {
        /* our reference to the transaction's message: nobody changes it until the final reply */
        req->msg = orig;
    } else {
        /* the worker gets its own deep copy; the original stays with the transaction */
        req->msg = msg_dup(orig);
        msg_destroy(orig);
        if (!req->msg) {
            pool_put(p, pool);
            return 500;
        }
    }
    req->sip = sip_object(req->msg);
    req->method = method;
    req->method_name = req->sip->sip_request->rq_method_name;
    apr_atomic_set32(&priv->refs, 2);
    apr_atomic_inc32(&p->inflight);
    if (here) {
        p->on_root++;
        pipeline_execute(req);
        ep_registry_unlock(p->mod->registry);
        pipeline_unref(req);
        return 0;
    }

    const char *key = NULL;
    if (method == sip_method_register && req->sip->sip_to && req->sip->sip_to->a_url->url_user)
        key = req->sip->sip_to->a_url->url_user;
    else if (req->sip->sip_call_id)
        key = req->sip->sip_call_id->i_id;
    if (aorta_task_push_keyed_owned(p->mod->mod, key, key ? strlen(key) : 0, pipeline_run, req) != APR_SUCCESS) {
        apr_atomic_dec32(&p->inflight);
        apr_atomic_inc32(&p->rejected);
        msg_destroy(req->msg);
        pool_put(p, pool);
        return 503;
    }
    p->to_workers++;
    return 0;
}

/*
 * Root thread: an INVITE's transaction got a CANCEL (nta has answered it 200 and the INVITE
 * 487) or an ACK for a failure (nothing to do). The CANCEL goes to the CANCEL service, keyed
 * like the INVITE, so that the INVITE's service can stop what it started.
 */
static int pipeline_invite_event(ep_profile_t *p, nta_incoming_t *irq, const sip_t *sip)
{
    if (!sip || !sip->sip_request || sip->sip_request->rq_method != sip_method_cancel)
        return 0;
    if (!apr_atomic_read32(&p->accepting))
        return 0;
    msg_t *cancel = nta_incoming_getrequest_ackcancel(irq);
    if (cancel)
        pipeline_dispatch(p, NULL, cancel, sip_method_cancel);
    return 0;
}

int ep_pipeline_incoming(ep_profile_t *p, nta_incoming_t *irq, const sip_t *sip)
{
    sip_method_t method = sip->sip_request->rq_method;
    p->requests++;
    if (!apr_atomic_read32(&p->accepting)) {
        apr_atomic_inc32(&p->rejected);
        return method == sip_method_ack ? 200 /* nta sends nothing to ACK, just frees */ : 503;
    }
    if (sip->sip_route && method != sip_method_register) {
        /* a request of a dialog we proxied, coming back through our Record-Route */
        int st = ep_proxy_in_dialog(p, irq, sip);
        if (st >= 0)
            return st;
    }
    if (method == sip_method_invite)
        nta_incoming_bind(irq, pipeline_invite_event, p);
    int st = pipeline_dispatch(p, irq, nta_incoming_getrequest(irq), method);
    if (st && method == sip_method_ack)
        return 200;
    return st;
}

/*
 * Drop one reference; the last one sends the request back to its root thread — or, dropped
 * on the root thread itself (the fast path), finishes it there and then.
 */
static void pipeline_unref(ep_request_t *req)
{
    ep_req_priv_t *priv = req->priv;
    if (apr_atomic_dec32(&priv->refs) != 0)
        return;
    ep_profile_t *p = priv->profile;
    if (ep_profile_on_root(p)) {
        ep_pipeline_send_final(p, req);
        return;
    }
    if (ep_profile_post(p, EP_SUMSG_FINAL, req, NULL) != APR_SUCCESS) {
        /* the root is gone (shutdown past its grace period): nothing can be sent any more */
        request_free(req, NULL); /* not the profile thread: no recycling */
        ep_profile_request_done(p);
    }
}

ep_reply_rec_t *ep_reply_rec_make(int status, const char *phrase, const char *headers, const char *content_type,
                                  const char *body)
{
    apr_size_t lp = phrase ? strlen(phrase) + 1 : 0, lh = headers ? strlen(headers) + 1 : 0;
    apr_size_t lc = content_type ? strlen(content_type) + 1 : 0, lb = body ? strlen(body) + 1 : 0;
    ep_reply_rec_t *r = malloc(sizeof *r + lp + lh + lc + lb);
    if (!r)
        return NULL;
    char *d = (char *)(r + 1);
    r->status = status;
#define EP_COPY(field, src, len)                                                                                       \
    if (len) {                                                                                                         \
        memcpy(d, src, len);                                                                                           \
        r->field = d;                                                                                                  \
        d += len;                                                                                                      \
    } else {                                                                                                           \
        r->field = NULL;                                                                                               \
    }
    EP_COPY(phrase, phrase, lp)
    EP_COPY(headers, headers, lh)
    EP_COPY(content_type, content_type, lc)
    EP_COPY(body, body, lb)
#undef EP_COPY
    return r;
}

static int creates_dialog(sip_method_t m)
{
    return m == sip_method_invite || m == sip_method_subscribe || m == sip_method_refer;
}

apr_status_t ep_reply(ep_request_t *req, int status, const char *phrase, const char *headers, const char *content_type,
                      const char *body)
{
    ep_req_priv_t *priv = req->priv;
    if (status < 100 || status > 699)
        return APR_EINVAL;
    if (apr_atomic_read32(&priv->final))
        return APR_EINVAL;
    if (status < 200) {
        if (req->method == sip_method_ack)
            return APR_EINVAL;
        ep_reply_rec_t *rec = ep_reply_rec_make(status, phrase, headers, content_type, body);
        if (!rec)
            return APR_ENOMEM;
        if (ep_profile_on_root(priv->profile)) {
            /* in order with a final reply that the same thread may send right after */
            ep_pipeline_send_provisional(priv->profile, req, rec);
            return APR_SUCCESS;
        }
        /* the queued reply holds the request: a final given meanwhile on the profile thread
         * (the fast path sends it at once) must wait until this one has gone out */
        apr_atomic_inc32(&priv->refs);
        if (ep_profile_post(priv->profile, EP_SUMSG_PROVISIONAL, req, rec) != APR_SUCCESS) {
            free(rec);
            pipeline_unref(req);
            return APR_EGENERAL;
        }
        return APR_SUCCESS;
    }
    if (apr_atomic_cas32(&priv->final, 1, 0) != 0)
        return APR_EINVAL; /* another thread gave the final reply first */
    /* ACK gets no reply: completing it just frees the transaction */
    priv->final_rec =
        ep_reply_rec_make(req->method == sip_method_ack ? 0 : status, phrase, headers, content_type, body);
    if (status < 300 && req->endpoint && creates_dialog(req->method) && req->sip->sip_call_id)
        ep_dialogs_put(ep_g->dialogs, req->sip->sip_call_id->i_id, req->profile, req->endpoint->name,
                       priv->pconf ? priv->pconf->set.dialog_ttl : 3600);
    pipeline_unref(req);
    return APR_SUCCESS;
}

apr_status_t ep_proxy_relay(ep_request_t *req, ep_branch_event_t *ev)
{
    ep_req_priv_t *priv = req ? req->priv : NULL;
    if (!priv || !ev || !ev->msg || !priv->irq_present || apr_atomic_read32(&priv->final))
        return APR_EINVAL;
    msg_t *msg = ev->msg;
    ev->msg = NULL;
    ev->sip = NULL; /* it pointed into msg, which belongs to the profile thread now */
    if (ev->status < 200) {
        apr_atomic_inc32(&priv->refs); /* as for a provisional reply() */
        if (ep_profile_post(priv->profile, EP_SUMSG_RELAY, req, msg) != APR_SUCCESS) {
            msg_destroy(msg);
            pipeline_unref(req);
            return APR_EGENERAL;
        }
        return APR_SUCCESS;
    }
    if (apr_atomic_cas32(&priv->final, 1, 0) != 0) {
        msg_destroy(msg);
        return APR_EINVAL;
    }
    priv->final_msg = msg;
    if (ev->status < 300 && req->endpoint && req->sip->sip_call_id)
        ep_dialogs_put(ep_g->dialogs, req->sip->sip_call_id->i_id, req->profile, req->endpoint->name,
                       priv->pconf ? priv->pconf->set.dialog_ttl : 3600);
    pipeline_unref(req);
    return APR_SUCCESS;
}

void ep_proxy_relay_run(ep_profile_t *p, ep_request_t *req, msg_t *msg)
{
    ep_req_priv_t *priv = req->priv;
    (void)p;
    if (!priv->irq) {
        msg_destroy(msg);
    } else {
        sip_via_remove(msg, sip_object(msg));
        nta_incoming_mreply(priv->irq, msg);
    }
    pipeline_unref(req); /* the queued relay's reference */
}

void ep_hold(ep_request_t *req)
{
    apr_atomic_set32(&((ep_req_priv_t *)req->priv)->held, 1);
}

void ep_pipeline_provisional_run(ep_profile_t *p, ep_request_t *req, ep_reply_rec_t *rec)
{
    ep_pipeline_send_provisional(p, req, rec);
    pipeline_unref(req); /* the queued reply's reference */
}

void ep_pipeline_send_provisional(ep_profile_t *p, ep_request_t *req, ep_reply_rec_t *rec)
{
    ep_req_priv_t *priv = req->priv;
    (void)p;
    if (!priv->irq) {
        free(rec);
        return;
    }
    if (rec->status > 100)
        nta_incoming_tag(priv->irq, NULL);
    nta_incoming_treply(priv->irq, rec->status, rec->phrase, TAG_IF(priv->server, SIPTAG_SERVER_STR(priv->server)),
                        TAG_IF(rec->headers, SIPTAG_HEADER_STR(rec->headers)),
                        TAG_IF(rec->content_type, SIPTAG_CONTENT_TYPE_STR(rec->content_type)),
                        TAG_IF(rec->body, SIPTAG_PAYLOAD_STR(rec->body)), TAG_END());
    free(rec);
}

void ep_pipeline_send_final(ep_profile_t *p, ep_request_t *req)
{
    ep_req_priv_t *priv = req->priv;
    ep_reply_rec_t *rec = priv->final_rec;
    if (priv->final_msg) {
        /* proxy_relay(): the callee's response as received, less our Via */
        msg_t *fm = priv->final_msg;
        priv->final_msg = NULL;
        if (!priv->irq) {
            msg_destroy(fm);
        } else {
            sip_via_remove(fm, sip_object(fm));
            if (nta_incoming_mreply(priv->irq, fm) < 0)
                aorta_log(AORTA_LOG_DEBUG, "profile %s: could not relay a final response to %s %s (already answered)\n",
                          p->name, req->method_name, req->src_ip);
        }
    } else if (!priv->irq) {
        /* nothing to answer (CANCEL): nta did */
    } else if (rec && rec->status >= 200) {
        nta_incoming_tag(priv->irq, NULL);
        if (nta_incoming_treply(priv->irq, rec->status, rec->phrase,
                                TAG_IF(priv->server, SIPTAG_SERVER_STR(priv->server)),
                                TAG_IF(rec->headers, SIPTAG_HEADER_STR(rec->headers)),
                                TAG_IF(rec->content_type, SIPTAG_CONTENT_TYPE_STR(rec->content_type)),
                                TAG_IF(rec->body, SIPTAG_PAYLOAD_STR(rec->body)), TAG_END()) < 0)
            aorta_log(AORTA_LOG_DEBUG, "profile %s: could not send %d to %s %s (already answered, e.g. CANCEL)\n",
                      p->name, rec->status, req->method_name, req->src_ip);
    } else if (!rec && req->method != sip_method_ack) {
        nta_incoming_treply(priv->irq, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
    }
    if (priv->irq)
        nta_incoming_destroy(priv->irq);
    priv->irq = NULL;
    request_free(req, p);
    ep_profile_request_done(p);
}

/* Run a service or challenger with the reply contract: when it returns it has replied or held. */
static void call_service(ep_request_t *req, ep_method_fn fn, void *user, const char *what)
{
    ep_req_priv_t *priv = req->priv;
    fn(req, user);
    if (!apr_atomic_read32(&priv->held) && !apr_atomic_read32(&priv->final)) {
        if (req->method != sip_method_ack && priv->irq_present)
            aorta_log(AORTA_LOG_ERR, "%s for %s returned without a reply or hold: answering 500\n", what,
                      req->method_name);
        ep_reply(req, 500, "Internal Server Error", NULL, NULL, NULL);
    }
}

/* A worker's task: the slow path. */
static void pipeline_run(void *arg)
{
    ep_request_t *req = arg;
    ep_registry_rdlock(ep_g->registry);
    pipeline_execute(req);
    ep_registry_unlock(ep_g->registry);
    pipeline_unref(req);
}

/* Identify and serve @p req, on a worker or on the root thread; the registry is read-locked. */
static void pipeline_execute(ep_request_t *req)
{
    ep_req_priv_t *priv = req->priv;
    ep_mod_t *m = ep_g;
    const sip_t *sip = req->sip;

    priv->cfg = aorta_module_config_acquire(m->mod, &priv->gen);
    priv->pconf = ep_config_profile(priv->cfg, req->profile);
    if (!priv->pconf) {
        /* removed by a reload: its listeners keep running until `module reload` */
        ep_reply(req, 503, "Profile Not Configured", NULL, NULL, NULL);
        return;
    }
    if (priv->pconf->set.user_agent && *priv->pconf->set.user_agent)
        priv->server = priv->pconf->set.user_agent;

    const ep_endpoint_t *ep = NULL;
    if (sip->sip_to && sip->sip_to->a_tag && sip->sip_call_id) {
        char name[256];
        if (ep_dialogs_get(m->dialogs, sip->sip_call_id->i_id, req->profile, name, sizeof name)) {
            const ep_endpoint_ext_t *e = apr_hash_get(priv->pconf->endpoints, name, APR_HASH_KEY_STRING);
            if (e) {
                ep = &e->pub;
                req->identified_by = "dialog";
            }
        }
    }
    if (!ep)
        ep = ep_identify_run(m, req);
    /* ACK and an already answered CANCEL cannot be answered: they just finish */
    int answerable = req->method != sip_method_ack && priv->irq_present;
    if (!ep) {
        if (!answerable)
            ep_reply(req, 200, NULL, NULL, NULL, NULL);
        else
            ep_identify_reject(m, req);
    } else {
        req->endpoint = ep;
        aorta_log(AORTA_LOG_DEBUG, "%s %s from %s:%u/%s identified as endpoint %s by %s\n", req->method_name,
                  sip->sip_call_id ? sip->sip_call_id->i_id : "-", req->src_ip, req->src_port, req->transport, ep->name,
                  req->identified_by);
        ep_method_fn fn;
        void *user;
        if (ep_registry_method_find(m->registry, req->method_name, &fn, &user))
            call_service(req, fn, user, req->method_name);
        else if (!answerable)
            ep_reply(req, 200, NULL, NULL, NULL, NULL);
        else
            ep_reply(req, 501, "Not Implemented", NULL, NULL, NULL);
        if (req->method == sip_method_bye && sip->sip_call_id)
            ep_dialogs_remove(m->dialogs, sip->sip_call_id->i_id);
    }
}

void ep_options_service(ep_request_t *req, void *user)
{
    ep_mod_t *m = user;
    /* called with the registry's read side held, so the lists are stable */
    const char *allow = ep_registry_allow(m->registry, req->pool);
    const char *supported = ep_registry_supported(m->registry, req->pool);
    /* Supported may be empty (RFC 3261 allows "Supported:" with no tags): it says we require none */
    const char *headers =
        apr_psprintf(req->pool, "Allow: %s\r\nAccept: application/sdp\r\nSupported: %s\r\n", allow, supported);
    ep_reply(req, 200, "OK", headers, NULL, NULL);
}
