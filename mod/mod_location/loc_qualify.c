/*
 * loc_qualify.c — qualify: OPTIONS to every registered contact of AORs with
 * `qualify-frequency`, through mod_endpoints' request_send, marking each contact reachable
 * or unreachable and firing `location::contact_status` when that changes. OPTIONS go where
 * a call would: via the stored Path, else to the REGISTER's source when it differs (NAT).
 *
 * Runs from the expiry thread's once-a-second tick (the per-AOR schedule is private to that
 * thread). A contact's status lives only in memory (it is not a binding change: no store
 * write, no registrar event); it reorders the AOR, unreachable contacts going last. A
 * response of any kind, within `qualify-timeout`, means reachable; no response (408 from
 * the transaction layer), a send failure (503), or a late answer means unreachable (so does a
 * real 408 or 503 from the contact: request_send cannot tell them apart). Static contacts
 * have no endpoint to send from and are not qualified.
 */
#include "loc_internal.h"
#include "mod_endpoints/ep_api.h"
#include <apr_atomic.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

typedef struct qual_req {
    char *aor, *uri, *endpoint, *profile;
    apr_time_t sent;
    int timeout_s;
} qual_req_t;

static volatile apr_uint32_t qual_inflight;

/* Set the qualify status of (aor, uri) in memory; returns the previous status, or -1 if gone. */
static int qualify_set(loc_t *loc, const char *aor, const char *uri, loc_qualify_t status)
{
    int prev = -1;
    loc_stripe_t *s = loc_table_stripe(loc->table, aor);
    apr_thread_mutex_lock(s->lock);
    loc_aor_state_t *st = loc_table_state(s, aor, 0);
    for (int i = 0; st && i < st->n; i++) {
        if (strcmp(st->c[i]->uri, uri))
            continue;
        prev = st->c[i]->qualify;
        if (prev != (int)status) {
            loc_contact_t t = *st->c[i];
            t.qualify = status;
            const loc_contact_t *old = st->c[i];
            st->c[i] = loc_contact_new(&t);
            loc_contact_unref(old);
            loc_contact_sort(st->c, st->n);
        }
        break;
    }
    apr_thread_mutex_unlock(s->lock);
    return prev;
}

static void qual_done(int status, const char *phrase, const sip_t *sip, void *user)
{
    qual_req_t *q = user;
    loc_t *loc = loc_global;
    apr_time_t rtt = apr_time_now() - q->sent;
    /* request_send reports no answer as 408 and a send failure as 503, with a response that
     * nta made up (it cannot be told from a real one): both count as unreachable */
    int answered = sip != NULL && status != 408 && status != 503 &&
                   (q->timeout_s <= 0 || rtt <= apr_time_from_sec(q->timeout_s));
    loc_qualify_t now = answered ? LOC_QUALIFY_REACHABLE : LOC_QUALIFY_UNREACHABLE;
    int prev = loc ? qualify_set(loc, q->aor, q->uri, now) : -1;
    if (prev >= 0 && prev != (int)now) {
        aorta_event_t *ev;
        aorta_log(AORTA_LOG_INFO, "qualify: %s of AOR %s is %s (%d %s)", q->uri, q->aor,
                  answered ? "reachable" : "unreachable", status, phrase ? phrase : "");
        if (aorta_event_create_subclass(&ev, "location::contact_status") == APR_SUCCESS) {
            aorta_event_add_header(ev, "profile-name", q->profile);
            aorta_event_add_header(ev, "endpoint", q->endpoint);
            aorta_event_add_header(ev, "aor", q->aor);
            aorta_event_add_header(ev, "contact", q->uri);
            aorta_event_add_header(ev, "status", answered ? "reachable" : "unreachable");
            if (answered)
                aorta_event_add_header_printf(ev, "rtt-ms", "%ld", (long)(rtt / 1000));
            aorta_event_add_header_printf(ev, "status-code", "%d", status);
            aorta_event_fire(&ev);
        }
    }
    free(q->aor);
    free(q->uri);
    free(q->endpoint);
    free(q->profile);
    free(q);
    apr_atomic_dec32(&qual_inflight);
}

