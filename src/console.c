/*
 * console.c — the foreground console: each line on stdin is an API command; its output
 * goes to stdout. End of input ends the console, not the daemon. With a terminal on stdin
 * a prompt is shown; aorta-cli is the full-featured console.
 */
#include "core_internal.h"
#include <apr_thread_proc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *APR_THREAD_FUNC console_thread(apr_thread_t *thread, void *data)
{
    aorta_thread_name("console");
    char line[8192];
    int tty = isatty(0);
    apr_pool_t *pool = data;
    for (;;) {
        if (tty) {
            fputs("aorta> ", stdout);
            fflush(stdout);
        }
        if (!fgets(line, sizeof line, stdin))
            break;
        if (aorta_core_stopping())
            break;
        char *cmd = aorta_trim(line);
        if (!*cmd)
            continue;
        if (strcmp(cmd, "/exit") == 0 || strcmp(cmd, "/quit") == 0 || strcmp(cmd, "...") == 0) {
            aorta_core_shutdown_request();
            break;
        }
        aorta_stream_t *out = aorta_stream_create(pool);
        aorta_api_execute(cmd, out, pool);
        apr_size_t len;
        const char *text = aorta_stream_data(out, &len);
        fwrite(text, 1, len, stdout);
        if (len && text[len - 1] != '\n')
            fputc('\n', stdout);
        fflush(stdout);
        apr_pool_clear(pool);
    }
    if (!aorta_core_stopping())
        aorta_log(AORTA_LOG_INFO, "console: end of input; aorta keeps running (stop it with SIGTERM)");
    return NULL;
}

apr_status_t aorta_console_start(apr_pool_t *pool)
{
    apr_thread_t *t;
    apr_threadattr_t *attr;
    apr_threadattr_create(&attr, pool);
    /* never joined: it may sit in fgets() at shutdown */
    apr_threadattr_detach_set(attr, 1);
    /* Its pool is the root's child, created here on the main thread: the console only clears
     * it, and it dies with the root pool even if the thread still sits in fgets(). */
    apr_pool_t *cpool;
    aorta_pool_create(&cpool, pool);
    return apr_thread_create(&t, attr, console_thread, cpool, pool);
}
