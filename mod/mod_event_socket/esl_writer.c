/*
 * esl_writer.c — the one thread that writes to every event-socket connection: queued events,
 * log lines and command replies, in the order esl_queue.h defines.
 *
 * Why one thread: with a thread per connection, each dispatch batch woke every subscriber's
 * thread (100 subscribers: 100 eventfd writes by the dispatch thread, 100 context switches
 * and 100 small writes per batch). Here the producers (the dispatch thread, logging threads,
 * the connection threads with their replies) hand a connection to the writer only when it
 * was idle, and wake the writer only when it sleeps without a deadline; one wake-up serves
 * every connection that became ready meanwhile.
 *
 * Coalescing: a connection is written at most once per ESL_FLUSH_INTERVAL_MS, unless a reply
 * waits. A sparse stream goes out at once; a dense one in one large write per interval
 * (up to ESL_WRITE_BATCH items per system call), so the cost per event falls as the load
 * rises. The serialized event is shared by all subscribers (cached in the event); the
 * envelope in front of it depends only on format and length and is cached here.
 *
 * Invariants: sockets are non-blocking and the writer never waits on one: a connection whose
 * socket is full waits for EPOLLOUT while the others are served. The writer never logs while
 * holding a lock, and does not log per write (a log subscriber would feed itself).
 * Memory: the writer lives in the module pool; envelopes in its own pool, kept until it stops
 * (a half-written batch may point at them until its connection is closed).
 */
#include "esl_conn.h"
#include "esl_proto.h"

#include <apr_strings.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define ESL_FLUSH_INTERVAL_MS 5
#define ESL_ENVELOPE_CACHE 4096 /* event lengths below this have a cached envelope */
#define ESL_EPOLL_EVENTS 64

typedef struct esl_envelope {
    const char *text;
    apr_size_t len;
} esl_envelope_t;

struct esl_writer {
    esl_server_t *srv;
    pthread_t thread;
    int epfd;
    int wake_fd;

    pthread_mutex_t lock;
    esl_conn_t *ready; /* handed over by producers, not yet seen by the thread */
    int sleeping;      /* waiting without a deadline: a producer must wake it */
    int stop;

    /* the writer thread's own */
    esl_conn_t *active; /* connections with output pending, in progress, or blocked */
    apr_pool_t *pool;
    esl_envelope_t *envelopes[3]; /* [format][length], allocated on first use */
};

typedef enum {
    ESL_SERVICE_IDLE,    /* nothing to write: leaves the active list */
    ESL_SERVICE_BLOCKED, /* the socket is full: waits for EPOLLOUT */
    ESL_SERVICE_DUE,     /* more to write once its coalescing interval has passed */
    ESL_SERVICE_DETACH   /* the connection thread wants its socket back */
} esl_service_t;

const char *esl_format_name(aorta_event_format_t f)
{
    return f == AORTA_EVENT_FORMAT_JSON ? "json" : f == AORTA_EVENT_FORMAT_XML ? "xml" : "plain";
}

static void esl_writer_poke(esl_writer_t *w)
{
    uint64_t one = 1;
    if (write(w->wake_fd, &one, sizeof(one)) < 0) {
        /* the counter is saturated: the writer is awake anyway */
    }
}

void esl_writer_hand(esl_writer_t *w, esl_conn_t *c, int add, int wake)
{
    int poke;
    pthread_mutex_lock(&w->lock);
    if (add) {
        c->ready_next = w->ready;
        w->ready = c;
    }
    poke = wake || (add && w->sleeping);
    if (poke)
        w->sleeping = 0;
    pthread_mutex_unlock(&w->lock);
    if (poke)
        esl_writer_poke(w);
}

/* ---- framing ------------------------------------------------------------------------- */

