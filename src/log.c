/*
 * log.c — formatting and delivery of log lines.
 *
 * A line is formatted once, then written to stderr (foreground), to DIR/aorta.log (--log),
 * handed to each binding whose level admits it, and fired as a LOG event. Bindings only
 * queue (the event socket's `log` command), so logging never waits on a subscriber.
 * aorta_log_current_level is the most verbose of the configured level and every binding's,
 * so the aorta_log() macro can skip formatting entirely when nobody wants the line.
 */
#include "core_internal.h"
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_time.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>

struct aorta_log_binding {
    aorta_log_level_t level;
    aorta_log_fn fn;
    void *user;
    struct aorta_log_binding *next;
};

volatile int aorta_log_current_level = AORTA_LOG_INFO;

static struct {
    apr_thread_mutex_t *lock; /* guards bindings, the file and the configured level */
    aorta_log_level_t level;
    aorta_log_binding_t *bindings;
    int console;
    FILE *file;
} logger = {.level = AORTA_LOG_INFO, .console = 1};

static __thread int log_depth;

static const char *const level_names[] = {"CONSOLE", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG"};

apr_status_t aorta_log_init(apr_pool_t *pool)
{
    return apr_thread_mutex_create(&logger.lock, APR_THREAD_MUTEX_NESTED, pool);
}

static void log_recompute_level(void)
{
    int lvl = logger.level;
    for (aorta_log_binding_t *b = logger.bindings; b; b = b->next)
        if ((int)b->level > lvl)
            lvl = b->level;
    aorta_log_current_level = lvl;
}

void aorta_log_set_console(int on)
{
    logger.console = on;
}

apr_status_t aorta_log_set_dir(const char *dir)
{
    FILE *f = NULL;
    if (dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/aorta.log", dir);
        f = fopen(path, "a");
        if (!f)
            return APR_FROM_OS_ERROR(errno);
        setvbuf(f, NULL, _IOLBF, 0);
    }
    if (logger.lock)
        apr_thread_mutex_lock(logger.lock);
    FILE *old = logger.file;
    logger.file = f;
    if (logger.lock)
        apr_thread_mutex_unlock(logger.lock);
    if (old)
        fclose(old);
    return APR_SUCCESS;
}

void aorta_log_shutdown(void)
{
    aorta_log_set_dir(NULL);
    /* the mutex dies with the root pool right after; later lines go to stderr unlocked */
    logger.lock = NULL;
    logger.bindings = NULL;
}

void aorta_log_level_set(aorta_log_level_t level)
{
    if (logger.lock)
        apr_thread_mutex_lock(logger.lock);
    logger.level = level;
    log_recompute_level();
    if (logger.lock)
        apr_thread_mutex_unlock(logger.lock);
}

aorta_log_level_t aorta_log_level_get(void)
{
    return logger.level;
}

apr_status_t aorta_log_level_parse(const char *name, aorta_log_level_t *level)
{
    static const struct {
        const char *name;
        aorta_log_level_t level;
    } names[] = {
        {"console", AORTA_LOG_CONSOLE}, {"alert", AORTA_LOG_ALERT},     {"crit", AORTA_LOG_CRIT},
        {"err", AORTA_LOG_ERR},         {"error", AORTA_LOG_ERR},       {"warning", AORTA_LOG_WARNING},
        {"notice", AORTA_LOG_NOTICE},   {"info", AORTA_LOG_INFO},       {"debug", AORTA_LOG_DEBUG},
    };
    if (!name || !*name)
        return APR_EINVAL;
    if (name[0] >= '0' && name[0] <= '7' && name[1] == '\0') {
        *level = (aorta_log_level_t)(name[0] - '0');
        return APR_SUCCESS;
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *level = names[i].level;
            return APR_SUCCESS;
        }
    }
    return APR_EINVAL;
}

