/*
 * ep_profile.c — one running SIP profile: its thread, su_root and nta agent.
 *
 * Invariants:
 *  - The root and the agent are created, used and destroyed in the profile's own thread.
 *    Other threads reach it only through su_msg (ep_profile_post) or su_task_execute.
 *  - load() waits on a condition until the thread reports "running" or a bind failure
 *    (with the URL and the system's reason); no sleeps.
 *  - Stopping: new requests get 503 from the root thread, in-flight requests are given time to
 *    finish (they are ours: dependants were unloaded first), then a message whose handler
 *    calls su_root_break ends the loop, and the thread tears the agent down and is joined.
 */
#include "ep_internal.h"

#include <apr_strings.h>
#include <apr_file_info.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/su_log.h>
#include <string.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define EP_STOP_GRACE (10 * APR_USEC_PER_SEC)
#define EP_MAX_SOURCES 1024

static int profile_stray(ep_profile_t *p, nta_agent_t *agent, msg_t *msg, sip_t *sip)
{
    /* Requests all reach the default leg; what lands here is a stray response: a bridged
     * callee's 2xx retransmission goes on to the caller, anything else is dropped. */
    (void)agent;
    if (!ep_proxy_stray_response(p, msg, sip))
        msg_destroy(msg);
    return 0;
}

static int profile_leg_request(ep_profile_t *p, nta_leg_t *leg, nta_incoming_t *irq, const sip_t *sip)
{
    (void)leg;
    return ep_pipeline_incoming(p, irq, sip);
}

static void profile_deliver(ep_profile_t *p, su_msg_r m, ep_sumsg_t *a)
{
    (void)m;
    switch (a->kind) {
    case EP_SUMSG_FINAL:
        ep_pipeline_send_final(p, a->ptr);
        break;
    case EP_SUMSG_PROVISIONAL:
        ep_pipeline_provisional_run(p, a->ptr, a->ptr2);
        break;
    case EP_SUMSG_OUTGOING:
        ep_outgoing_start(p, a->ptr);
        break;
    case EP_SUMSG_BRANCH_START:
        ep_proxy_branch_run(p, a->ptr);
        break;
    case EP_SUMSG_BRANCH_CANCEL:
        ep_proxy_branch_cancel_run(p, a->ptr);
        break;
    case EP_SUMSG_RELAY:
        ep_proxy_relay_run(p, a->ptr, a->ptr2);
        break;
    case EP_SUMSG_ACKBYE:
        ep_proxy_ackbye_run(p, a->ptr);
        break;
    case EP_SUMSG_FORWARD_2XX:
        ep_proxy_forward_2xx_run(p, a->ptr);
        break;
    case EP_SUMSG_BREAK:
        su_root_break(p->root);
        break;
    }
}

apr_status_t ep_profile_post(ep_profile_t *p, int kind, void *ptr, void *ptr2)
{
    su_msg_r m = SU_MSG_R_INIT;
    apr_status_t st = APR_EGENERAL;
    /* the profile thread destroys its root under the same lock: never post to a dead one */
    apr_thread_mutex_lock(p->post_lock);
    if (p->root && su_msg_create(m, su_root_task(p->root), su_task_null, profile_deliver, sizeof(ep_sumsg_t)) == 0) {
        ep_sumsg_t *a = su_msg_data(m);
        a->kind = kind;
        a->ptr = ptr;
        a->ptr2 = ptr2;
        if (su_msg_send(m) == 0)
            st = APR_SUCCESS;
    }
    apr_thread_mutex_unlock(p->post_lock);
    return st;
}

static void profile_root_destroy(ep_profile_t *p)
{
    apr_thread_mutex_lock(p->post_lock);
    su_root_destroy(p->root);
    p->root = NULL;
    apr_thread_mutex_unlock(p->post_lock);
}

/*
 * nta's errno after a failed bind is often not the bind's (EFAULT after its own cleanup), so
 * the reason is found by trying the same bind once more with a plain socket.
 */
static int bind_probe(const char *ip, int port, const char *proto)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)port);
        if (inet_pton(AF_INET6, ip, &s6->sin6_addr) != 1)
            return EINVAL;
        len = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((unsigned short)port);
        if (inet_pton(AF_INET, ip, &s4->sin_addr) != 1)
            return EINVAL;
        len = sizeof *s4;
    }
    int fd = socket(ss.ss_family, strcmp(proto, "udp") ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0)
        return errno;
    int one = 1, err = 0;
    if (strcmp(proto, "udp"))
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* as tport does for TCP */
    if (bind(fd, (struct sockaddr *)&ss, len) < 0)
        err = errno;
    close(fd);
    return err;
}