static esl_envelope_t esl_writer_envelope(esl_writer_t *w, esl_out_t *o, aorta_event_format_t f, apr_size_t len)
{
    esl_envelope_t e, *slot = NULL;
    char buf[96];
    int n;

    if (len < ESL_ENVELOPE_CACHE) {
        if (!w->envelopes[f])
            w->envelopes[f] = apr_pcalloc(w->pool, ESL_ENVELOPE_CACHE * sizeof(esl_envelope_t));
        slot = &w->envelopes[f][len];
        if (slot->text)
            return *slot;
    }
    n = snprintf(buf, sizeof(buf), "Content-Length: %" APR_SIZE_T_FMT "\nContent-Type: text/event-%s\n\n", len,
                 esl_format_name(f));
    e.len = (apr_size_t)n;
    e.text = apr_pstrmemdup(slot ? w->pool : o->pool, buf, e.len);
    if (slot)
        *slot = e;
    return e;
}

/* Frame one item into @p iov (at most 2 entries, valid while the item and the batch live).
 * Returns the entries used. */
static int esl_writer_frame(esl_writer_t *w, esl_out_t *o, aorta_event_format_t fmt, esl_item_t *it, struct iovec *iov)
{
    if (it->kind == ESL_ITEM_EVENT) {
        const char *data = NULL;
        apr_size_t len = 0;
        esl_envelope_t e;
        if (aorta_event_serialize(it->ptr, fmt, &data, &len) != APR_SUCCESS || !data)
            return 0;
        e = esl_writer_envelope(w, o, fmt, len);
        iov[0].iov_base = (void *)e.text;
        iov[0].iov_len = e.len;
        iov[1].iov_base = (void *)data;
        iov[1].iov_len = len;
        return 2;
    }
    if (it->kind == ESL_ITEM_LOG) {
        const esl_logline_t *ll = it->ptr;
        iov[0].iov_base = apr_psprintf(o->pool,
                                       "Content-Type: log/data\nContent-Length: %" APR_SIZE_T_FMT "\nLog-Level: %d\n"
                                       "Text-Channel: 0\nLog-File: %s\nLog-Func: %s\nLog-Line: %d\nUser-Data: \n\n",
                                       ll->text_len, ll->level, esl_header_escape(ll->file, o->pool),
                                       esl_header_escape(ll->func, o->pool), ll->line);
        iov[0].iov_len = strlen(iov[0].iov_base);
        iov[1].iov_base = (void *)ll->text;
        iov[1].iov_len = ll->text_len;
        return 2;
    }
    {
        esl_reply_t *r = it->ptr;
        if (r->len == 0)
            return 0; /* the placeholder of a command that could not answer: order only */
        iov[0].iov_base = r->data;
        iov[0].iov_len = r->len;
        return 1;
    }
}

/* ---- writing ------------------------------------------------------------------------- */

int esl_out_write(esl_conn_t *c)
{
    esl_out_t *o = &c->out;

    while (o->iov_pos < o->iov_n) {
        struct msghdr mh;
        int n = o->iov_n - o->iov_pos;
        ssize_t w;
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = o->iov + o->iov_pos;
        mh.msg_iovlen = (size_t)(n > IOV_MAX ? IOV_MAX : n);
        w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
        }
        while (o->iov_pos < o->iov_n && (size_t)w >= o->iov[o->iov_pos].iov_len) {
            w -= (ssize_t)o->iov[o->iov_pos].iov_len;
            o->iov_pos++;
        }
        if (w > 0) {
            o->iov[o->iov_pos].iov_base = (char *)o->iov[o->iov_pos].iov_base + w;
            o->iov[o->iov_pos].iov_len -= (size_t)w;
        }
    }
    return 0;
}

int esl_out_finish(esl_conn_t *c)
{
    esl_out_t *o = &c->out;
    int i, replies = o->replies;
    for (i = 0; i < o->nitems; i++)
        esl_item_free(&o->items[i]);
    o->nitems = o->iov_pos = o->iov_n = o->replies = 0;
    apr_pool_clear(o->pool);
    return replies;
}

