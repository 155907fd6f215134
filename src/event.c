/*
 * event.c — event objects, the dispatch queue and bindings.
 *
 * Ownership: an event is malloc'd (not pooled: it crosses threads and outlives any request)
 * and reference-counted. aorta_event_fire() takes the creator's reference into a bounded
 * apr_queue; the dispatch thread delivers it to every matching binding, then drops it.
 * Bindings that keep it take their own reference. An event is mutable only before fire.
 *
 * Threads: any thread creates and fires; one dispatch thread runs all callbacks, holding
 * the (nested) binding lock per event, so unbind waits for a running callback to finish
 * and may be called from inside a callback.
 */
#include "core_internal.h"
#include <apr_atomic.h>
#include <apr_date.h>
#include <apr_queue.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct aorta_event {
    apr_uint32_t refs;
    aorta_event_id_t id;
    char *subclass;
    struct aorta_event_header *headers;
    int nheaders, cap;
    char *body;
    apr_size_t body_len;
    char *cache[3]; /* serialized forms, set once with CAS */
    apr_size_t cache_len[3];
};

struct aorta_event_binding {
    aorta_event_id_t id;
    char *subclass;
    aorta_event_fn fn;
    void *user;
    struct aorta_event_binding *next;
};

/* The shutdown sentinel: queued last, ends the dispatch loop. */
static aorta_event_t event_sentinel;
/* The flush barrier: when the dispatcher reaches it, everything fired before has been delivered. */
static aorta_event_t event_barrier;

static struct {
    apr_pool_t *pool;
    apr_queue_t *queue;
    apr_thread_t *thread;
    apr_thread_mutex_t *lock;
    aorta_event_binding_t *bindings;
    volatile apr_uint32_t stopping;
    apr_uint64_t sequence;
    apr_uint64_t fired, dropped, reported_dropped;
    apr_time_t last_drop_report;
    apr_uint32_t nbind[AORTA_EVENT_COUNT]; /* bindings per event id (ALL at AORTA_EVENT_ALL) */
    apr_thread_mutex_t *flush_lock;
    apr_thread_cond_t *flushed;
    apr_uint64_t barriers_seen;
} events;

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        aorta_pool_abort(APR_ENOMEM);
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static void event_push_header(aorta_event_t *ev, const char *name, const char *value)
{
    if (ev->nheaders == ev->cap) {
        ev->cap = ev->cap ? ev->cap * 2 : 24;
        struct aorta_event_header *h = realloc(ev->headers, (size_t)ev->cap * sizeof *h);
        if (!h)
            aorta_pool_abort(APR_ENOMEM);
        ev->headers = h;
    }
    ev->headers[ev->nheaders].name = xstrdup(name);
    ev->headers[ev->nheaders].value = xstrdup(value);
    ev->nheaders++;
}