const char *aorta_log_level_name(aorta_log_level_t level)
{
    if ((int)level < 0 || (int)level > AORTA_LOG_DEBUG)
        return "DEBUG";
    return level_names[level];
}

const char *aorta_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void log_fire_event(const aorta_log_line_t *l)
{
    aorta_event_t *ev;
    if (aorta_event_create_detailed(&ev, AORTA_EVENT_LOG, NULL, l->file, l->func, l->line) != APR_SUCCESS)
        return;
    char num[16];
    snprintf(num, sizeof num, "%d", (int)l->level);
    aorta_event_set_header(ev, "Log-Level", num);
    aorta_event_add_header(ev, "Log-Module", l->module);
    aorta_event_add_header(ev, "Log-File", l->file);
    aorta_event_add_header(ev, "Log-Func", l->func);
    snprintf(num, sizeof num, "%d", l->line);
    aorta_event_add_header(ev, "Log-Line", num);
    aorta_event_set_body(ev, l->text, strlen(l->text));
    aorta_event_fire(&ev);
}

void aorta_log_printf(const char *module, const char *file, const char *func, int line, aorta_log_level_t level,
                      const char *fmt, ...)
{
    char msg[2048];
    char full[2200];
    va_list ap;

    if ((int)level > aorta_log_current_level)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof msg - 1)
        n = sizeof msg - 2;
    if (n == 0 || msg[n - 1] != '\n') {
        msg[n++] = '\n';
        msg[n] = '\0';
    }

    apr_time_t now = apr_time_now();
    apr_time_exp_t tm;
    apr_time_exp_lt(&tm, now);
    const char *base = aorta_basename(file);
    snprintf(full, sizeof full, "%04d-%02d-%02d %02d:%02d:%02d.%06d [%s] %s:%d %s", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_usec, aorta_log_level_name(level), base, line, msg);

    aorta_log_line_t l = {level, module, base, func, line, now, msg, full};

    if (logger.lock)
        apr_thread_mutex_lock(logger.lock);
    if ((int)level <= (int)logger.level) {
        if (logger.console)
            fputs(full, stderr);
        if (logger.file)
            fputs(full, logger.file);
    }
    /* A line logged from inside a binding or from event creation goes to stderr and the
     * file only: delivering it again would recurse. */
    int nested = log_depth > 0;
    log_depth++;
    if (!nested)
        for (aorta_log_binding_t *b = logger.bindings; b; b = b->next)
            if ((int)level <= (int)b->level)
                b->fn(&l, b->user);
    if (logger.lock)
        apr_thread_mutex_unlock(logger.lock);
    if (!nested && (int)level <= (int)logger.level)
        log_fire_event(&l);
    log_depth--;
}

apr_status_t aorta_log_bind(aorta_log_level_t level, aorta_log_fn fn, void *user, aorta_log_binding_t **binding)
{
    aorta_log_binding_t *b = calloc(1, sizeof *b);
    if (!b)
        return APR_ENOMEM;
    b->level = level;
    b->fn = fn;
    b->user = user;
    apr_thread_mutex_lock(logger.lock);
    b->next = logger.bindings;
    logger.bindings = b;
    log_recompute_level();
    apr_thread_mutex_unlock(logger.lock);
    *binding = b;
    return APR_SUCCESS;
}

void aorta_log_binding_level_set(aorta_log_binding_t *binding, aorta_log_level_t level)
{
    apr_thread_mutex_lock(logger.lock);
    binding->level = level;
    log_recompute_level();
    apr_thread_mutex_unlock(logger.lock);
}

void aorta_log_unbind(aorta_log_binding_t *binding)
{
    apr_thread_mutex_lock(logger.lock);
    for (aorta_log_binding_t **pp = &logger.bindings; *pp; pp = &(*pp)->next) {
        if (*pp == binding) {
            *pp = binding->next;
            break;
        }
    }
    log_recompute_level();
    apr_thread_mutex_unlock(logger.lock);
    free(binding);
}
