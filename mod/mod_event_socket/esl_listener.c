/*
 * esl_listener.c — the event socket's listening socket: bind, accept, admission (ACL and
 * max-clients, answered with text/rude-rejection), and stopping everything at shutdown.
 *
 * Runs on the module's runtime thread. The accept loop polls with a short timeout so that it
 * notices aorta_module_running() turning 0, and reaps finished connection threads on the way.
 */
#include "esl.h"

#include <apr_strings.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ESL_ACCEPT_POLL_MS 200

apr_status_t esl_server_listen(esl_server_t *srv)
{
    struct addrinfo hints, *res = NULL;
    char port[16];
    int fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", srv->cfg->listen_port);
    if ((rc = getaddrinfo(srv->cfg->listen_ip, port, &hints, &res)) != 0) {
        aorta_log(AORTA_LOG_ERR, "event socket: listen-ip '%s' is not a numeric address: %s\n", srv->cfg->listen_ip,
                  gai_strerror(rc));
        return APR_EINVAL;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0) {
        int err = errno;
        aorta_log(AORTA_LOG_ERR, "event socket: cannot listen on %s:%d: %s\n", srv->cfg->listen_ip,
                  srv->cfg->listen_port, strerror(err));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return APR_FROM_OS_ERROR(err);
    }
    freeaddrinfo(res);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    srv->listen_fd = fd;
    aorta_log(AORTA_LOG_NOTICE, "event socket listening on %s:%d\n", srv->cfg->listen_ip, srv->cfg->listen_port);
    return APR_SUCCESS;
}

/* One non-blocking attempt: a fresh socket's send buffer always has room for this. */
static void esl_reject(int fd, const char *body)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "Content-Type: text/rude-rejection\nContent-Length: %u\n\n%s",
                     (unsigned)strlen(body), body);
    if (send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* the peer is gone already; nothing to tell it */
    }
    close(fd);
}

static void esl_peer_name(const struct sockaddr_storage *ss, char *ip, apr_size_t iplen, int *port)
{
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen);
        *port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen);
        *port = ntohs(s4->sin_port);
    }
}

static void esl_server_accept(esl_server_t *srv, apr_pool_t *scratch)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char ip[INET6_ADDRSTRLEN + 1] = "";
        int port = 0, fd, full;

        fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                aorta_log(AORTA_LOG_ERR, "event socket: accept failed: %s\n", strerror(errno));
            return;
        }
        esl_peer_name(&ss, ip, sizeof(ip), &port);

        if (!esl_acl_allows(srv->cfg->acl, ip, scratch)) {
            aorta_log(AORTA_LOG_WARNING, "event socket: %s:%d rejected by apply-inbound-acl\n", ip, port);
            esl_reject(fd, "Access Denied, go away.\n");
            continue;
        }
        pthread_mutex_lock(&srv->lock);
        full = srv->cfg->max_clients > 0 && srv->nconns >= srv->cfg->max_clients;
        pthread_mutex_unlock(&srv->lock);
        if (full) {
            aorta_log(AORTA_LOG_WARNING, "event socket: %s:%d rejected: max-clients (%d) reached\n", ip, port,
                      srv->cfg->max_clients);
            esl_reject(fd, "Too many connections, go away.\n");
            continue;
        }
        esl_conn_start(srv, fd, ip, port);
    }
}

void esl_server_run(esl_server_t *srv)
{
    apr_pool_t *scratch;

    aorta_pool_create(&scratch, NULL);
    while (aorta_module_running(srv->mod) && !srv->stopping) {
        struct pollfd pfd = {srv->listen_fd, POLLIN, 0};
        int n = poll(&pfd, 1, ESL_ACCEPT_POLL_MS);
        if (n > 0 && (pfd.revents & POLLIN))
            esl_server_accept(srv, scratch);
        apr_pool_clear(scratch);
        esl_conn_reap(srv, 0);
    }
    apr_pool_destroy(scratch);
}

void esl_server_stop(esl_server_t *srv)
{
    esl_conn_t *c;

    srv->stopping = 1;
    pthread_mutex_lock(&srv->lock);
    for (c = srv->conns; c; c = esl_conn_next(c))
        esl_conn_wake(c);
    pthread_mutex_unlock(&srv->lock);
    esl_conn_reap(srv, 1);
    esl_writer_stop(srv); /* no connection is left to detach from it */

    /* bgapi jobs run our code on the core's workers: the module must outlive them */
    pthread_mutex_lock(&srv->lock);
    while (srv->jobs > 0)
        pthread_cond_wait(&srv->jobs_done, &srv->lock);
    pthread_mutex_unlock(&srv->lock);

    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
        srv->listen_fd = -1;
    }
}
