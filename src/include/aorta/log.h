/*
 * aorta/log.h — logging with the caller's module, file, function and line.
 *
 * aorta_log() formats one line, writes it to stderr (in the foreground) and to the log file
 * (with --log), hands it to every log binding (the event socket's `log` command), and fires
 * a LOG event. Levels are syslog's numbers, as FreeSWITCH uses them. Logging never blocks
 * on a subscriber: bindings must only queue.
 */
#ifndef AORTA_LOG_H
#define AORTA_LOG_H

#include "aorta/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum aorta_log_level {
    AORTA_LOG_CONSOLE = 0,
    AORTA_LOG_ALERT = 1,
    AORTA_LOG_CRIT = 2,
    AORTA_LOG_ERR = 3,
    AORTA_LOG_WARNING = 4,
    AORTA_LOG_NOTICE = 5,
    AORTA_LOG_INFO = 6,
    AORTA_LOG_DEBUG = 7
} aorta_log_level_t;

#ifndef AORTA_MODULE_NAME
#define AORTA_MODULE_NAME "core"
#endif

/** Log at @p level with printf-style arguments; file, function, line and module are recorded. */
#define aorta_log(level, ...)                                                                 \
    do {                                                                                      \
        if ((int)(level) <= aorta_log_current_level)                                          \
            aorta_log_printf(AORTA_MODULE_NAME, __FILE__, __func__, __LINE__, (level), __VA_ARGS__); \
    } while (0)

/** One formatted log line as bindings receive it. Valid only during the callback. */
typedef struct aorta_log_line {
    aorta_log_level_t level;
    const char *module;
    const char *file;   /**< base name of the source file */
    const char *func;
    int line;
    apr_time_t when;
    const char *text;   /**< the message, ending in "\n" */
    const char *full;   /**< "YYYY-MM-DD HH:MM:SS.uuuuuu [LEVEL] file:line message\n" */
} aorta_log_line_t;

/** Called for every line at or below the binding's level; must not block (queue the line). */
typedef void (*aorta_log_fn)(const aorta_log_line_t *line, void *user);

/** The process-wide level; read by aorta_log() before formatting anything. */
AORTA_DECLARE(extern volatile int) aorta_log_current_level;

AORTA_DECLARE(void) aorta_log_printf(const char *module, const char *file, const char *func, int line,
                                     aorta_log_level_t level, const char *fmt, ...) AORTA_PRINTF(6, 7);

AORTA_DECLARE(void) aorta_log_level_set(aorta_log_level_t level);
AORTA_DECLARE(aorta_log_level_t) aorta_log_level_get(void);
/** "debug", "info", ..., or "0".."7" → level; APR_EINVAL for anything else. */
AORTA_DECLARE(apr_status_t) aorta_log_level_parse(const char *name, aorta_log_level_t *level);
/** Upper-case name: "DEBUG", "INFO", "NOTICE", "WARNING", "ERR", "CRIT", "ALERT", "CONSOLE". */
AORTA_DECLARE(const char *) aorta_log_level_name(aorta_log_level_t level);

/**
 * Receive log lines up to @p level (the binding's own level may be more verbose than the
 * process-wide one: the core then formats lines for the most verbose binding).
 * The binding is freed by aorta_log_unbind(); no callback runs after unbind returns.
 */
typedef struct aorta_log_binding aorta_log_binding_t;
AORTA_DECLARE(apr_status_t) aorta_log_bind(aorta_log_level_t level, aorta_log_fn fn, void *user,
                                           aorta_log_binding_t **binding);
AORTA_DECLARE(void) aorta_log_binding_level_set(aorta_log_binding_t *binding, aorta_log_level_t level);
AORTA_DECLARE(void) aorta_log_unbind(aorta_log_binding_t *binding);

#ifdef __cplusplus
}
#endif
#endif