/* The peer is gone: nothing more is queued or written for it; its thread closes it. */
static esl_service_t esl_writer_broken(esl_conn_t *c)
{
    esl_service_t next = ESL_SERVICE_IDLE;
    esl_item_t it;
    esl_out_finish(c);
    pthread_mutex_lock(&c->lock);
    c->broken = 1;
    c->dead = 1;
    while (esl_queue_pop(c->queue, &it))
        esl_item_free(&it);
    /* leaving the active list only while no detach is asked for, or that request is lost */
    if (c->detach)
        next = ESL_SERVICE_DETACH;
    else
        c->in_writer = 0;
    pthread_mutex_unlock(&c->lock);
    esl_conn_wake(c);
    return next;
}

static int esl_writer_arm(esl_writer_t *w, esl_conn_t *c)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLOUT | EPOLLONESHOT;
    ev.data.ptr = c;
    if (epoll_ctl(w->epfd, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) != 0)
        return -1;
    c->registered = 1;
    c->blocked = 1;
    return 0;
}

/* Write what the connection may send now; *due is set with ESL_SERVICE_DUE. */
static esl_service_t esl_writer_service(esl_writer_t *w, esl_conn_t *c, apr_time_t now, apr_time_t *due)
{
    const apr_time_t interval = apr_time_from_msec(ESL_FLUSH_INTERVAL_MS);
    esl_out_t *o = &c->out;
    int backlog = 0;

    for (;;) {
        aorta_event_format_t fmt;
        int i, rc, replies, full;

        pthread_mutex_lock(&c->lock);
        if (c->detach) {
            pthread_mutex_unlock(&c->lock);
            return ESL_SERVICE_DETACH;
        }
        if (c->blocked) {
            pthread_mutex_unlock(&c->lock);
            return ESL_SERVICE_BLOCKED;
        }
        if (o->iov_pos == o->iov_n) {
            if (!esl_queue_ready(c->queue)) {
                c->in_writer = 0;
                pthread_mutex_unlock(&c->lock);
                return ESL_SERVICE_IDLE;
            }
            if (!backlog && !c->urgent && now < c->last_flush + interval) {
                pthread_mutex_unlock(&c->lock);
                *due = c->last_flush + interval;
                return ESL_SERVICE_DUE;
            }
            while (o->nitems < ESL_WRITE_BATCH && esl_queue_take(c->queue, &o->items[o->nitems]))
                o->nitems++;
            c->urgent = 0;
            fmt = c->format;
            pthread_mutex_unlock(&c->lock);
            for (i = 0; i < o->nitems; i++) {
                o->iov_n += esl_writer_frame(w, o, fmt, &o->items[i], o->iov + o->iov_n);
                if (o->items[i].kind == ESL_ITEM_REPLY)
                    o->replies++;
            }
            c->last_flush = now;
        } else {
            pthread_mutex_unlock(&c->lock); /* a batch half written before EPOLLOUT */
        }

        rc = esl_out_write(c);
        if (rc > 0 && esl_writer_arm(w, c) == 0)
            return ESL_SERVICE_BLOCKED;
        if (rc != 0)
            return esl_writer_broken(c);
        full = o->nitems == ESL_WRITE_BATCH;
        replies = esl_out_finish(c);
        if (replies > 0) {
            pthread_mutex_lock(&c->lock);
            c->replies_written += (apr_uint64_t)replies;
            pthread_mutex_unlock(&c->lock);
            esl_conn_wake(c);
        }
        /* a full batch means a backlog: the next one is as large, no reason to wait */
        backlog = full;
    }
}

/* Let go of a connection for good: after this the writer never touches it again. */
static void esl_writer_release(esl_writer_t *w, esl_conn_t *c)
{
    if (c->registered)
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->registered = 0;
    c->blocked = 0;
    pthread_mutex_lock(&c->lock);
    c->in_writer = 0;
    c->detached = 1;
    /* woken under the lock: the connection thread reads `detached` under it, so it cannot
     * free the connection (and close wake_fd) before this is done */
    esl_conn_wake(c);
    pthread_mutex_unlock(&c->lock); /* the connection may be freed from here on */
}

