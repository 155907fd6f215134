/*
 * cli.c — aorta-cli, the operator's console: an fs_cli-like client of the event socket.
 *
 *   aorta-cli [-H host] [-P port] [-p password] [--conf DIR] [-x "command"]
 *
 * With -x it runs one API command, prints the body and exits 0, or 1 when the body starts
 * with -ERR; 2 when it cannot connect or authenticate. Without -x: an interactive console
 * (libedit: history in ~/.aorta_cli_history, tab completion of command names taken from
 * `help as json`), where /event, /nixevent, /noevents, /filter, /log, /nolog go to the
 * socket as they are, /exit (/quit, /bye, ...) leaves, and every other line is `api <line>`.
 * Host, port and password not given on the command line come from event_socket.conf in the
 * installed configuration (AORTA_CONF_DIR, or --conf), read with the core's own loader.
 *
 * Threads (interactive mode): the main thread owns the terminal input and sends commands;
 * a reader thread owns the socket's input, prints events and log lines as they arrive and
 * hands replies to the main thread one at a time (each command gets exactly one reply).
 */
#include <aorta/aorta.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <editline/readline.h>

#define CLI_EXIT_ERR 1
#define CLI_EXIT_CONNECT 2

/* ---- one frame from the server --------------------------------------------------------- */

typedef struct cli_frame {
    char *head; /* header block, NUL-terminated, values URL-decoded in place */
    char *body; /* NUL-terminated, or NULL */
    size_t body_len;
} cli_frame_t;

typedef struct cli_conn {
    int fd;
    char *buf;
    size_t len, cap;
} cli_conn_t;

static void cli_frame_free(cli_frame_t *f)
{
    free(f->head);
    free(f->body);
    memset(f, 0, sizeof(*f));
}

/* Value of header @p name in a frame (case-insensitive), copied into @p out. */
static int cli_header(const cli_frame_t *f, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *line = f->head;
    while (line && *line) {
        const char *eol = strchr(line, '\n');
        size_t ll = eol ? (size_t)(eol - line) : strlen(line);
        if (ll > nl + 1 && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            size_t vl;
            while (*v == ' ')
                v++;
            vl = ll - (size_t)(v - line);
            if (vl >= outlen)
                vl = outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            /* URL-decode, as libesl does */
            {
                char *r = out, *w = out;
                while (*r) {
                    if (r[0] == '%' && r[1] && r[2] && strchr("0123456789abcdefABCDEF", r[1]) &&
                        strchr("0123456789abcdefABCDEF", r[2])) {
                        char hex[3] = {r[1], r[2], 0};
                        *w++ = (char)strtol(hex, NULL, 16);
                        r += 3;
                    } else {
                        *w++ = *r++;
                    }
                }
                *w = '\0';
            }
            return 1;
        }
        line = eol ? eol + 1 : NULL;
    }
    if (outlen)
        *out = '\0';
    return 0;
}

/* Read one frame (blocking). Returns 0, or -1 when the connection is closed or broken. */
static int cli_read_frame(cli_conn_t *c, cli_frame_t *f)
{
    size_t hend = 0, clen = 0;
    char clbuf[32];

    memset(f, 0, sizeof(*f));
    for (;;) {
        char *p;
        /* skip stray blank lines between frames */
        while (c->len > 0 && c->buf[0] == '\n') {
            memmove(c->buf, c->buf + 1, c->len - 1);
            c->len--;
        }
        if (c->len > 0 && (p = memmem(c->buf, c->len, "\n\n", 2)) != NULL) {
            hend = (size_t)(p - c->buf) + 2;
            break;
        }
        if (c->cap - c->len < 4096) {
            size_t ncap = c->cap ? c->cap * 2 : 65536;
            char *n = realloc(c->buf, ncap);
            if (!n)
                return -1;
            c->buf = n;
            c->cap = ncap;
        }
        {
            ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return -1;
            c->len += (size_t)r;
        }
    }
    f->head = strndup(c->buf, hend - 2);
    if (!f->head)
        return -1;
    if (cli_header(f, "Content-Length", clbuf, sizeof(clbuf)))
        clen = (size_t)strtoul(clbuf, NULL, 10);
    while (c->len < hend + clen) {
        if (c->cap < hend + clen + 1) {
            char *n = realloc(c->buf, hend + clen + 1);
            if (!n)
                return -1;
            c->buf = n;
            c->cap = hend + clen + 1;
        }
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            cli_frame_free(f);
            return -1;
        }
        c->len += (size_t)r;
    }
    if (clen > 0) {
        f->body = malloc(clen + 1);
        if (!f->body)
            return -1;
        memcpy(f->body, c->buf + hend, clen);
        f->body[clen] = '\0';
        f->body_len = clen;
    }
    memmove(c->buf, c->buf + hend + clen, c->len - hend - clen);
    c->len -= hend + clen;
    return 0;
}

