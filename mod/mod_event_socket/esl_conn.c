/*
 * esl_conn.c — one inbound event-socket connection: its thread, its commands, its close.
 *
 * Invariants:
 *  - The connection's thread reads its socket and runs its commands; the module's writer
 *    thread (esl_writer.c) does all writing while the connection is attached. A command's
 *    reply is queued behind what was queued before the command began and ahead of anything
 *    queued after (esl_queue.h), so a reply always precedes the events its command caused
 *    (bgapi → BACKGROUND_JOB, api → API). The thread waits for each reply to be written
 *    before it reads the next command: exactly one reply per command, in the order commands
 *    arrive, and a client that does not read stops being read.
 *  - The core's dispatch thread (events) and logging threads only push into the bounded
 *    queue under c->lock and hand the connection to the writer; they never touch the socket
 *    and never block. Nothing logs while holding c->lock (the log binding takes that lock).
 *  - A queue overflow latches; the thread then drops the subscriber with a logged reason.
 *  - At close the thread takes the socket back from the writer (detach) before writing the
 *    disconnect notice and closing it.
 * Memory: the connection's unmanaged pool (freed by the reaper after join); c->scratch is
 * cleared after every command; c->out.pool after every written batch.
 */
#include "esl_conn.h"
#include "esl_proto.h"

#include <apr_strings.h>
#include <apr_uuid.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define ESL_READ_CHUNK 65536
#define ESL_NOTICE_MS 1000

static const char ESL_GOODBYE[] = "Disconnected, goodbye.\n";
static const char ESL_SHUTDOWN[] = "The system is being shut down.\n";
static const char ESL_LOST[] = "killed listener because of lost events\n";
static const char ESL_AUTH_TIMEOUT[] = "Authentication timeout, goodbye.\n";

esl_conn_t *esl_conn_next(esl_conn_t *c)
{
    return c->next;
}

void esl_conn_wake(esl_conn_t *c)
{
    uint64_t one = 1;
    if (write(c->wake_fd, &one, sizeof(one)) < 0) {
        /* the counter is saturated: the thread is awake anyway */
    }
}

void esl_item_free(esl_item_t *it)
{
    if (it->kind == ESL_ITEM_EVENT)
        aorta_event_unref(it->ptr);
    else
        free(it->ptr);
}

/* ---- producers: dispatch thread and logging threads ------------------------------------ */

static const char *esl_event_header_get(void *ctx, const char *name)
{
    return aorta_event_get_header(ctx, name);
}

/* Queue @p ptr (c->lock held by the caller, who releases it, then calls esl_conn_pushed). */
static int esl_conn_push_locked(esl_conn_t *c, esl_item_kind_t kind, void *ptr, int *add)
{
    if (esl_queue_push(c->queue, kind, ptr) != APR_SUCCESS)
        return -1;
    if (!c->in_writer) {
        c->in_writer = 1;
        *add = 1;
    }
    return 0;
}