static void *esl_writer_main(void *arg)
{
    esl_writer_t *w = arg;
    struct epoll_event evs[ESL_EPOLL_EVENTS];
    aorta_thread_name("esl-writer");

    for (;;) {
        esl_conn_t *r, *c, **pp;
        apr_time_t now, next = 0;
        int timeout = -1, n, i, stop;

        pthread_mutex_lock(&w->lock);
        r = w->ready;
        w->ready = NULL;
        stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            break; /* only once every connection is gone */
        while (r) {
            c = r;
            r = r->ready_next;
            if (!c->active) {
                c->active = 1;
                c->active_next = w->active;
                w->active = c;
            }
        }

        now = apr_time_now();
        for (pp = &w->active; *pp;) {
            apr_time_t due = 0;
            c = *pp;
            switch (esl_writer_service(w, c, now, &due)) {
            case ESL_SERVICE_DUE:
                if (!next || due < next)
                    next = due;
                /* fall through */
            case ESL_SERVICE_BLOCKED:
                pp = &c->active_next;
                break;
            case ESL_SERVICE_IDLE:
                *pp = c->active_next;
                c->active = 0;
                break;
            case ESL_SERVICE_DETACH:
                *pp = c->active_next;
                c->active = 0;
                esl_writer_release(w, c);
                break;
            }
        }
        if (next)
            timeout = next > now ? (int)((next - now + 999) / 1000) : 0;

        pthread_mutex_lock(&w->lock);
        if (w->ready || w->stop)
            timeout = 0;
        w->sleeping = timeout < 0;
        pthread_mutex_unlock(&w->lock);
        n = epoll_wait(w->epfd, evs, ESL_EPOLL_EVENTS, timeout);
        if (timeout < 0) {
            pthread_mutex_lock(&w->lock);
            w->sleeping = 0;
            pthread_mutex_unlock(&w->lock);
        }
        for (i = 0; i < n; i++) {
            if (evs[i].data.ptr) {
                ((esl_conn_t *)evs[i].data.ptr)->blocked = 0; /* ONESHOT: disarmed until re-armed */
            } else {
                uint64_t v;
                if (read(w->wake_fd, &v, sizeof(v)) < 0) {
                    /* EAGAIN: a wake-up already consumed */
                }
            }
        }
    }
    return NULL;
}

apr_status_t esl_writer_start(esl_server_t *srv)
{
    esl_writer_t *w = apr_pcalloc(srv->pool, sizeof(*w));
    struct epoll_event ev;
    int rc;

    w->srv = srv;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    if (w->epfd < 0 || w->wake_fd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) != 0) {
        int err = errno;
        aorta_log(AORTA_LOG_ERR, "event socket: cannot set up the writer: %s\n", strerror(err));
        if (w->epfd >= 0)
            close(w->epfd);
        if (w->wake_fd >= 0)
            close(w->wake_fd);
        return APR_FROM_OS_ERROR(err);
    }
    aorta_pool_create(&w->pool, srv->pool);
    pthread_mutex_init(&w->lock, NULL);
    if ((rc = pthread_create(&w->thread, NULL, esl_writer_main, w)) != 0) {
        aorta_log(AORTA_LOG_ERR, "event socket: cannot start the writer thread: %s\n", strerror(rc));
        pthread_mutex_destroy(&w->lock);
        close(w->epfd);
        close(w->wake_fd);
        return APR_FROM_OS_ERROR(rc);
    }
    srv->writer = w;
    return APR_SUCCESS;
}

void esl_writer_stop(esl_server_t *srv)
{
    esl_writer_t *w = srv->writer;
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_mutex_unlock(&w->lock);
    esl_writer_poke(w);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    close(w->epfd);
    close(w->wake_fd);
    srv->writer = NULL;
}
