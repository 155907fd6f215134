/*
 * main.c — the aorta daemon: flags, detaching, the pid file and signals.
 *
 * Signals are blocked in every thread and taken synchronously by the main thread with
 * sigwait(): SIGTERM/SIGINT stop cleanly, SIGHUP runs reloadxml. Everything else happens
 * in the core's and the modules' threads.
 */
#include "core_internal.h"
#include "aorta_config.h"
#include <apr_strings.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *to)
{
    fprintf(to, "usage: aorta [options]\n"
                "  --conf DIR         configuration directory holding aorta.xml (default %s)\n"
                "  --data DIR         state directory (default %s)\n"
                "  --log DIR          log directory (aorta.log)\n"
                "  --mod-dir DIR      where modules are loaded from (default %s)\n"
                "  --set NAME=VALUE   set a pre-processor variable; wins over vars.xml (repeatable)\n"
                "  --foreground       stay attached; logs also go to stderr; stdin is a console\n"
                "  --pid-file FILE    where the pid goes (default %s/aorta.pid when detached)\n"
                "  --check            validate the whole configuration, print every problem, exit 0/1\n"
                "  --reference        print the Markdown reference of every module's settings\n"
                "  --version          print the version\n",
            AORTA_CONF_DIR, AORTA_DATA_DIR, AORTA_MOD_DIR, AORTA_RUN_DIR);
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "aorta: cannot write pid file %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    return 0;
}

/* Detach: the parent exits once the child is running; stdio goes to /dev/null. */
static void daemonize(void)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("aorta: fork");
        exit(1);
    }
    if (pid > 0)
        _exit(0);
    setsid();
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"conf", required_argument, NULL, 'c'},     {"data", required_argument, NULL, 'd'},
        {"log", required_argument, NULL, 'l'},      {"mod-dir", required_argument, NULL, 'm'},
        {"set", required_argument, NULL, 's'},      {"foreground", no_argument, NULL, 'f'},
        {"pid-file", required_argument, NULL, 'p'}, {"check", no_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'v'},        {"help", no_argument, NULL, 'h'},
        {"reference", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    aorta_core_options_t o = {0};

    /* Grow the heap in 64 MiB steps: under SIP load the default (128 KiB) makes malloc call
     * brk/mprotect for a large share of requests. Untouched padding costs no memory. */
    mallopt(M_TOP_PAD, 64 * 1024 * 1024);
    const char *pid_file = NULL;
    int check = 0;
    int reference = 0;

    if (aorta_core_init() != APR_SUCCESS) {
        fprintf(stderr, "aorta: cannot initialise APR\n");
        return 1;
    }
    o.vars = apr_table_make(aorta_core_pool(), 4);
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.conf_dir = optarg;
            break;
        case 'd':
            o.data_dir = optarg;
            break;
        case 'l':
            o.log_dir = optarg;
            break;
        case 'm':
            o.mod_dir = optarg;
            break;
        case 's': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "aorta: --set needs NAME=VALUE, got \"%s\"\n", optarg);
                return 2;
            }
            apr_table_set(o.vars, apr_pstrndup(aorta_core_pool(), optarg, (apr_size_t)(eq - optarg)), eq + 1);
            break;
        }
        case 'f':
            o.foreground = 1;
            break;
        case 'p':
            pid_file = optarg;
            break;
        case 'k':
            check = 1;
            break;
        case 'r':
            reference = 1;
            break;
        case 'v':
            printf("aorta %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "aorta: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    if (reference) {
        aorta_stream_t *out = aorta_stream_create(aorta_core_pool());
        aorta_core_reference(&o, out);
        fputs(aorta_stream_data(out, NULL), stdout);
        apr_terminate();
        return 0;
    }
    if (check) {
        aorta_stream_t *out = aorta_stream_create(aorta_core_pool());
        apr_status_t st = aorta_core_check(&o, out);
        fputs(aorta_stream_data(out, NULL), st == APR_SUCCESS ? stdout : stderr);
        apr_terminate();
        return st == APR_SUCCESS ? 0 : 1;
    }

    if (!o.foreground) {
        daemonize();
        if (!pid_file)
            pid_file = apr_pstrcat(aorta_core_pool(), AORTA_RUN_DIR, "/aorta.pid", NULL);
    }
    if (pid_file && write_pid_file(pid_file) != 0)
        return 1;

    /* Block the signals we handle before any thread exists, so all threads inherit it. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    apr_status_t st = aorta_core_start(&o);
    if (st != APR_SUCCESS) {
        aorta_core_stop();
        if (pid_file)
            unlink(pid_file);
        return 1;
    }
    if (o.foreground)
        aorta_console_start(aorta_core_pool());

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            aorta_log(AORTA_LOG_NOTICE, "SIGHUP: reloadxml");
            apr_pool_t *tmp;
            aorta_pool_create(&tmp, NULL);
            aorta_core_reloadxml(aorta_stream_create(tmp));
            apr_pool_destroy(tmp);
            continue;
        }
        aorta_log(AORTA_LOG_NOTICE, "%s received", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
    aorta_core_stop();
    if (pid_file)
        unlink(pid_file);
    return 0;
}