static int cli_send(cli_conn_t *c, const char *cmd)
{
    size_t n = strlen(cmd), off = 0;
    char *msg = malloc(n + 3);
    if (!msg)
        return -1;
    memcpy(msg, cmd, n);
    memcpy(msg + n, "\n\n", 3);
    n += 2;
    while (off < n) {
        ssize_t w = send(c->fd, msg + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            free(msg);
            return -1;
        }
        off += (size_t)w;
    }
    free(msg);
    return 0;
}

static int cli_connect(cli_conn_t *c, const char *host, const char *port, const char *password)
{
    struct addrinfo hints, *res = NULL, *ai;
    cli_frame_t f;
    char ct[64], reply[512];
    int rc, one = 1;

    memset(c, 0, sizeof(*c));
    c->fd = -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        fprintf(stderr, "aorta-cli: %s:%s: %s\n", host, port, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
            continue;
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(c->fd);
        c->fd = -1;
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        fprintf(stderr, "aorta-cli: cannot connect to %s:%s: %s\n", host, port, strerror(errno));
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (cli_read_frame(c, &f) < 0) {
        fprintf(stderr, "aorta-cli: %s:%s closed the connection\n", host, port);
        return -1;
    }
    cli_header(&f, "Content-Type", ct, sizeof(ct));
    if (strcasecmp(ct, "auth/request") != 0) {
        fprintf(stderr, "aorta-cli: %s:%s refused the connection (%s)%s%s", host, port, ct, f.body ? ": " : "\n",
                f.body ? f.body : "");
        cli_frame_free(&f);
        return -1;
    }
    cli_frame_free(&f);
    {
        char *auth = malloc(strlen(password) + 8);
        if (!auth)
            return -1;
        sprintf(auth, "auth %s", password);
        rc = cli_send(c, auth);
        free(auth);
    }
    if (rc < 0 || cli_read_frame(c, &f) < 0) {
        fprintf(stderr, "aorta-cli: connection lost during authentication\n");
        return -1;
    }
    cli_header(&f, "Reply-Text", reply, sizeof(reply));
    cli_frame_free(&f);
    if (strcasecmp(reply, "+OK accepted") != 0) {
        fprintf(stderr, "aorta-cli: authentication failed: %s\n", reply);
        return -1;
    }
    return 0;
}

/* ---- configuration --------------------------------------------------------------------- */

typedef struct cli_opts {
    const char *host, *port, *password, *conf_dir, *command;
} cli_opts_t;

/* Fill whatever -H/-P/-p left unset from event_socket.conf. */
static int cli_read_conf(cli_opts_t *o, apr_pool_t *pool)
{
    aorta_conf_errors_t *errs = aorta_conf_errors_create(pool);
    apr_table_t *vars = apr_table_make(pool, 8);
    aorta_conf_t *conf = NULL;
    xmlNode *cf, *settings, *p;
    char host[256] = "localhost";
    const char *root = apr_pstrcat(pool, o->conf_dir, "/aorta.xml", NULL);
    int i;

    gethostname(host, sizeof(host) - 1);
    apr_table_set(vars, "conf_dir", o->conf_dir);
    apr_table_set(vars, "data_dir", AORTA_DATA_DIR);
    apr_table_set(vars, "log_dir", AORTA_LOG_DIR);
    apr_table_set(vars, "mod_dir", AORTA_MOD_DIR);
    apr_table_set(vars, "run_dir", AORTA_RUN_DIR);
    apr_table_set(vars, "hostname", host);
    apr_table_set(vars, "local_ip_v4", "127.0.0.1");
    if (aorta_conf_load(&conf, root, vars, pool, errs) != APR_SUCCESS || !conf) {
        fprintf(stderr, "aorta-cli: cannot read %s (use -H, -P and -p, or --conf DIR):\n", root);
        for (i = 0; i < aorta_conf_errors_count(errs); i++)
            fprintf(stderr, "  %s\n", aorta_conf_errors_get(errs, i));
        return -1;
    }
    cf = aorta_conf_configuration(conf, "event_socket.conf");
    settings = cf ? aorta_xml_child(cf, "settings") : NULL;
    for (p = settings ? aorta_xml_child(settings, "param") : NULL; p; p = aorta_xml_next(p, "param")) {
        const char *n = aorta_xml_attr(p, "name"), *v = aorta_xml_attr(p, "value");
        if (!n || !v)
            continue;
        if (!o->host && strcmp(n, "listen-ip") == 0) {
            /* a wildcard listener is reached on loopback */
            if (strcmp(v, "0.0.0.0") == 0)
                v = "127.0.0.1";
            else if (strcmp(v, "::") == 0)
                v = "::1";
            o->host = apr_pstrdup(pool, v);
        } else if (!o->port && strcmp(n, "listen-port") == 0) {
            o->port = apr_pstrdup(pool, v);
        } else if (!o->password && strcmp(n, "password") == 0) {
            o->password = apr_pstrdup(pool, v);
        }
    }
    return 0;
}

/* ---- one-shot mode --------------------------------------------------------------------- */

static int cli_execute(cli_conn_t *c, const char *command)
{
    cli_frame_t f;
    char ct[64];
    char *cmd = malloc(strlen(command) + 5);
    int rc = 0;

    if (!cmd)
        return CLI_EXIT_CONNECT;
    sprintf(cmd, "api %s", command);
    if (cli_send(c, cmd) < 0) {
        free(cmd);
        fprintf(stderr, "aorta-cli: connection lost\n");
        return CLI_EXIT_CONNECT;
    }
    free(cmd);
    /* skip anything that is not the answer (nothing is subscribed, but be tolerant) */
    for (;;) {
        if (cli_read_frame(c, &f) < 0) {
            fprintf(stderr, "aorta-cli: connection lost before the answer\n");
            return CLI_EXIT_CONNECT;
        }
        cli_header(&f, "Content-Type", ct, sizeof(ct));
        if (strcasecmp(ct, "api/response") == 0)
            break;
        cli_frame_free(&f);
    }
    if (f.body) {
        fwrite(f.body, 1, f.body_len, stdout);
        if (f.body_len > 0 && f.body[f.body_len - 1] != '\n')
            fputc('\n', stdout);
        if (strncmp(f.body, "-ERR", 4) == 0)
            rc = CLI_EXIT_ERR;
    }
    fflush(stdout);
    cli_frame_free(&f);
    cli_send(c, "exit");
    return rc;
}

/* ---- interactive mode ------------------------------------------------------------------ */

static struct {
    cli_conn_t *conn;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    cli_frame_t reply;
    int have_reply;
    int closed;
    volatile int leaving; /* we sent exit: the goodbye is expected, say nothing */
    char **names; /* command names for completion */
    int nnames;
} cli;

static const char *const cli_slash[] = {"/event", "/nixevent", "/noevents", "/filter", "/log", "/nolog",
                                         "/exit", "/quit", "/bye", "/help", NULL};

static void *cli_reader(void *arg)
{
    (void)arg;
    for (;;) {
        cli_frame_t f;
        char ct[64];
        if (cli_read_frame(cli.conn, &f) < 0)
            break;
        cli_header(&f, "Content-Type", ct, sizeof(ct));
        if (strcasecmp(ct, "api/response") == 0 || strcasecmp(ct, "command/reply") == 0) {
            pthread_mutex_lock(&cli.lock);
            while (cli.have_reply)
                pthread_cond_wait(&cli.cond, &cli.lock);
            cli.reply = f;
            cli.have_reply = 1;
            pthread_cond_broadcast(&cli.cond);
            pthread_mutex_unlock(&cli.lock);
            continue;
        }
        if (strcasecmp(ct, "text/disconnect-notice") == 0) {
            if (!cli.leaving)
                fprintf(stdout, "\n%s", f.body ? f.body : "Disconnected.\n");
        } else if (strncasecmp(ct, "text/event-", 11) == 0 || strcasecmp(ct, "log/data") == 0) {
            /* events print as they come (plain, json or xml); log lines are already formatted */
            if (f.body) {
                fwrite(f.body, 1, f.body_len, stdout);
                if (f.body_len && f.body[f.body_len - 1] != '\n')
                    fputc('\n', stdout);
                if (strncasecmp(ct, "text/event-", 11) == 0)
                    fputc('\n', stdout);
            }
        }
        fflush(stdout);
        cli_frame_free(&f);
    }
    pthread_mutex_lock(&cli.lock);
    cli.closed = 1;
    pthread_cond_broadcast(&cli.cond);
    pthread_mutex_unlock(&cli.lock);
    if (!cli.leaving) {
        fprintf(stdout, "\naorta-cli: the connection was closed\n");
        fflush(stdout);
    }
    return NULL;
}

/* Send one command and wait for its reply (exactly one per command). */
static int cli_roundtrip(const char *cmd, cli_frame_t *out)
{
    int rc = 0;
    if (cli_send(cli.conn, cmd) < 0)
        return -1;
    pthread_mutex_lock(&cli.lock);
    while (!cli.have_reply && !cli.closed)
        pthread_cond_wait(&cli.cond, &cli.lock);
    if (cli.have_reply) {
        *out = cli.reply;
        cli.have_reply = 0;
        pthread_cond_broadcast(&cli.cond);
    } else {
        rc = -1;
    }
    pthread_mutex_unlock(&cli.lock);
    return rc;
}

static void cli_add_name(const char *name, size_t len)
{
    char **n;
    int i;
    for (i = 0; i < cli.nnames; i++)
        if (strlen(cli.names[i]) == len && strncmp(cli.names[i], name, len) == 0)
            return;
    n = realloc(cli.names, sizeof(char *) * (size_t)(cli.nnames + 1));
    if (!n)
        return;
    cli.names = n;
    cli.names[cli.nnames++] = strndup(name, len);
}

/* Command names from `help as json` ({"commands":[{"name":...}]}); a plain `help` table
 * (first column) is accepted too, so completion survives a change of format. */
static void cli_load_names(void)
{
    cli_frame_t f;
    if (cli_roundtrip("api help as json", &f) < 0)
        return;
    if (f.body && strstr(f.body, "\"name\"")) {
        const char *p = f.body;
        while ((p = strstr(p, "\"name\"")) != NULL) {
            const char *q = strchr(p + 6, '"'), *e;
            if (!q)
                break;
            e = strchr(q + 1, '"');
            if (!e)
                break;
            cli_add_name(q + 1, (size_t)(e - q - 1));
            p = e + 1;
        }
    } else if (f.body && strncmp(f.body, "-ERR", 4) != 0) {
        const char *line = f.body;
        int first = 1;
        while (line && *line) {
            const char *eol = strchr(line, '\n'), *sp = line;
            while (*sp && *sp != ' ' && *sp != '\n')
                sp++;
            if (!first && sp > line)
                cli_add_name(line, (size_t)(sp - line));
            first = 0;
            line = eol ? eol + 1 : NULL;
        }
    }
    cli_frame_free(&f);
}

static char *cli_complete_gen(const char *text, int state)
{
    static int idx, slash;
    static size_t prefix_words;
    static char *line_prefix;
    size_t tl = strlen(text);

    if (state == 0) {
        /* words already typed before the one being completed */
        size_t n = 0, i;
        const char *lb = rl_line_buffer ? rl_line_buffer : "";
        size_t upto = (size_t)(strlen(lb) - strlen(text));
        free(line_prefix);
        line_prefix = strndup(lb, upto);
        for (i = 0; line_prefix && line_prefix[i]; i++)
            if (line_prefix[i] == ' ' && (i == 0 || line_prefix[i - 1] != ' '))
                n++;
        prefix_words = n;
        idx = 0;
        slash = 0;
    }
    if (prefix_words == 0 && text[0] == '/') {
        while (cli_slash[slash]) {
            const char *s = cli_slash[slash++];
            if (strncmp(s, text, tl) == 0)
                return strdup(s);
        }
        return NULL;
    }
    while (idx < cli.nnames) {
        const char *name = cli.names[idx++];
        if (prefix_words == 0) {
            /* first word of every command (duplicates removed: "show" once) */
            const char *sp = strchr(name, ' ');
            size_t wl = sp ? (size_t)(sp - name) : strlen(name);
            int j, dup = 0;
            if (wl < tl || strncmp(name, text, tl) != 0)
                continue;
            for (j = 0; j < idx - 1; j++) {
                const char *o = cli.names[j], *osp = strchr(o, ' ');
                size_t ol = osp ? (size_t)(osp - o) : strlen(o);
                if (ol == wl && strncmp(o, name, wl) == 0 && strncmp(o, text, tl) == 0)
                    dup = 1;
            }
            if (!dup)
                return strndup(name, wl);
        } else if (prefix_words == 1) {
            /* second word of two-word commands whose first word was typed */
            const char *sp = strchr(name, ' ');
            size_t fl;
            char *lp = line_prefix;
            while (*lp == ' ')
                lp++;
            fl = strcspn(lp, " ");
            if (!sp || (size_t)(sp - name) != fl || strncmp(name, lp, fl) != 0)
                continue;
            if (strncmp(sp + 1, text, tl) == 0)
                return strdup(sp + 1);
        }
    }
    return NULL;
}

static char **cli_complete(const char *text, int start, int end)
{
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1;
    return rl_completion_matches(text, cli_complete_gen);
}

static void cli_print_reply(const cli_frame_t *f)
{
    char ct[64], rt[1024];
    cli_header(f, "Content-Type", ct, sizeof(ct));
    if (strcasecmp(ct, "api/response") == 0) {
        if (f->body) {
            fwrite(f->body, 1, f->body_len, stdout);
            if (f->body_len && f->body[f->body_len - 1] != '\n')
                fputc('\n', stdout);
        }
    } else {
        cli_header(f, "Reply-Text", rt, sizeof(rt));
        printf("%s\n", rt);
    }
    fflush(stdout);
}

static int cli_interactive(cli_conn_t *c, const char *host, const char *port)
{
    pthread_t reader;
    char prompt[300], *hist = NULL;
    const char *home = getenv("HOME");
    int rc = 0;

    cli.conn = c;
    pthread_mutex_init(&cli.lock, NULL);
    pthread_cond_init(&cli.cond, NULL);
    if (pthread_create(&reader, NULL, cli_reader, NULL) != 0) {
        fprintf(stderr, "aorta-cli: cannot start the reader thread\n");
        return CLI_EXIT_CONNECT;
    }
    cli_load_names();
    snprintf(prompt, sizeof(prompt), "aorta@%s:%s> ", host, port);
    rl_readline_name = "aorta-cli";
    rl_attempted_completion_function = cli_complete;
    if (home) {
        hist = malloc(strlen(home) + 32);
        if (hist) {
            sprintf(hist, "%s/.aorta_cli_history", home);
            read_history(hist);
        }
    }
    stifle_history(1000);
    printf("Connected to aorta at %s:%s. Type /help for help, /exit to leave.\n", host, port);

    for (;;) {
        char *line = readline(prompt), *cmd, *s, *e;
        cli_frame_t f;
        int closed;

        pthread_mutex_lock(&cli.lock);
        closed = cli.closed;
        pthread_mutex_unlock(&cli.lock);
        if (!line || closed) {
            free(line);
            if (closed)
                rc = CLI_EXIT_CONNECT;
            break;
        }
        for (s = line; *s == ' ' || *s == '\t'; s++)
            ;
        for (e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'); e--)
            ;
        *e = '\0';
        if (!*s) {
            free(line);
            continue;
        }
        add_history(s);
        if (strcmp(s, "/exit") == 0 || strcmp(s, "/quit") == 0 || strcmp(s, "/bye") == 0 || strcmp(s, "...") == 0 ||
            strcmp(s, "exit") == 0 || strcmp(s, "quit") == 0) {
            free(line);
            break;
        }
        if (strcmp(s, "/help") == 0) {
            printf("Commands: any API command (try `help`), and\n"
                   "  /event [plain|json|xml] <EVENT ...> [CUSTOM <subclass ...>]   show events live\n"
                   "  /nixevent <EVENT ...>   /noevents   /filter [delete] <header> <value>\n"
                   "  /log [level]   /nolog   /exit\n");
            free(line);
            continue;
        }
        if (s[0] == '/')
            cmd = strdup(s + 1); /* /event, /log, ... go to the socket as they are */
        else if ((cmd = malloc(strlen(s) + 5)) != NULL)
            sprintf(cmd, "api %s", s);
        free(line);
        if (!cmd)
            break;
        if (cli_roundtrip(cmd, &f) < 0) {
            free(cmd);
            rc = CLI_EXIT_CONNECT;
            break;
        }
        free(cmd);
        cli_print_reply(&f);
        cli_frame_free(&f);
    }
    if (hist) {
        write_history(hist);
        free(hist);
    }
    cli.leaving = 1;
    cli_send(c, "exit");
    shutdown(c->fd, SHUT_RDWR);
    pthread_join(reader, NULL);
    return rc;
}

/* ---- main ------------------------------------------------------------------------------ */

static void cli_usage(FILE *to)
{
    fprintf(to, "usage: aorta-cli [-H host] [-P port] [-p password] [--conf DIR] [-x \"command\"]\n"
                "  -H, --host       event socket address (default: listen-ip from event_socket.conf)\n"
                "  -P, --port       event socket port (default: listen-port from event_socket.conf)\n"
                "  -p, --password   password (default: password from event_socket.conf)\n"
                "  -c, --conf DIR   configuration directory holding aorta.xml (default: %s)\n"
                "  -x, --execute    run one API command, print its output and exit\n"
                "                   (status 0; 1 if the output starts with -ERR; 2 if unreachable)\n",
            AORTA_CONF_DIR);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"host", required_argument, NULL, 'H'},
                                             {"port", required_argument, NULL, 'P'},
                                             {"password", required_argument, NULL, 'p'},
                                             {"conf", required_argument, NULL, 'c'},
                                             {"execute", required_argument, NULL, 'x'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    cli_opts_t o;
    apr_pool_t *pool;
    cli_conn_t conn;
    int ch, rc;

    memset(&o, 0, sizeof(o));
    o.conf_dir = AORTA_CONF_DIR;
    while ((ch = getopt_long(argc, argv, "H:P:p:c:x:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'H':
            o.host = optarg;
            break;
        case 'P':
            o.port = optarg;
            break;
        case 'p':
            o.password = optarg;
            break;
        case 'c':
            o.conf_dir = optarg;
            break;
        case 'x':
            o.command = optarg;
            break;
        case 'h':
            cli_usage(stdout);
            return 0;
        default:
            cli_usage(stderr);
            return CLI_EXIT_CONNECT;
        }
    }
    if (optind < argc) {
        cli_usage(stderr);
        return CLI_EXIT_CONNECT;
    }

    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    if ((!o.host || !o.port || !o.password) && cli_read_conf(&o, pool) < 0 && !o.password)
        return CLI_EXIT_CONNECT;
    if (!o.host)
        o.host = "127.0.0.1";
    if (!o.port)
        o.port = "8021";
    if (!o.password || !*o.password) {
        fprintf(stderr, "aorta-cli: no password: give -p or set event_socket_password in %s/vars.xml\n", o.conf_dir);
        return CLI_EXIT_CONNECT;
    }
    if (cli_connect(&conn, o.host, o.port, o.password) < 0) {
        if (conn.fd >= 0)
            close(conn.fd);
        free(conn.buf);
        apr_pool_destroy(pool);
        return CLI_EXIT_CONNECT;
    }
    if (o.command)
        rc = cli_execute(&conn, o.command);
    else
        rc = cli_interactive(&conn, o.host, o.port);
    close(conn.fd);
    free(conn.buf);
    apr_pool_destroy(pool);
    return rc;
}
