/*
 * esl.h — mod_event_socket's internal interfaces: the server (listening socket, registry of
 * connections, pending bgapi jobs) and what its files call in each other.
 *
 * Threads: the module's runtime thread accepts and reaps; each connection has one thread that
 * does all reading and writing on its socket; the core's dispatch thread (events) and any
 * logging thread only push into a connection's bounded queue; bgapi jobs run on the core's
 * worker pool and talk to nobody but the event system.
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
/** Wake a connection's thread (shutdown). Call with srv->lock held. */
void esl_conn_wake(esl_conn_t *c);
/** Join finished connection threads (all of them with @p all) and free them. */
void esl_conn_reap(esl_server_t *srv, int all);

/* esl_bgapi.c */
/** Queue @p cmdline on the core worker pool; BACKGROUND_JOB with Job-UUID @p uuid follows. */
apr_status_t esl_bgapi_start(esl_server_t *srv, const char *cmdline, const char *uuid);
/** 1 if @p cmdline would unload or reload mod_event_socket itself (refused from a connection). */
int esl_api_is_self_unload(const char *cmdline);

#endif