static void esl_conn_on_event(aorta_event_t *ev, void *user)
{
    esl_conn_t *c = user;
    int add = 0, lost = 0;

    pthread_mutex_lock(&c->lock);
    if (!c->dead && esl_sub_match(c->sub, aorta_event_get_id(ev), aorta_event_get_subclass(ev)) &&
        esl_filters_match(c->filters, esl_event_header_get, ev)) {
        aorta_event_t *ref = aorta_event_ref(ev);
        if (esl_conn_push_locked(c, ESL_ITEM_EVENT, ref, &add) != 0) {
            aorta_event_unref(ref); /* not the last reference: the dispatcher holds one */
            lost = esl_queue_lost(c->queue) == 1;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (add)
        esl_writer_hand(c->srv->writer, c, 1, 0);
    if (lost)
        esl_conn_wake(c); /* the thread must see the overflow now */
}

static void esl_conn_on_log(const aorta_log_line_t *l, void *user)
{
    esl_conn_t *c = user;
    const char *file = l->file ? l->file : "", *func = l->func ? l->func : "";
    const char *text = l->full ? l->full : l->text;
    apr_size_t fl = strlen(file) + 1, fnl = strlen(func) + 1, tl = strlen(text);
    esl_logline_t *ll;
    char *p;
    int add = 0, lost = 0;

    pthread_mutex_lock(&c->lock);
    if (c->dead || (int)l->level > c->log_level) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    pthread_mutex_unlock(&c->lock);

    ll = malloc(sizeof(*ll) + fl + fnl + tl + 1);
    if (!ll)
        return;
    p = (char *)(ll + 1);
    ll->level = (int)l->level;
    ll->line = l->line;
    memcpy(p, file, fl);
    ll->file = p;
    p += fl;
    memcpy(p, func, fnl);
    ll->func = p;
    p += fnl;
    memcpy(p, text, tl + 1);
    ll->text = p;
    ll->text_len = tl;

    pthread_mutex_lock(&c->lock);
    if (c->dead || esl_conn_push_locked(c, ESL_ITEM_LOG, ll, &add) != 0) {
        lost = !c->dead && esl_queue_lost(c->queue) == 1;
        free(ll);
    }
    pthread_mutex_unlock(&c->lock);
    if (add)
        esl_writer_hand(c->srv->writer, c, 1, 0);
    if (lost)
        esl_conn_wake(c);
}

/* ---- replies (connection thread) -------------------------------------------------------- */

static int esl_conn_overflowed(esl_conn_t *c)
{
    int o;
    pthread_mutex_lock(&c->lock);
    o = esl_queue_overflowed(c->queue);
    pthread_mutex_unlock(&c->lock);
    return o;
}

static void esl_conn_drain_wake(esl_conn_t *c)
{
    uint64_t v;
    if (read(c->wake_fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing pending */
    }
}

/* Sleep until esl_conn_wake(); the caller re-checks what it waits for. */
static void esl_conn_sleep(esl_conn_t *c)
{
    struct pollfd pf = {c->wake_fd, POLLIN, 0};
    if (poll(&pf, 1, -1) > 0)
        esl_conn_drain_wake(c);
}

/* A command's handling starts: it is numbered so that its reply goes out ahead of what it causes. */
static void esl_conn_begin(esl_conn_t *c)
{
    pthread_mutex_lock(&c->lock);
    c->command = esl_queue_begin_command(c->queue);
    pthread_mutex_unlock(&c->lock);
}

/* A command's handling ends: one that could not answer still gets an empty placeholder, so
 * what it caused is not held back for ever. */
static void esl_conn_end(esl_conn_t *c)
{
    esl_reply_t *r = NULL;
    int add = 0;
    pthread_mutex_lock(&c->lock);
    if (esl_queue_unanswered(c->queue) > 0 && (r = calloc(1, sizeof(*r))) != NULL) {
        if (esl_queue_reply(c->queue, r) != APR_SUCCESS) {
            free(r);
            r = NULL;
        } else if (!c->in_writer) {
            c->in_writer = 1;
            add = 1;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (r)
        esl_writer_hand(c->srv->writer, c, add, 1);
}

/*
 * Queue the reply of the command being handled (head and optional body, copied) and wait
 * until the writer has written it, or the connection is going away (c->quit is then set).
 */
static void esl_conn_answer(esl_conn_t *c, const char *head, apr_size_t hlen, const char *body, apr_size_t blen)
{
    esl_reply_t *r = malloc(sizeof(*r) + hlen + blen);
    apr_uint64_t n = 0;
    apr_status_t st = APR_ENOMEM;
    int add = 0;

    if (r) {
        r->len = hlen + blen;
        memcpy(r->data, head, hlen);
        if (blen)
            memcpy(r->data + hlen, body, blen);
        pthread_mutex_lock(&c->lock);
        if ((st = esl_queue_reply(c->queue, r)) == APR_SUCCESS) {
            n = c->command;
            c->urgent = 1;
            if (!c->in_writer) {
                c->in_writer = 1;
                add = 1;
            }
        }
        pthread_mutex_unlock(&c->lock);
    }
    if (st != APR_SUCCESS) {
        free(r);
        c->quit = 1;
        return;
    }
    esl_writer_hand(c->srv->writer, c, add, 1);
    for (;;) {
        int done, gone;
        pthread_mutex_lock(&c->lock);
        done = c->replies_written >= n;
        gone = c->broken || esl_queue_overflowed(c->queue);
        pthread_mutex_unlock(&c->lock);
        if (done)
            return;
        if (gone || c->srv->stopping) {
            c->quit = 1;
            return;
        }
        esl_conn_sleep(c);
    }
}

static void esl_conn_answer_text(esl_conn_t *c, const char *frame)
{
    esl_conn_answer(c, frame, strlen(frame), NULL, 0);
}

/* command/reply with Reply-Text (escaped: never a bare '%' in a header). */
static void esl_conn_reply(esl_conn_t *c, const char *fmt, ...) AORTA_PRINTF(2, 3);
static void esl_conn_reply(esl_conn_t *c, const char *fmt, ...)
{
    va_list ap;
    char *text;

    va_start(ap, fmt);
    text = apr_pvsprintf(c->scratch, fmt, ap);
    va_end(ap);
    esl_conn_answer_text(c, apr_pstrcat(c->scratch, "Content-Type: command/reply\nReply-Text: ",
                                        esl_header_escape(text, c->scratch), "\n\n", NULL));
}

/* Remove queued items of one kind (noevents drops events, nolog drops log lines). */
static void esl_conn_flush(esl_conn_t *c, esl_item_kind_t kind)
{
    pthread_mutex_lock(&c->lock);
    esl_queue_drop(c->queue, kind, esl_item_free);
    pthread_mutex_unlock(&c->lock);
}

/* ---- commands -------------------------------------------------------------------------- */

static void esl_cmd_api(esl_conn_t *c, const char *rest)
{
    aorta_stream_t *out = aorta_stream_create(c->scratch);
    const char *cmdline = esl_trim(rest, c->scratch), *data;
    apr_size_t len = 0;
    char head[96];
    int n;

    if (esl_api_is_self_unload(cmdline))
        aorta_stream_puts(out, "-ERR mod_event_socket cannot be unloaded or reloaded over the event socket; "
                               "use the console\n");
    else
        aorta_api_execute(cmdline, out, c->scratch);
    data = aorta_stream_data(out, &len);
    if (len == 0) {
        data = "-ERR no reply\n";
        len = strlen(data);
    }
    n = snprintf(head, sizeof(head), "Content-Type: api/response\nContent-Length: %" APR_SIZE_T_FMT "\n\n", len);
    esl_conn_answer(c, head, (apr_size_t)n, data, len);
}

static void esl_cmd_bgapi(esl_conn_t *c, const char *rest, const esl_packet_t *pkt)
{
    const char *cmdline = esl_trim(rest, c->scratch);
    const char *uuid = esl_packet_header(pkt, "Job-UUID");
    const char *euuid;
    char *frame;
    apr_status_t st;

    if (!uuid || !*uuid) {
        apr_uuid_t u;
        char buf[APR_UUID_FORMATTED_LENGTH + 1];
        apr_uuid_get(&u);
        apr_uuid_format(buf, &u);
        uuid = apr_pstrdup(c->scratch, buf);
    }
    if ((st = esl_bgapi_start(c->srv, cmdline, uuid)) != APR_SUCCESS) {
        char err[120];
        esl_conn_reply(c, "-ERR cannot queue job: %s", aorta_strerror(st, err, sizeof(err)));
        return;
    }
    euuid = esl_header_escape(uuid, c->scratch);
    frame = apr_pstrcat(c->scratch, "Content-Type: command/reply\nReply-Text: +OK Job-UUID: ", euuid,
                        "\nJob-UUID: ", euuid, "\n\n", NULL);
    esl_conn_answer_text(c, frame);
}

static void esl_cmd_event(esl_conn_t *c, const char *rest)
{
    aorta_event_format_t fmt;
    int keys;

    pthread_mutex_lock(&c->lock);
    fmt = c->format;
    keys = esl_sub_event(c->sub, rest, &fmt);
    c->format = fmt; /* the format changes even without keywords, as in FreeSWITCH */
    pthread_mutex_unlock(&c->lock);
    if (keys == 0)
        esl_conn_reply(c, "-ERR no keywords supplied");
    else
        esl_conn_reply(c, "+OK event listener enabled %s", esl_format_name(fmt));
}

static void esl_cmd_nixevent(esl_conn_t *c, const char *rest)
{
    int keys;
    pthread_mutex_lock(&c->lock);
    keys = esl_sub_nix(c->sub, rest);
    pthread_mutex_unlock(&c->lock);
    if (keys == 0)
        esl_conn_reply(c, "-ERR no keywords supplied");
    else
        esl_conn_reply(c, "+OK events nixed");
}

static void esl_cmd_noevents(esl_conn_t *c)
{
    int was;
    pthread_mutex_lock(&c->lock);
    was = esl_sub_clear(c->sub);
    pthread_mutex_unlock(&c->lock);
    esl_conn_flush(c, ESL_ITEM_EVENT);
    if (was)
        esl_conn_reply(c, "+OK no longer listening for events");
    else
        esl_conn_reply(c, "-ERR not listening for events");
}

/* Split "a b c" into "a" and "b c" (NULL when there is no space), as FreeSWITCH's strchr(' '). */
static char *esl_split(char *s)
{
    char *sp = strchr(s, ' ');
    if (!sp)
        return NULL;
    *sp = '\0';
    return sp + 1;
}

static void esl_cmd_filter(esl_conn_t *c, const char *rest)
{
    char *name = apr_pstrdup(c->scratch, rest), *val;
    const char *err = NULL;
    apr_status_t st;

    while (*name == ' ')
        name++;
    val = esl_split(name);
    if (strcasecmp(name, "delete") == 0 && val) {
        name = val;
        val = esl_split(name);
        pthread_mutex_lock(&c->lock);
        if (strcasecmp(name, "all") == 0)
            esl_filters_clear(c->filters);
        else
            esl_filters_delete(c->filters, name, val);
        pthread_mutex_unlock(&c->lock);
        esl_conn_reply(c, "+OK filter deleted. [%s][%s]", name, val ? val : "");
        return;
    }
    if (val && strcasecmp(name, "add") == 0) {
        name = val;
        val = esl_split(name);
    }
    if (!val || !*name) {
        esl_conn_reply(c, "-ERR invalid syntax");
        return;
    }
    pthread_mutex_lock(&c->lock);
    st = esl_filters_add(c->filters, name, val, &err, c->scratch);
    pthread_mutex_unlock(&c->lock);
    if (st != APR_SUCCESS)
        esl_conn_reply(c, "-ERR invalid regular expression: %s", err ? err : "out of memory");
    else
        esl_conn_reply(c, "+OK filter added. [%s]=[%s]", name, val);
}

static void esl_cmd_log(esl_conn_t *c, const char *rest)
{
    const char *level_s = esl_trim(rest, c->scratch);
    aorta_log_level_t level = AORTA_LOG_DEBUG;

    if (*level_s && aorta_log_level_parse(level_s, &level) != APR_SUCCESS) {
        esl_conn_reply(c, "-ERR invalid log level");
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->log_level = (int)level;
    pthread_mutex_unlock(&c->lock);
    if (c->log_binding)
        aorta_log_binding_level_set(c->log_binding, level);
    else if (aorta_log_bind(level, esl_conn_on_log, c, &c->log_binding) != APR_SUCCESS) {
        c->log_binding = NULL;
        esl_conn_reply(c, "-ERR cannot subscribe to the log");
        return;
    }
    esl_conn_reply(c, "+OK log level %s [%d]", level_s, (int)level);
}

static void esl_cmd_nolog(esl_conn_t *c)
{
    if (!c->log_binding) {
        esl_conn_reply(c, "-ERR not loging");
        return;
    }
    aorta_log_unbind(c->log_binding); /* no callback runs after this returns */
    c->log_binding = NULL;
    pthread_mutex_lock(&c->lock);
    c->log_level = -1;
    pthread_mutex_unlock(&c->lock);
    esl_conn_flush(c, ESL_ITEM_LOG);
    esl_conn_reply(c, "+OK no longer logging");
}

/* Headers the core puts on every event; a client's copy of them is dropped (ESL.md §9:
 * FreeSWITCH appends duplicates, we deduplicate). */
static int esl_is_standard_header(const char *name)
{
    static const char *const std[] = {"Event-Name", "Core-UUID", "FreeSWITCH-Hostname", "FreeSWITCH-Switchname",
                                      "FreeSWITCH-IPv4", "FreeSWITCH-IPv6", "Event-Date-Local", "Event-Date-GMT",
                                      "Event-Date-Timestamp", "Event-Calling-File", "Event-Calling-Function",
                                      "Event-Calling-Line-Number", "Event-Sequence", "Event-Subclass",
                                      "Content-Length", NULL};
    int i;
    for (i = 0; std[i]; i++)
        if (strcasecmp(std[i], name) == 0)
            return 1;
    return 0;
}

static void esl_cmd_sendevent(esl_conn_t *c, const char *rest, const esl_packet_t *pkt)
{
    const char *name = esl_word(rest, NULL, c->scratch), *subclass = NULL;
    aorta_event_id_t id;
    aorta_event_t *ev = NULL;
    char ubuf[APR_UUID_FORMATTED_LENGTH + 1];
    apr_uuid_t u;
    apr_status_t st;
    int i;

    if (!*name || aorta_event_name_parse(name, &id) != APR_SUCCESS || id == AORTA_EVENT_ALL) {
        esl_conn_reply(c, "-ERR invalid event name");
        return;
    }
    if (id == AORTA_EVENT_CUSTOM)
        subclass = esl_packet_header(pkt, "Event-Subclass");
    if (aorta_event_create_detailed(&ev, id, subclass && *subclass ? subclass : NULL, __FILE__, __func__,
                                    __LINE__) != APR_SUCCESS) {
        esl_conn_reply(c, "-ERR cannot create event");
        return;
    }
    aorta_event_add_header(ev, "Command", pkt->command);
    for (i = 0; i < pkt->headers->nelts; i++) {
        const esl_header_t *h = &APR_ARRAY_IDX(pkt->headers, i, esl_header_t);
        if (!esl_is_standard_header(h->name))
            aorta_event_add_header(ev, h->name, h->value);
    }
    apr_uuid_get(&u);
    apr_uuid_format(ubuf, &u);
    aorta_event_add_header(ev, "Event-UUID", ubuf);
    if (pkt->body)
        aorta_event_set_body(ev, pkt->body, pkt->body_len);
    if ((st = aorta_event_fire(&ev)) != APR_SUCCESS) {
        char err[120];
        esl_conn_reply(c, "-ERR event not fired: %s", aorta_strerror(st, err, sizeof(err)));
        return;
    }
    esl_conn_reply(c, "+OK %s", ubuf);
}

/* Constant-time for equal lengths, so the reply time says nothing about the password. */
static int esl_password_ok(const char *given, const char *want)
{
    apr_size_t gl = strlen(given), wl = strlen(want), i;
    unsigned char diff = gl != wl;
    for (i = 0; i < gl && i < wl; i++)
        diff |= (unsigned char)(given[i] ^ want[i]);
    return diff == 0;
}

static void esl_conn_disconnect(esl_conn_t *c, const char *notice)
{
    c->notice = notice;
    c->quit = 1;
}

static void esl_cmd_auth(esl_conn_t *c, const char *word, const char *rest)
{
    if (strcasecmp(word, "auth") == 0) {
        /* exactly the bytes after "auth ", minus line-end whitespace */
        char *pw = apr_pstrdup(c->scratch, rest);
        apr_size_t n = strlen(pw);
        while (n > 0 && (pw[n - 1] == ' ' || pw[n - 1] == '\t'))
            pw[--n] = '\0';
        if (esl_password_ok(pw, c->srv->cfg->password)) {
            c->authed = 1;
            if (aorta_event_bind(AORTA_EVENT_ALL, NULL, esl_conn_on_event, c, &c->ev_binding) != APR_SUCCESS) {
                c->ev_binding = NULL;
                aorta_log(AORTA_LOG_ERR, "event socket: %s:%d cannot bind to events\n", c->ip, c->port);
            }
            esl_conn_reply(c, "+OK accepted");
            aorta_log(AORTA_LOG_INFO, "event socket: %s:%d authenticated (connection %u)\n", c->ip, c->port, c->id);
            return;
        }
    }
    aorta_log(AORTA_LOG_WARNING, "event socket: %s:%d failed to authenticate (%s)\n", c->ip, c->port,
              strcasecmp(word, "auth") == 0 ? "wrong password" : "userauth is not supported");
    esl_conn_reply(c, "-ERR invalid");
    esl_conn_disconnect(c, ESL_GOODBYE);
}

static void esl_conn_handle(esl_conn_t *c, const esl_packet_t *pkt)
{
    const char *rest = "";
    const char *word = esl_word(pkt->command, &rest, c->scratch);

    if (strcasecmp(word, "exit") == 0 || strcmp(word, "...") == 0) {
        esl_conn_reply(c, "+OK bye");
        esl_conn_disconnect(c, ESL_GOODBYE);
        return;
    }
    if (!c->authed) {
        if (strcasecmp(word, "auth") == 0 || strcasecmp(word, "userauth") == 0)
            esl_cmd_auth(c, word, rest);
        else
            esl_conn_reply(c, "-ERR command not found");
        return;
    }
    if (strcasecmp(word, "api") == 0)
        esl_cmd_api(c, rest);
    else if (strcasecmp(word, "bgapi") == 0)
        esl_cmd_bgapi(c, rest, pkt);
    else if (strcasecmp(word, "event") == 0)
        esl_cmd_event(c, rest);
    else if (strcasecmp(word, "nixevent") == 0)
        esl_cmd_nixevent(c, rest);
    else if (strcasecmp(word, "noevents") == 0)
        esl_cmd_noevents(c);
    else if (strcasecmp(word, "filter") == 0)
        esl_cmd_filter(c, rest);
    else if (strcasecmp(word, "log") == 0)
        esl_cmd_log(c, rest);
    else if (strcasecmp(word, "nolog") == 0)
        esl_cmd_nolog(c);
    else if (strcasecmp(word, "sendevent") == 0)
        esl_cmd_sendevent(c, rest, pkt);
    else if (strcasecmp(word, "sendmsg") == 0)
        esl_conn_reply(c, "-ERR invalid session id [%s]", esl_trim(rest, c->scratch));
    else if (strcasecmp(word, "myevents") == 0 || strcasecmp(word, "divert_events") == 0 ||
             strcasecmp(word, "linger") == 0 || strcasecmp(word, "nolinger") == 0 ||
             strcasecmp(word, "resume") == 0 || strcasecmp(word, "getvar") == 0 || strcasecmp(word, "connect") == 0)
        esl_conn_reply(c, "-ERR not controlling a session");
    else
        esl_conn_reply(c, "-ERR command not found");
}

/* ---- input ----------------------------------------------------------------------------- */

/* Handle every complete packet in the buffer. Returns -1 if the client broke a limit. */
static int esl_conn_process(esl_conn_t *c)
{
    apr_size_t off = 0;
    int rc = 0;

    while (!c->quit) {
        esl_packet_t *pkt = NULL;
        apr_size_t used = 0;
        apr_status_t st = esl_packet_parse(c->rbuf + off, c->rlen - off, c->scratch, &pkt, &used);
        off += used;
        if (st == APR_INCOMPLETE)
            break;
        if (st != APR_SUCCESS) {
            rc = -1;
            break;
        }
        esl_conn_begin(c);
        esl_conn_handle(c, pkt);
        esl_conn_end(c);
        apr_pool_clear(c->scratch);
    }
    if (off > 0) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    return rc;
}

/* Read what is available. Returns 0 on data or nothing, -1 when the peer closed or failed. */
static int esl_conn_read(esl_conn_t *c)
{
    for (;;) {
        ssize_t r;
        if (c->rcap - c->rlen < ESL_READ_CHUNK / 4) {
            apr_size_t ncap = c->rcap * 2;
            char *n;
            if (ncap > ESL_MAX_HEADER_BYTES + ESL_MAX_CONTENT_LENGTH + ESL_READ_CHUNK)
                return -1; /* esl_packet_parse refuses such a packet anyway */
            n = realloc(c->rbuf, ncap);
            if (!n)
                return -1;
            c->rbuf = n;
            c->rcap = ncap;
        }
        r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (r > 0) {
            c->rlen += (apr_size_t)r;
            if (c->rcap - c->rlen > 0)
                return 0;
            continue;
        }
        if (r == 0)
            return -1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1;
    }
}

/* ---- thread ---------------------------------------------------------------------------- */

/* The overflow latch is set: log why (once, here, where the subscriber is dropped). */
static int esl_conn_check_overflow(esl_conn_t *c)
{
    apr_uint64_t lost;
    if (!esl_conn_overflowed(c))
        return 0;
    pthread_mutex_lock(&c->lock);
    lost = esl_queue_lost(c->queue);
    pthread_mutex_unlock(&c->lock);
    aorta_log(AORTA_LOG_CRIT,
              "event socket: killed listener because of lost events: %s:%d (connection %u) is not reading; "
              "max-queue %d reached, %" APR_UINT64_T_FMT " lost\n",
              c->ip, c->port, c->id, c->srv->cfg->max_queue, lost);
    c->notice = ESL_LOST;
    c->quit = 1;
    return 1;
}

static int esl_conn_broken(esl_conn_t *c)
{
    int b;
    pthread_mutex_lock(&c->lock);
    b = c->broken;
    pthread_mutex_unlock(&c->lock);
    return b;
}

static void esl_conn_loop(esl_conn_t *c)
{
    static const char greeting[] = "Content-Type: auth/request\n\n";

    esl_conn_begin(c);
    esl_conn_answer_text(c, greeting);

    while (!c->quit) {
        struct pollfd pf[2] = {{c->fd, POLLIN, 0}, {c->wake_fd, POLLIN, 0}};
        int timeout = -1, r;

        if (c->srv->stopping) {
            esl_conn_disconnect(c, ESL_SHUTDOWN);
            break;
        }
        if (esl_conn_check_overflow(c) || esl_conn_broken(c))
            break;
        if (!c->authed) {
            apr_time_t left = c->auth_deadline - apr_time_now();
            if (left <= 0) {
                aorta_log(AORTA_LOG_NOTICE, "event socket: %s:%d did not authenticate within %d s\n", c->ip, c->port,
                          c->srv->cfg->auth_timeout);
                esl_conn_disconnect(c, ESL_AUTH_TIMEOUT);
                break;
            }
            timeout = (int)apr_time_msec(left) + 1;
        }

        r = poll(pf, 2, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        if (pf[1].revents & POLLIN)
            esl_conn_drain_wake(c);
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            int gone = esl_conn_read(c) < 0;
            if (esl_conn_process(c) < 0) {
                aorta_log(AORTA_LOG_WARNING, "event socket: %s:%d sent an oversized packet; disconnecting\n", c->ip,
                          c->port);
                break;
            }
            if (gone)
                break; /* the peer closed: no one to send a notice to */
        }
    }
}

/* Take the socket back from the writer; afterwards the writer never touches c again. */
static void esl_conn_detach(esl_conn_t *c)
{
    int add, done;

    pthread_mutex_lock(&c->lock);
    c->detach = 1;
    add = !c->in_writer;
    c->in_writer = 1;
    pthread_mutex_unlock(&c->lock);
    esl_writer_hand(c->srv->writer, c, add, 1);
    for (;;) {
        pthread_mutex_lock(&c->lock);
        done = c->detached;
        pthread_mutex_unlock(&c->lock);
        if (done)
            return;
        esl_conn_sleep(c);
    }
}

/*
 * Write all of @p iov, waiting for room until @p end at most (a time in the past: only what
 * fits now). Returns APR_SUCCESS or an error.
 */
static apr_status_t esl_conn_writev(esl_conn_t *c, struct iovec *iov, int n, apr_time_t end)
{
    while (n > 0) {
        struct msghdr mh;
        ssize_t w;
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)n;
        w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0) {
            while (n > 0 && (size_t)w >= iov->iov_len) {
                w -= (ssize_t)iov->iov_len;
                iov++;
                n--;
            }
            if (n > 0) {
                iov->iov_base = (char *)iov->iov_base + w;
                iov->iov_len -= (size_t)w;
            }
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return APR_FROM_OS_ERROR(errno);
        for (;;) {
            struct pollfd pf = {c->fd, POLLOUT, 0};
            apr_time_t left = end - apr_time_now();
            int r;
            if (left <= 0)
                return APR_TIMEUP;
            r = poll(&pf, 1, (int)apr_time_msec(left) + 1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return APR_FROM_OS_ERROR(errno);
            if (pf.revents & (POLLOUT | POLLERR | POLLHUP))
                break;
        }
    }
    return APR_SUCCESS;
}

/*
 * After detach: finish the batch the writer left half written (so the notice starts on a
 * frame boundary), write the replies not yet written (e.g. "+OK bye" during shutdown) and
 * the disconnect notice, within ESL_NOTICE_MS for a goodbye and without waiting otherwise.
 * Queued events and log lines are dropped.
 */
static void esl_conn_send_last(esl_conn_t *c)
{
    apr_time_t end = apr_time_now() + (c->notice == ESL_GOODBYE ? apr_time_from_msec(ESL_NOTICE_MS) : 0);
    apr_status_t st = APR_SUCCESS;
    esl_out_t *o = &c->out;
    esl_item_t it;

    if (c->notice && !c->broken && o->iov_pos < o->iov_n)
        st = esl_conn_writev(c, o->iov + o->iov_pos, o->iov_n - o->iov_pos, end);
    esl_out_finish(c);
    pthread_mutex_lock(&c->lock);
    while (esl_queue_pop(c->queue, &it)) {
        if (it.kind == ESL_ITEM_REPLY && c->notice && !c->broken && st == APR_SUCCESS) {
            esl_reply_t *r = it.ptr;
            struct iovec iov = {r->data, r->len};
            pthread_mutex_unlock(&c->lock); /* no one else takes from the queue any more */
            st = esl_conn_writev(c, &iov, 1, end);
            pthread_mutex_lock(&c->lock);
        }
        esl_item_free(&it);
    }
    pthread_mutex_unlock(&c->lock);
    if (c->notice && !c->broken && st == APR_SUCCESS) {
        char head[96];
        struct iovec iov[2];
        int n = snprintf(head, sizeof(head), "Content-Type: text/disconnect-notice\nContent-Length: %u\n\n",
                         (unsigned)strlen(c->notice));
        iov[0].iov_base = head;
        iov[0].iov_len = (size_t)n;
        iov[1].iov_base = (void *)c->notice;
        iov[1].iov_len = strlen(c->notice);
        esl_conn_writev(c, iov, 2, end);
    }
}

static void *esl_conn_main(void *arg)
{
    esl_conn_t *c = arg;

    aorta_thread_name("esl-conn");
    esl_conn_loop(c);
    if (c->notice != ESL_LOST)
        esl_conn_check_overflow(c); /* a reply's wait may have ended because of it */

    /* Stop the producers first: after unbind no callback of ours runs or will run. */
    pthread_mutex_lock(&c->lock);
    c->dead = 1;
    pthread_mutex_unlock(&c->lock);
    if (c->ev_binding)
        aorta_event_unbind(c->ev_binding);
    if (c->log_binding)
        aorta_log_unbind(c->log_binding);
    c->ev_binding = NULL;
    c->log_binding = NULL;

    esl_conn_detach(c);
    esl_conn_send_last(c);
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    c->fd = -1;
    free(c->rbuf);
    c->rbuf = NULL;
    aorta_log(AORTA_LOG_DEBUG, "event socket: connection %u from %s:%d closed\n", c->id, c->ip, c->port);

    pthread_mutex_lock(&c->srv->lock);
    c->finished = 1;
    c->srv->nconns--;
    pthread_mutex_unlock(&c->srv->lock);
    return NULL;
}

static void esl_conn_destroy(esl_conn_t *c)
{
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    if (c->fd >= 0)
        close(c->fd);
    free(c->rbuf);
    pthread_mutex_destroy(&c->lock);
    apr_pool_destroy(c->pool);
}

apr_status_t esl_conn_start(esl_server_t *srv, int fd, const char *ip, int port)
{
    apr_pool_t *pool = NULL;
    esl_conn_t *c;
    int one = 1, rc;

    if (aorta_pool_create_unmanaged(&pool) != APR_SUCCESS) {
        close(fd);
        return APR_ENOMEM;
    }
    c = apr_pcalloc(pool, sizeof(*c));
    c->pool = pool;
    c->srv = srv;
    c->fd = fd;
    c->port = port;
    apr_cpystrn(c->ip, ip, sizeof(c->ip));
    c->format = AORTA_EVENT_FORMAT_PLAIN;
    c->log_level = -1;
    c->auth_deadline = apr_time_now() + apr_time_from_sec(srv->cfg->auth_timeout);
    c->rcap = ESL_READ_CHUNK;
    c->rbuf = malloc(c->rcap);
    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    aorta_pool_create(&c->scratch, pool);
    aorta_pool_create(&c->out.pool, pool);
    pthread_mutex_init(&c->lock, NULL);
    c->sub = esl_sub_create(pool);
    c->filters = esl_filters_create(pool);
    c->queue = esl_queue_create(pool, (apr_size_t)srv->cfg->max_queue);
    if (!c->rbuf || c->wake_fd < 0) {
        aorta_log(AORTA_LOG_ERR, "event socket: cannot set up a connection for %s:%d\n", ip, port);
        esl_conn_destroy(c);
        return APR_ENOMEM;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    pthread_mutex_lock(&srv->lock);
    c->id = ++srv->next_id;
    c->next = srv->conns;
    srv->conns = c;
    srv->nconns++;
    rc = pthread_create(&c->thread, NULL, esl_conn_main, c);
    if (rc != 0) {
        srv->conns = c->next;
        srv->nconns--;
    }
    pthread_mutex_unlock(&srv->lock);
    if (rc != 0) {
        aorta_log(AORTA_LOG_ERR, "event socket: cannot start a thread for %s:%d: %s\n", ip, port, strerror(rc));
        esl_conn_destroy(c);
        return APR_FROM_OS_ERROR(rc);
    }
    aorta_log(AORTA_LOG_DEBUG, "event socket: connection %u from %s:%d\n", c->id, ip, port);
    return APR_SUCCESS;
}

void esl_conn_reap(esl_server_t *srv, int all)
{
    for (;;) {
        esl_conn_t **pp, *c = NULL;
        pthread_mutex_lock(&srv->lock);
        for (pp = &srv->conns; *pp; pp = &(*pp)->next) {
            if ((*pp)->finished || all) {
                c = *pp;
                *pp = c->next;
                break;
            }
        }
        pthread_mutex_unlock(&srv->lock);
        if (!c)
            return;
        pthread_join(c->thread, NULL);
        esl_conn_destroy(c);
    }
}
