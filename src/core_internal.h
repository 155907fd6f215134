/*
 * core_internal.h — what the core's files share with each other and with the daemon
 * (main.c, console.c), but not with modules.
 */
#ifndef AORTA_CORE_INTERNAL_H
#define AORTA_CORE_INTERNAL_H

#include "aorta/aorta.h"

/* The daemon (main.c, console.c) and aorta-cli link against libaorta, which is built with
 * hidden visibility: these internal entry points must be exported too. */
#pragma GCC visibility push(default)

/* ---- core.c: start-up and shutdown ---------------------------------------------------- */

typedef struct aorta_core_options {
    const char *conf_dir;
    const char *data_dir;
    const char *log_dir;
    const char *mod_dir;
    const char *run_dir;
    apr_table_t *vars;     /**< --set NAME=VALUE */
    int foreground;
} aorta_core_options_t;

/** Initialise APR-level state, the root pool and the process identity. */
apr_status_t aorta_core_init(void);
/**
 * Read the configuration, apply core.conf, start logging, events and workers, and load the
 * modules of modules.conf. Errors are written to stderr/log. AORTA_ECONFIG on bad config,
 * AORTA_EDEPEND when a critical module failed.
 */
apr_status_t aorta_core_start(const aorta_core_options_t *opts);
/** Validate everything (--check): print every problem to @p out; AORTA_ECONFIG if any. */
apr_status_t aorta_core_check(const aorta_core_options_t *opts, aorta_stream_t *out);
/** Markdown reference of core.conf and of every module in the module directory. */
void aorta_core_reference(const aorta_core_options_t *opts, aorta_stream_t *out);
/** Block until a shutdown is requested (signal or API). */
void aorta_core_wait_shutdown(void);
/** Unload modules in reverse order, drain workers and events, destroy the root pool. */
void aorta_core_stop(void);
/** 1 once a shutdown was requested. */
int aorta_core_stopping(void);

/** The current configuration (valid until the next successful reloadxml; main thread / API). */
const aorta_conf_t *aorta_core_conf(void);

/* ---- conf.c ---------------------------------------------------------------------------- */
/** aorta_conf_load(); with @p lenient a document with errors is still returned (for --check). */
apr_status_t aorta_conf_load_ex(aorta_conf_t **conf, const char *root_file, apr_table_t *vars, apr_pool_t *pool,
                                aorta_conf_errors_t *errs, int lenient);

/* ---- settings.c ------------------------------------------------------------------------ */
/** aorta_settings_document() naming what applies a non-reloadable setting ("restart" for the core). */
void aorta_settings_document_ex(const aorta_setting_t *table, aorta_stream_t *out, const char *fixed);

/* ---- log.c --------------------------------------------------------------------------- */
apr_status_t aorta_log_init(apr_pool_t *pool);
/** Write to stderr too (foreground). */
void aorta_log_set_console(int on);
/** Open (append) DIR/aorta.log; NULL closes. */
apr_status_t aorta_log_set_dir(const char *dir);
void aorta_log_shutdown(void);

/* ---- event.c ------------------------------------------------------------------------- */
apr_status_t aorta_event_init(apr_pool_t *pool, apr_size_t queue_size);
/** Wait (at most @p timeout) until every event fired before the call has been delivered. */
void aorta_event_flush(apr_interval_time_t timeout);
/** Stop accepting events, deliver what is queued, join the dispatch thread. */
void aorta_event_shutdown(void);
/** Headers of the ESL.md §10 standard block; implemented in event.c. */

/* ---- event_serialize.c --------------------------------------------------------------- */
struct aorta_event_header {
    char *name;
    char *value;
};
/** Serialize into a malloc'd buffer (caller frees). */
char *aorta_event_serialize_new(const aorta_event_t *ev, aorta_event_format_t fmt, apr_size_t *len);
/** Accessors the serializers use (event.c). */
int aorta_event_nheaders(const aorta_event_t *ev);
const struct aorta_event_header *aorta_event_headers(const aorta_event_t *ev);

/* ---- api.c / api_core.c -------------------------------------------------------------- */
apr_status_t aorta_api_init(apr_pool_t *pool);
apr_status_t aorta_api_register_core(void);
void aorta_api_shutdown(void);
/** Called by the loader around a module's life: in-flight accounting of its commands. */
void aorta_api_wait_idle(aorta_module_t *owner);

/* ---- module.c ------------------------------------------------------------------------ */
apr_status_t aorta_modules_init(apr_pool_t *pool, const char *mod_dir);
/** Load every module listed in modules.conf of @p conf in order. */
apr_status_t aorta_modules_load_all(const aorta_conf_t *conf);
/** Unload every module in reverse load order. */
void aorta_modules_unload_all(void);
/** Run configure() of every loaded module on @p conf (no side effects). */
apr_status_t aorta_modules_configure_all(const aorta_conf_t *conf, aorta_conf_errors_t *errs, int apply);
/** Count a task that runs module code (task.c); unload waits for the count to drop to 0. */
void aorta_module_task_begin(aorta_module_t *mod);
void aorta_module_task_end(aorta_module_t *mod);
/** --check: open each module of modules.conf, run its configure() on @p conf, close it. */
apr_status_t aorta_modules_check(const aorta_conf_t *conf, aorta_conf_errors_t *errs);
/** Write the `show modules` table (or JSON). */
void aorta_modules_show(aorta_stream_t *out, int json);
/** Markdown reference of every module's settings (for docs). */
void aorta_modules_document(const char *name, aorta_stream_t *out);

/* ---- task.c -------------------------------------------------------------------------- */
apr_status_t aorta_task_init(apr_pool_t *pool, int nthreads);
void aorta_task_shutdown(void);
aorta_workers_t *aorta_task_workers(void);

/* ---- console.c ----------------------------------------------------------------------- */
/** Start the stdin console thread (foreground only). */
apr_status_t aorta_console_start(apr_pool_t *pool);

/* ---- helpers ------------------------------------------------------------------------- */
/** Trim leading/trailing whitespace in place; returns the start. */
char *aorta_trim(char *s);
/** Base name of a path (pointer into it). */
const char *aorta_basename(const char *path);

#pragma GCC visibility pop

#endif