apr_status_t aorta_event_create_detailed(aorta_event_t **out, aorta_event_id_t id, const char *subclass,
                                         const char *file, const char *func, int line)
{
    if ((int)id < 0 || id >= AORTA_EVENT_ALL)
        return APR_EINVAL;
    aorta_event_t *ev = calloc(1, sizeof *ev);
    if (!ev)
        aorta_pool_abort(APR_ENOMEM);
    ev->refs = 1;
    ev->id = id;
    if (id == AORTA_EVENT_CUSTOM && subclass && *subclass)
        ev->subclass = xstrdup(subclass);

    char buf[APR_RFC822_DATE_LEN + 32];
    apr_time_t now = apr_time_now();
    /* Formatting local time takes the time-zone lock: do it once a second per thread. */
    static __thread apr_time_t cached_sec = -1;
    static __thread char cached_local[64], cached_gmt[APR_RFC822_DATE_LEN];
    if (apr_time_sec(now) != cached_sec) {
        apr_time_exp_t tm;
        apr_time_exp_lt(&tm, now);
        snprintf(cached_local, sizeof cached_local, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        apr_rfc822_date(cached_gmt, now);
        cached_sec = apr_time_sec(now);
    }

    event_push_header(ev, "Event-Name", aorta_event_name(id));
    event_push_header(ev, "Core-UUID", aorta_core_uuid());
    event_push_header(ev, "FreeSWITCH-Hostname", aorta_core_hostname());
    event_push_header(ev, "FreeSWITCH-Switchname", aorta_core_switchname());
    event_push_header(ev, "FreeSWITCH-IPv4", aorta_core_ipv4());
    event_push_header(ev, "FreeSWITCH-IPv6", aorta_core_ipv6());
    event_push_header(ev, "Event-Date-Local", cached_local);
    event_push_header(ev, "Event-Date-GMT", cached_gmt);
    snprintf(buf, sizeof buf, "%" APR_INT64_T_FMT, (apr_int64_t)now);
    event_push_header(ev, "Event-Date-Timestamp", buf);
    event_push_header(ev, "Event-Calling-File", aorta_basename(file ? file : "unknown"));
    event_push_header(ev, "Event-Calling-Function", func ? func : "unknown");
    snprintf(buf, sizeof buf, "%d", line);
    event_push_header(ev, "Event-Calling-Line-Number", buf);
    apr_uint64_t seq = __atomic_add_fetch(&events.sequence, 1, __ATOMIC_RELAXED);
    snprintf(buf, sizeof buf, "%" APR_UINT64_T_FMT, seq);
    event_push_header(ev, "Event-Sequence", buf);
    if (ev->subclass)
        event_push_header(ev, "Event-Subclass", ev->subclass);
    *out = ev;
    return APR_SUCCESS;
}

void aorta_event_add_header(aorta_event_t *ev, const char *name, const char *value)
{
    if (!ev || !name || !value || !*value)
        return;
    event_push_header(ev, name, value);
}

void aorta_event_add_header_printf(aorta_event_t *ev, const char *name, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        aorta_event_add_header(ev, name, small);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    aorta_event_add_header(ev, name, big);
    free(big);
}

void aorta_event_set_header(aorta_event_t *ev, const char *name, const char *value)
{
    for (int i = 0; i < ev->nheaders; i++) {
        if (strcasecmp(ev->headers[i].name, name) == 0) {
            if (!value || !*value) {
                aorta_event_del_header(ev, name);
                return;
            }
            free(ev->headers[i].value);
            ev->headers[i].value = xstrdup(value);
            return;
        }
    }
    aorta_event_add_header(ev, name, value);
}

void aorta_event_del_header(aorta_event_t *ev, const char *name)
{
    int j = 0;
    for (int i = 0; i < ev->nheaders; i++) {
        if (strcasecmp(ev->headers[i].name, name) == 0) {
            free(ev->headers[i].name);
            free(ev->headers[i].value);
        } else {
            ev->headers[j++] = ev->headers[i];
        }
    }
    ev->nheaders = j;
}

void aorta_event_set_body(aorta_event_t *ev, const char *body, apr_size_t len)
{
    free(ev->body);
    ev->body = NULL;
    ev->body_len = 0;
    if (body) {
        ev->body = xmalloc(len + 1);
        memcpy(ev->body, body, len);
        ev->body[len] = '\0';
        ev->body_len = len;
    }
}

const char *aorta_event_get_header(const aorta_event_t *ev, const char *name)
{
    for (int i = 0; i < ev->nheaders; i++)
        if (strcasecmp(ev->headers[i].name, name) == 0)
            return ev->headers[i].value;
    return NULL;
}

int aorta_event_header_count(const aorta_event_t *ev)
{
    return ev->nheaders;
}

void aorta_event_header_at(const aorta_event_t *ev, int i, const char **name, const char **value)
{
    *name = ev->headers[i].name;
    *value = ev->headers[i].value;
}

int aorta_event_nheaders(const aorta_event_t *ev)
{
    return ev->nheaders;
}

const struct aorta_event_header *aorta_event_headers(const aorta_event_t *ev)
{
    return ev->headers;
}

const char *aorta_event_get_body(const aorta_event_t *ev, apr_size_t *len)
{
    if (len)
        *len = ev->body_len;
    return ev->body;
}

aorta_event_id_t aorta_event_get_id(const aorta_event_t *ev)
{
    return ev->id;
}

const char *aorta_event_get_subclass(const aorta_event_t *ev)
{
    return ev->subclass;
}

aorta_event_t *aorta_event_ref(aorta_event_t *ev)
{
    apr_atomic_inc32(&ev->refs);
    return ev;
}

void aorta_event_unref(aorta_event_t *ev)
{
    if (!ev || apr_atomic_dec32(&ev->refs) != 0)
        return;
    for (int i = 0; i < ev->nheaders; i++) {
        free(ev->headers[i].name);
        free(ev->headers[i].value);
    }
    free(ev->headers);
    free(ev->subclass);
    free(ev->body);
    for (int i = 0; i < 3; i++)
        free(ev->cache[i]);
    free(ev);
}

apr_status_t aorta_event_serialize(aorta_event_t *ev, aorta_event_format_t format, const char **data,
                                   apr_size_t *len)
{
    if ((int)format < 0 || format > AORTA_EVENT_FORMAT_XML)
        return APR_EINVAL;
    char *cached = __atomic_load_n(&ev->cache[format], __ATOMIC_ACQUIRE);
    if (!cached) {
        apr_size_t n;
        char *fresh = aorta_event_serialize_new(ev, format, &n);
        ev->cache_len[format] = n;
        char *expected = NULL;
        /* Several subscribers may race to serialize: the first one wins, the others free
         * theirs. cache_len is written before the pointer is published (release). */
        if (__atomic_compare_exchange_n(&ev->cache[format], &expected, fresh, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            cached = fresh;
        } else {
            free(fresh);
            cached = expected;
        }
    }
    *data = cached;
    if (len)
        *len = ev->cache_len[format];
    return APR_SUCCESS;
}

/* ---- bindings and dispatch ------------------------------------------------------------ */

static int binding_matches(const aorta_event_binding_t *b, const aorta_event_t *ev)
{
    if (b->id == AORTA_EVENT_ALL)
        return 1;
    if (b->id != ev->id)
        return 0;
    if (ev->id == AORTA_EVENT_CUSTOM && b->subclass)
        return ev->subclass && strcmp(b->subclass, ev->subclass) == 0;
    return 1;
}

static void event_deliver(aorta_event_t *ev)
{
    apr_thread_mutex_lock(events.lock);
    /* next is read first: a callback may unbind itself */
    for (aorta_event_binding_t *b = events.bindings, *next; b; b = next) {
        next = b->next;
        if (binding_matches(b, ev))
            b->fn(ev, b->user);
    }
    apr_thread_mutex_unlock(events.lock);
}

static void event_report_drops(void)
{
    apr_uint64_t dropped = __atomic_load_n(&events.dropped, __ATOMIC_RELAXED);
    apr_time_t now = apr_time_now();
    if (dropped != events.reported_dropped && now - events.last_drop_report > apr_time_from_sec(1)) {
        aorta_log(AORTA_LOG_WARNING, "event queue full: %" APR_UINT64_T_FMT " events dropped (%" APR_UINT64_T_FMT
                                     " in total)",
                  dropped - events.reported_dropped, dropped);
        events.reported_dropped = dropped;
        events.last_drop_report = now;
    }
}

static void *APR_THREAD_FUNC event_dispatch_thread(apr_thread_t *thread, void *data)
{
    aorta_thread_name("events");
    for (;;) {
        void *item = NULL;
        apr_status_t st = apr_queue_pop(events.queue, &item);
        if (st == APR_EINTR)
            continue;
        if (st != APR_SUCCESS || item == &event_sentinel)
            break;
        if (item == &event_barrier) {
            apr_thread_mutex_lock(events.flush_lock);
            events.barriers_seen++;
            apr_thread_cond_broadcast(events.flushed);
            apr_thread_mutex_unlock(events.flush_lock);
            continue;
        }
        event_deliver(item);
        aorta_event_unref(item);
        event_report_drops();
        /* When the queue runs dry, pause briefly before waiting again: events that arrive
         * meanwhile are delivered in one batch, so a steady stream costs at most ~1000
         * wake-ups a second instead of one per event. Delivery is delayed by <= 1 ms. */
        if (apr_queue_size(events.queue) == 0)
            apr_sleep(1000);
    }
    return NULL;
}

apr_status_t aorta_event_init(apr_pool_t *pool, apr_size_t queue_size)
{
    apr_status_t st;
    events.pool = pool;
    events.stopping = 0;
    if ((st = apr_thread_mutex_create(&events.lock, APR_THREAD_MUTEX_NESTED, pool)) != APR_SUCCESS)
        return st;
    if ((st = apr_queue_create(&events.queue, (unsigned)queue_size, pool)) != APR_SUCCESS)
        return st;
    if ((st = apr_thread_mutex_create(&events.flush_lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS ||
        (st = apr_thread_cond_create(&events.flushed, pool)) != APR_SUCCESS)
        return st;
    return apr_thread_create(&events.thread, NULL, event_dispatch_thread, NULL, pool);
}

void aorta_event_flush(apr_interval_time_t timeout)
{
    if (!events.queue)
        return;
    apr_thread_mutex_lock(events.flush_lock);
    apr_uint64_t want = events.barriers_seen + 1;
    apr_thread_mutex_unlock(events.flush_lock);
    /* blocking push: the barrier goes behind everything fired so far */
    if (apr_queue_push(events.queue, &event_barrier) != APR_SUCCESS)
        return;
    apr_time_t deadline = apr_time_now() + timeout;
    apr_thread_mutex_lock(events.flush_lock);
    while (events.barriers_seen < want && apr_time_now() < deadline)
        apr_thread_cond_timedwait(events.flushed, events.flush_lock, apr_time_from_msec(50));
    apr_thread_mutex_unlock(events.flush_lock);
}

void aorta_event_shutdown(void)
{
    if (!events.queue)
        return;
    apr_atomic_set32(&events.stopping, 1);
    /* Blocking push: everything already queued is delivered before the sentinel. */
    apr_queue_push(events.queue, &event_sentinel);
    apr_status_t rv;
    apr_thread_join(&rv, events.thread);
    void *item;
    while (apr_queue_trypop(events.queue, &item) == APR_SUCCESS)
        if (item != &event_sentinel && item != &event_barrier)
            aorta_event_unref(item);
    apr_thread_mutex_lock(events.lock);
    while (events.bindings) {
        aorta_event_binding_t *b = events.bindings;
        events.bindings = b->next;
        free(b->subclass);
        free(b);
    }
    apr_thread_mutex_unlock(events.lock);
    events.queue = NULL;
}

int aorta_event_wanted(aorta_event_id_t id)
{
    if ((int)id < 0 || id > AORTA_EVENT_ALL)
        return 0;
    return apr_atomic_read32(&events.nbind[id]) || apr_atomic_read32(&events.nbind[AORTA_EVENT_ALL]);
}

apr_status_t aorta_event_fire(aorta_event_t **evp)
{
    aorta_event_t *ev = *evp;
    *evp = NULL;
    if (!ev)
        return APR_EINVAL;
    if (!events.queue || apr_atomic_read32(&events.stopping)) {
        aorta_event_unref(ev);
        return AORTA_ESHUTDOWN;
    }
    /* Nobody listens for this kind of event: deliver it to no one without waking the
     * dispatcher (a REGISTER without event-socket subscribers costs no thread hand-off). */
    if (!apr_atomic_read32(&events.nbind[ev->id]) && !apr_atomic_read32(&events.nbind[AORTA_EVENT_ALL])) {
        __atomic_add_fetch(&events.fired, 1, __ATOMIC_RELAXED);
        aorta_event_unref(ev);
        return APR_SUCCESS;
    }
    if (apr_queue_trypush(events.queue, ev) != APR_SUCCESS) {
        __atomic_add_fetch(&events.dropped, 1, __ATOMIC_RELAXED);
        aorta_event_unref(ev);
        return AORTA_EFULL;
    }
    __atomic_add_fetch(&events.fired, 1, __ATOMIC_RELAXED);
    return APR_SUCCESS;
}

apr_status_t aorta_event_bind(aorta_event_id_t id, const char *subclass, aorta_event_fn fn, void *user,
                              aorta_event_binding_t **binding)
{
    if ((int)id < 0 || id > AORTA_EVENT_ALL || !fn)
        return APR_EINVAL;
    aorta_event_binding_t *b = calloc(1, sizeof *b);
    if (!b)
        return APR_ENOMEM;
    b->id = id;
    b->subclass = subclass ? xstrdup(subclass) : NULL;
    b->fn = fn;
    b->user = user;
    apr_atomic_inc32(&events.nbind[id]);
    apr_thread_mutex_lock(events.lock);
    /* append: bindings run in the order they were made */
    aorta_event_binding_t **pp = &events.bindings;
    while (*pp)
        pp = &(*pp)->next;
    *pp = b;
    apr_thread_mutex_unlock(events.lock);
    if (binding)
        *binding = b;
    return APR_SUCCESS;
}

void aorta_event_unbind(aorta_event_binding_t *binding)
{
    if (!binding || !events.lock)
        return;
    apr_thread_mutex_lock(events.lock);
    for (aorta_event_binding_t **pp = &events.bindings; *pp; pp = &(*pp)->next) {
        if (*pp == binding) {
            *pp = binding->next;
            apr_atomic_dec32(&events.nbind[binding->id]);
            free(binding->subclass);
            free(binding);
            break;
        }
    }
    apr_thread_mutex_unlock(events.lock);
}

void aorta_event_stats(apr_uint64_t *fired, apr_uint64_t *dropped)
{
    if (fired)
        *fired = __atomic_load_n(&events.fired, __ATOMIC_RELAXED);
    if (dropped)
        *dropped = __atomic_load_n(&events.dropped, __ATOMIC_RELAXED);
}