static char *xstrdup(const char *s)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        abort();
    return d;
}

static void qualify_contact(const ep_api_t *ep, const loc_contact_t *c, const loc_aor_conf_t *ac)
{
    qual_req_t *q = calloc(1, sizeof *q);
    if (!q)
        abort();
    q->aor = xstrdup(c->aor);
    q->uri = xstrdup(c->uri);
    q->endpoint = xstrdup(c->endpoint);
    q->profile = xstrdup(c->profile);
    q->timeout_s = ac->qualify_timeout;
    q->sent = apr_time_now();
    ep_outgoing_t out;
    memset(&out, 0, sizeof out);
    out.endpoint = c->endpoint;
    out.method = "OPTIONS";
    out.uri = c->uri;
    out.route = c->path;
    if (!c->path && loc_dial_route_reason(c)) {
        char *dest = malloc(128);
        if (!dest)
            abort();
        snprintf(dest, 128, "sip:%s%s%s:%u;transport=%s", strchr(c->src_ip, ':') ? "[" : "", c->src_ip,
                 strchr(c->src_ip, ':') ? "]" : "", c->src_port, c->transport ? c->transport : "udp");
        out.destination = dest;
    }
    apr_atomic_inc32(&qual_inflight);
    if (ep->request_send(&out, qual_done, q) != APR_SUCCESS)
        qual_done(503, "Not Sent", NULL, q);
    free((char *)out.destination);
}

void loc_qualify_tick(loc_t *loc, apr_time_t now)
{
    const ep_api_t *ep = NULL;
    aorta_module_t *provider = NULL;
    aorta_config_gen_t *gen = NULL;
    const loc_conf_t *conf = loc_conf_acquire(&gen);
    if (!conf || !conf->qualify_any || loc->stopping)
        goto out;
    /* mod_endpoints loads after us: held for this tick, so it cannot unload under the sends */
    ep = aorta_interface_acquire(EP_API_NAME, &provider);
    if (!ep || ep->version < EP_API_VERSION)
        goto out;
    if (!loc->qualify_next)
        loc->qualify_next = apr_hash_make(loc->qualify_pool); /* only this thread uses it */
    for (int i = 0; i < conf->aor_order->nelts; i++) {
        const loc_aor_conf_t *ac = APR_ARRAY_IDX(conf->aor_order, i, loc_aor_conf_t *);
        if (ac->qualify_frequency <= 0)
            continue;
        apr_time_t *next = apr_hash_get(loc->qualify_next, ac->name, APR_HASH_KEY_STRING);
        if (next && *next > now)
            continue;
        if (!next) {
            next = apr_palloc(loc->qualify_pool, sizeof *next);
            apr_hash_set(loc->qualify_next, apr_pstrdup(loc->qualify_pool, ac->name), APR_HASH_KEY_STRING, next);
        }
        *next = now + apr_time_from_sec(ac->qualify_frequency);
        apr_pool_t *tmp;
        apr_array_header_t *cs;
        aorta_pool_create_unmanaged(&tmp);
        loc_contacts_get(ac->name, tmp, &cs);
        for (int j = 0; j < cs->nelts; j++) {
            const loc_contact_t *c = APR_ARRAY_IDX(cs, j, const loc_contact_t *);
            if (!c->is_static && c->endpoint)
                qualify_contact(ep, c, ac);
        }
        apr_pool_destroy(tmp);
    }
out:
    aorta_interface_release(provider);
    if (gen)
        aorta_module_config_release(gen);
}

void loc_qualify_drain(void)
{
    for (int i = 0; i < 5000 && apr_atomic_read32(&qual_inflight); i++)
        apr_sleep(1000);
}
