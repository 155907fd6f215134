/*
 * esl_conn.h — one connection's state, shared by its thread (esl_conn.c: commands) and the
 * module's writer thread (esl_writer.c: everything that goes out on its socket).
 *
 * Ownership of the socket: the connection thread only reads it while the connection is
 * attached; the writer only writes it. At close the connection thread asks the writer to let
 * go (detach) and waits; after that the writer never touches the connection again and the
 * connection thread finishes a half-written batch, writes the last replies and the disconnect
 * notice itself, and closes the socket.
 * Locks: c->lock guards the fields marked "c->lock"; the writer's own lock guards
 * ready_next. Order: c->lock may be held while taking the writer's lock, never the reverse.
 * Nothing logs while holding either (the log binding takes both).
 */
#ifndef ESL_CONN_H
#define ESL_CONN_H

#include "esl.h"
#include "esl_filter.h"
#include "esl_queue.h"
#include "esl_sub.h"

#include <sys/uio.h>

/** Items one write takes at most (two iovecs each: envelope and body). */
#define ESL_WRITE_BATCH 256

/** A log line copied out of the logging thread (one malloc block; strings follow it). */
typedef struct esl_logline {
    int level;
    int line;
    const char *file;
    const char *func;
    const char *text;
    apr_size_t text_len;
} esl_logline_t;

/** A framed command reply (one malloc block; the bytes follow it). */
typedef struct esl_reply {
    apr_size_t len;
    char data[];
} esl_reply_t;

/** What the writer has taken from the queue and not yet fully written. */
typedef struct esl_out {
    esl_item_t items[ESL_WRITE_BATCH];
    int nitems;
    struct iovec iov[2 * ESL_WRITE_BATCH];
    int iov_pos, iov_n; /* iov[iov_pos .. iov_n) remain (iov[iov_pos] possibly advanced) */
    int replies;        /* replies among the items */
    apr_pool_t *pool;   /* log-line envelopes; cleared when the batch is done */
} esl_out_t;

struct esl_conn {
    esl_conn_t *next; /* registry; srv->lock */
    esl_server_t *srv;
    apr_pool_t *pool;
    apr_pool_t *scratch;
    pthread_t thread;
    int finished; /* srv->lock: the thread has let go of everything */
    int fd;
    int wake_fd; /* wakes the connection thread: reply written, overflow, write failure, stop */
    unsigned id;
    char ip[64];
    int port;

    /* the connection thread's own state */
    int authed;
    int quit;
    apr_uint64_t command; /* the number of the command being handled (the greeting is 1) */
    const char *notice;   /* disconnect notice to send when closing, or NULL */
    apr_time_t auth_deadline;
    char *rbuf;
    apr_size_t rlen, rcap;
    aorta_event_binding_t *ev_binding;
    aorta_log_binding_t *log_binding;

    /* shared: c->lock */
    pthread_mutex_t lock;
    esl_sub_t *sub;
    esl_filters_t *filters;
    esl_queue_t *queue;
    aorta_event_format_t format; /* events are framed in the format current when written */
    int log_level;
    int dead;                     /* no more pushes */
    int in_writer;                /* the writer knows about this connection (ready or active) */
    int urgent;                   /* a reply waits: no coalescing delay */
    int detach;                   /* the connection thread wants the socket back */
    int detached;                 /* the writer has let go */
    int broken;                   /* a write failed: the peer is gone */
    apr_uint64_t replies_written; /* replies fully written (they are numbered 1, 2, ...) */

    /* the writer's (after detach: the connection thread's) */
    esl_conn_t *ready_next; /* writer lock */
    esl_conn_t *active_next;
    int active;
    int registered; /* in the writer's epoll set */
    int blocked;    /* waiting for EPOLLOUT */
    apr_time_t last_flush;
    esl_out_t out;
};

/** "plain", "json" or "xml". */
const char *esl_format_name(aorta_event_format_t f);
/** Release one taken item (event reference, log line or reply). */
void esl_item_free(esl_item_t *it);

#endif