static void bind_failed(ep_profile_t *p, const char *url, const char *proto, int port)
{
    int err = bind_probe(p->set.sip_ip, port, proto);
    if (!err)
        err = su_errno();
    p->error_code = err;
    snprintf(p->error, sizeof p->error, "cannot bind %s: %s", url, strerror(err));
}

static void profile_report(ep_profile_t *p, int state)
{
    apr_thread_mutex_lock(p->lock);
    p->state = state;
    apr_thread_cond_broadcast(p->cond);
    apr_thread_mutex_unlock(p->lock);
}

static void *APR_THREAD_FUNC profile_thread(apr_thread_t *thread, void *data)
{
    ep_profile_t *p = data;
    aorta_thread_name("sip/%s", p->name);
    p->root_thread = apr_os_thread_current();
    p->root = su_root_create(p);
    if (!p->root) {
        snprintf(p->error, sizeof p->error, "cannot create su_root: %s", strerror(errno));
        profile_report(p, -1);
        return NULL;
    }
    /* One URL per transport: sofia 1.12.11 reads uninitialised stack when a "transport=udp,tcp"
     * list is given (valgrind: tport_tbind), so the first plain transport creates the agent and
     * the others are added to it. */
    const char *first = p->plain_urls->nelts ? APR_ARRAY_IDX(p->plain_urls, 0, const char *) : NULL;
    p->agent = nta_agent_create(
        p->root, first ? URL_STRING_MAKE(first) : (url_string_t *)-1 /* sofia's NONE */, profile_stray, p, NTATAG_UA(0),
        NTATAG_SERVER_RPORT(1),
        /* answer broken registrar headers (Path, Authorization...) with 400 too */
        NTATAG_BAD_REQ_MASK(~(sip_mask_response | sip_mask_proxy | sip_mask_pref | sip_mask_privacy)),
        NTATAG_SIP_T1X64(p->set.t1x64), NTATAG_MAXSIZE(p->set.max_size), NTATAG_CANCEL_487(1), TAG_END());
    if (!p->agent) {
        if (first)
            bind_failed(p, first, strstr(first, "transport=tcp") ? "tcp" : "udp", p->set.sip_port);
        else
            snprintf(p->error, sizeof p->error, "cannot create the SIP agent: %s", su_strerror(su_errno()));
        goto fail;
    }
    for (int i = 1; i < p->plain_urls->nelts; i++) {
        const char *u = APR_ARRAY_IDX(p->plain_urls, i, const char *);
        if (nta_agent_add_tport(p->agent, URL_STRING_MAKE(u), TAG_END()) < 0) {
            bind_failed(p, u, strstr(u, "transport=tcp") ? "tcp" : "udp", p->set.sip_port);
            goto fail;
        }
    }
    if (p->tls_url && nta_agent_add_tport(p->agent, URL_STRING_MAKE(p->tls_url), TPTAG_CERTIFICATE(p->set.tls_cert_dir),
                                          TAG_END()) < 0) {
        bind_failed(p, p->tls_url, "tls", p->set.tls_port);
        goto fail;
    }
    p->leg = nta_leg_tcreate(p->agent, profile_leg_request, p, NTATAG_NO_DIALOG(1), TAG_END());
    if (!p->leg) {
        snprintf(p->error, sizeof p->error, "cannot create the default leg: %s", su_strerror(su_errno()));
        goto fail;
    }
    apr_atomic_set32(&p->accepting, 1);
    profile_report(p, 1);
    su_root_run(p->root);
    /* a request counted in flight may still post its reply: keep serving the queue a while */
    apr_time_t deadline = apr_time_now() + EP_STOP_GRACE;
    while (apr_atomic_read32(&p->inflight) > 0 && apr_time_now() < deadline)
        su_root_step(p->root, 50);
    /* the callers of request_send() and proxy_branch_start() are promised a final callback */
    ep_proxy_abort_all(p);
    ep_outgoing_abort_all(p);

    nta_leg_destroy(p->leg), p->leg = NULL;
    nta_agent_destroy(p->agent), p->agent = NULL;
    profile_root_destroy(p);
    ep_pipeline_pools_free(p);
    profile_report(p, 2);
    (void)thread;
    return NULL;
fail:
    if (p->agent)
        nta_agent_destroy(p->agent), p->agent = NULL;
    profile_root_destroy(p);
    profile_report(p, -1);
    return NULL;
}

