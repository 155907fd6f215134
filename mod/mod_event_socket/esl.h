/*
 * esl.h — mod_event_socket's internal interfaces: the server (listening socket, registry of
 * connections, pending bgapi jobs) and what its files call in each other.
 *
 * Threads: the module's runtime thread accepts and reaps; each connection has one thread that
 * reads its socket and runs its commands; one writer thread writes to every connection's
 * socket (events, log lines, replies); the core's dispatch thread (events) and any logging
 * thread only push into a connection's bounded queue and hand the connection to the writer;
 * bgapi jobs run on the core's worker pool and talk to nobody but the event system.
 * Memory: the server lives in the module pool; each connection in its own unmanaged pool,
 * destroyed by whoever joins its thread (the reaper or shutdown).
 */
#ifndef ESL_H
#define ESL_H

#include <aorta/aorta.h>
#include <pthread.h>

#include "esl_acl.h"

/** event_socket.conf <settings>, filled by aorta_settings_apply(). */
typedef struct esl_settings {
    const char *listen_ip;
    int listen_port;
    const char *password;
    apr_array_header_t *acl_list; /**< const char * CIDRs */
    int max_clients;
    int max_queue;
    int auth_timeout; /**< seconds from accept to a successful auth */
    esl_acl_t *acl;   /**< parsed acl_list (by configure) */
} esl_settings_t;

typedef struct esl_conn esl_conn_t;
typedef struct esl_writer esl_writer_t;

typedef struct esl_server {
    aorta_module_t *mod;
    apr_pool_t *pool;          /**< module pool */
    const esl_settings_t *cfg; /**< the generation load() saw; module reload applies changes */
    int listen_fd;
    pthread_mutex_t lock;      /**< conns, nconns, jobs */
    pthread_cond_t jobs_done;
    esl_conn_t *conns;
    int nconns;
    unsigned next_id;
    int jobs;                  /**< bgapi jobs queued or running */
    esl_writer_t *writer;      /**< set by esl_writer_start */
    volatile int stopping;
} esl_server_t;

/* esl_listener.c */
/** Bind and listen on listen-ip:listen-port; logs and returns an error on failure. */
apr_status_t esl_server_listen(esl_server_t *srv);
/** Accept loop; returns when aorta_module_running() turns 0. */
void esl_server_run(esl_server_t *srv);
/** Disconnect every client, wait for their threads and for bgapi jobs, close the socket. */
void esl_server_stop(esl_server_t *srv);

/* esl_conn.c */
/** Start a thread for accepted socket @p fd; takes ownership of @p fd in every case. */
apr_status_t esl_conn_start(esl_server_t *srv, int fd, const char *ip, int port);
/** The next connection in the server's registry (iterate with srv->lock held). */
esl_conn_t *esl_conn_next(esl_conn_t *c);
/** Wake a connection's thread (it re-checks stop, overflow, written replies, detach). */
void esl_conn_wake(esl_conn_t *c);
/** Join finished connection threads (all of them with @p all) and free them. */
void esl_conn_reap(esl_server_t *srv, int all);

/* esl_writer.c */
/** Start the writer thread (srv->writer); logs and returns an error on failure. */
apr_status_t esl_writer_start(esl_server_t *srv);
/** Stop and join the writer; call once every connection thread has been joined. */
void esl_writer_stop(esl_server_t *srv);
/**
 * Tell the writer about @p c: @p add puts it on the writer's ready list (only when the caller
 * turned c->in_writer from 0 to 1 under c->lock); @p wake wakes the writer even if it is
 * waiting for a deadline (replies, detach). Never blocks.
 */
void esl_writer_hand(esl_writer_t *w, esl_conn_t *c, int add, int wake);
/** Write c->out's remaining iovecs without waiting: 0 all written, 1 the socket is full, -1 failed. */
int esl_out_write(esl_conn_t *c);
/** Free c->out's items; returns how many of them were replies. */
int esl_out_finish(esl_conn_t *c);

/* esl_bgapi.c */
/** Queue @p cmdline on the core worker pool; BACKGROUND_JOB with Job-UUID @p uuid follows. */
apr_status_t esl_bgapi_start(esl_server_t *srv, const char *cmdline, const char *uuid);
/** 1 if @p cmdline would unload or reload mod_event_socket itself (refused from a connection). */
int esl_api_is_self_unload(const char *cmdline);

#endif
