/*
 * aorta/api.h — API commands (console, aorta-cli -x, event socket api/bgapi) and the output
 * stream they write to.
 *
 * A command is one or two words ("status", "show contacts"); aorta_api_execute() tries the
 * two-word name first, then the one-word one, and passes the rest of the line, trimmed, as
 * the arguments. Commands are registered from a module's static table when it loads and
 * removed before it unloads; a command that is running keeps its module loaded until it
 * returns. Output convention: errors start with "-ERR <reason>\n", success without output
 * is "+OK\n".
 */
#ifndef AORTA_API_H
#define AORTA_API_H

#include "aorta/types.h"
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- streams: growable output buffers owned by a pool --------------------------------- */

/** A stream whose buffer lives in @p pool. */
AORTA_DECLARE(aorta_stream_t *) aorta_stream_create(apr_pool_t *pool);
AORTA_DECLARE(void) aorta_stream_write(aorta_stream_t *s, const char *data, apr_size_t len);
AORTA_DECLARE(void) aorta_stream_puts(aorta_stream_t *s, const char *str);
AORTA_DECLARE(void) aorta_stream_printf(aorta_stream_t *s, const char *fmt, ...) AORTA_PRINTF(2, 3);
AORTA_DECLARE(void) aorta_stream_vprintf(aorta_stream_t *s, const char *fmt, va_list ap);
/** The bytes written so far, NUL-terminated; valid until the next write. */
AORTA_DECLARE(const char *) aorta_stream_data(const aorta_stream_t *s, apr_size_t *len);
AORTA_DECLARE(void) aorta_stream_reset(aorta_stream_t *s);

/**
 * Write a jansson value as a JSON document followed by "\n" (indented) and release it.
 * Declared with void* to keep jansson out of this header: pass a json_t*.
 */
AORTA_DECLARE(void) aorta_stream_json(aorta_stream_t *s, void *json);

/* ---- commands ------------------------------------------------------------------------ */

/**
 * A command. @p args is trimmed and never NULL ("" when absent). @p pool lives for the call.
 * On failure write "-ERR <reason>\n" and return an error status.
 */
typedef apr_status_t (*aorta_api_fn)(const char *args, aorta_stream_t *out, apr_pool_t *pool);

struct aorta_api_command {
    const char *name;        /**< "status" or "show contacts"; NULL ends a table */
    const char *syntax;      /**< arguments, e.g. "[<aor>] [as json]" */
    const char *description; /**< one line */
    aorta_api_fn fn;
};

/** Register one command for @p owner (NULL: the core). AORTA_EEXIST if the name is taken. */
AORTA_DECLARE(apr_status_t) aorta_api_register(aorta_module_t *owner, const aorta_api_command_t *cmd);
/** Remove all commands of @p owner; waits until none of them is running (except the caller's). */
AORTA_DECLARE(void) aorta_api_unregister_owner(aorta_module_t *owner);

/**
 * Run @p cmdline ("name args"). Leading and trailing whitespace is ignored. An unknown
 * command writes "-ERR <name> Command not found!\n" and returns AORTA_ENOTFOUND. Fires an API
 * event (API-Command, API-Command-Argument).
 */
AORTA_DECLARE(apr_status_t) aorta_api_execute(const char *cmdline, aorta_stream_t *out, apr_pool_t *pool);

/** If *args ends with the words "as json", strip them (into @p pool) and return 1. */
AORTA_DECLARE(int) aorta_api_want_json(const char **args, apr_pool_t *pool);

/** Split @p args on whitespace into at most @p max words (the last takes the rest). Returns the count. */
AORTA_DECLARE(int) aorta_api_split(const char *args, apr_pool_t *pool, char **argv, int max);

/** Call @p fn for every registered command (sorted by name), e.g. for help and completion. */
typedef void (*aorta_api_each_fn)(const aorta_api_command_t *cmd, const char *owner, void *user);
AORTA_DECLARE(void) aorta_api_each(aorta_api_each_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