static char *list_join(apr_pool_t *pool, const apr_array_header_t *list, const char *skip)
{
    char *s = "";
    for (int i = 0; list && i < list->nelts; i++) {
        const char *w = APR_ARRAY_IDX(list, i, const char *);
        if (skip && !strcmp(w, skip))
            continue;
        s = apr_pstrcat(pool, s, *s ? "," : "", w, NULL);
    }
    return s;
}

static apr_array_header_t *list_copy(apr_pool_t *pool, const apr_array_header_t *list)
{
    apr_array_header_t *c = apr_array_make(pool, list ? list->nelts : 1, sizeof(const char *));
    for (int i = 0; list && i < list->nelts; i++)
        APR_ARRAY_PUSH(c, const char *) = apr_pstrdup(pool, APR_ARRAY_IDX(list, i, const char *));
    return c;
}

apr_status_t ep_profile_start(ep_mod_t *m, const ep_profile_conf_t *pc, ep_profile_t **out)
{
    apr_pool_t *pool = m->pool;
    ep_profile_t *p = apr_pcalloc(pool, sizeof *p);
    apr_status_t st;
    p->mod = m;
    p->name = apr_pstrdup(pool, pc->name);
    p->set = pc->set; /* scalars; the strings and lists are copied below: the generation may go */
    p->set.sip_ip = apr_pstrdup(pool, pc->set.sip_ip);
    p->set.transports = list_copy(pool, pc->set.transports);
    p->set.identify_order = NULL;
    p->set.user_agent = NULL;
    p->set.tls_cert_dir = pc->set.tls_cert_dir ? apr_pstrdup(pool, pc->set.tls_cert_dir)
                                               : apr_pstrcat(pool, aorta_core_dir(AORTA_DIR_CONF), "/tls", NULL);
    const char *host = strchr(p->set.sip_ip, ':') ? apr_pstrcat(pool, "[", p->set.sip_ip, "]", NULL) : p->set.sip_ip;
    char *plain = list_join(pool, p->set.transports, "tls");
    p->plain_urls = apr_array_make(pool, 2, sizeof(const char *));
    for (int i = 0; i < p->set.transports->nelts; i++) {
        const char *t = APR_ARRAY_IDX(p->set.transports, i, const char *);
        if (strcmp(t, "tls"))
            APR_ARRAY_PUSH(p->plain_urls, const char *) =
                apr_psprintf(pool, "sip:%s:%d;transport=%s", host, p->set.sip_port, t);
    }
    if (*plain)
        p->contact_url = apr_psprintf(pool, "sip:%s:%d;transport=%s", host, p->set.sip_port, plain);
    if (ep_list_has(p->set.transports, "tls")) {
        p->tls_url = apr_psprintf(pool, "sips:%s:%d", host, p->set.tls_port);
        /* sofia binds TLS even without a certificate and then fails every handshake: check first */
        apr_finfo_t fi;
        const char *pem = apr_pstrcat(pool, p->set.tls_cert_dir, "/agent.pem", NULL);
        st = apr_stat(&fi, pem, APR_FINFO_TYPE | APR_FINFO_SIZE, pool);
        if (st != APR_SUCCESS || fi.filetype != APR_REG || fi.size == 0) {
            char buf[120];
            aorta_log(AORTA_LOG_ERR, "profile %s: TLS needs %s (certificate and private key in one file): %s\n",
                      p->name, pem, st != APR_SUCCESS ? apr_strerror(st, buf, sizeof buf) : "not a non-empty file");
            return AORTA_ECONFIG;
        }
    }
    if ((st = apr_thread_mutex_create(&p->lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS ||
        (st = apr_thread_cond_create(&p->cond, pool)) != APR_SUCCESS ||
        (st = apr_thread_mutex_create(&p->src_lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS ||
        (st = apr_thread_mutex_create(&p->post_lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS ||
        (st = aorta_pool_create(&p->src_pool, pool)) != APR_SUCCESS)
        return st;
    p->sources = apr_hash_make(p->src_pool);

    apr_threadattr_t *attr;
    apr_threadattr_create(&attr, pool);
    if ((st = apr_thread_create(&p->thread, attr, profile_thread, p, pool)) != APR_SUCCESS)
        return st;
    apr_thread_mutex_lock(p->lock);
    while (p->state == 0)
        apr_thread_cond_wait(p->cond, p->lock);
    apr_thread_mutex_unlock(p->lock);
    if (p->state < 0) {
        apr_status_t rv;
        apr_thread_join(&rv, p->thread);
        p->thread = NULL;
        aorta_log(AORTA_LOG_ERR, "profile %s: %s\n", p->name, p->error);
        return p->error_code ? APR_FROM_OS_ERROR(p->error_code) : APR_EGENERAL;
    }
    aorta_log(AORTA_LOG_NOTICE, "profile %s listening on %s%s%s\n", p->name, p->contact_url ? p->contact_url : "",
              p->contact_url && p->tls_url ? " and " : "", p->tls_url ? p->tls_url : "");
    *out = p;
    return APR_SUCCESS;
}

int ep_profile_on_root(const ep_profile_t *p)
{
    return p->root && apr_os_thread_equal(p->root_thread, apr_os_thread_current());
}

void ep_profile_request_done(ep_profile_t *p)
{
    if (apr_atomic_dec32(&p->inflight) == 0 && !apr_atomic_read32(&p->accepting)) {
        apr_thread_mutex_lock(p->lock);
        apr_thread_cond_broadcast(p->cond);
        apr_thread_mutex_unlock(p->lock);
    }
}

void ep_profile_stop(ep_profile_t *p)
{
    if (!p || !p->thread)
        return;
    apr_atomic_set32(&p->accepting, 0);
    apr_time_t deadline = apr_time_now() + EP_STOP_GRACE;
    apr_thread_mutex_lock(p->lock);
    while (apr_atomic_read32(&p->inflight) > 0 && apr_time_now() < deadline)
        apr_thread_cond_timedwait(p->cond, p->lock, deadline - apr_time_now());
    apr_thread_mutex_unlock(p->lock);
    if (apr_atomic_read32(&p->inflight) > 0)
        aorta_log(AORTA_LOG_ERR, "profile %s: %u requests still unanswered at shutdown\n", p->name,
                  apr_atomic_read32(&p->inflight));
    if (ep_profile_post(p, EP_SUMSG_BREAK, NULL, NULL) == APR_SUCCESS) {
        apr_status_t rv;
        apr_thread_join(&rv, p->thread);
    }
    p->thread = NULL;
    aorta_log(AORTA_LOG_INFO, "profile %s stopped\n", p->name);
}

typedef struct stats_call {
    ep_profile_t *p;
    ep_nta_stats_t *st;
} stats_call_t;

static int profile_stats_in_root(void *arg)
{
    stats_call_t *c = arg;
    usize_t recv_msg = 0, recv_req = 0, bad_msg = 0, bad_req = 0, drop_req = 0, server_tr = 0, client_tr = 0;
    nta_agent_get_stats(c->p->agent, NTATAG_S_RECV_MSG_REF(recv_msg), NTATAG_S_RECV_REQUEST_REF(recv_req),
                        NTATAG_S_BAD_MESSAGE_REF(bad_msg), NTATAG_S_BAD_REQUEST_REF(bad_req),
                        NTATAG_S_DROP_REQUEST_REF(drop_req), NTATAG_S_SERVER_TR_REF(server_tr),
                        NTATAG_S_CLIENT_TR_REF(client_tr), TAG_END());
    c->st->recv_msg = recv_msg;
    c->st->recv_request = recv_req;
    c->st->bad_message = bad_msg;
    c->st->bad_request = bad_req;
    c->st->drop_request = drop_req;
    c->st->server_tr = server_tr;
    c->st->client_tr = client_tr;
    return 0;
}

void ep_profile_nta_stats(ep_profile_t *p, ep_nta_stats_t *st)
{
    memset(st, 0, sizeof *st);
    if (!p->root || !p->agent)
        return;
    stats_call_t c = {p, st};
    int ret;
    su_task_execute(su_root_task(p->root), profile_stats_in_root, &c, &ret);
}

void ep_profile_count_source(ep_profile_t *p, const char *ip)
{
    apr_thread_mutex_lock(p->src_lock);
    ep_source_count_t *c = apr_hash_get(p->sources, ip, APR_HASH_KEY_STRING);
    if (!c && apr_hash_count(p->sources) >= EP_MAX_SOURCES) {
        /* bounded: a scan from many addresses must not grow memory without end */
        ip = "other";
        c = apr_hash_get(p->sources, ip, APR_HASH_KEY_STRING);
    }
    if (!c) {
        c = apr_pcalloc(p->src_pool, sizeof *c);
        apr_cpystrn(c->ip, ip, sizeof c->ip);
        apr_hash_set(p->sources, c->ip, APR_HASH_KEY_STRING, c);
    }
    c->count++;
    c->last = apr_time_now();
    apr_thread_mutex_unlock(p->src_lock);
}
