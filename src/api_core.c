/*
 * api_core.c — the core's own API commands: help, status, version, uptime, show modules,
 * show api, module load|unload|reload, reloadxml, log level, echo, hostname, switchname,
 * shutdown.
 */
#include "core_internal.h"
#include <apr_strings.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static apr_status_t api_echo(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_stream_printf(out, "%s\n", args);
    return APR_SUCCESS;
}

static apr_status_t api_version(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_stream_printf(out, "aorta version %s (module ABI %d)\n", aorta_core_version(), AORTA_MODULE_ABI);
    return APR_SUCCESS;
}

static apr_status_t api_uptime(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_stream_printf(out, "%" APR_INT64_T_FMT "\n", (apr_int64_t)apr_time_sec(apr_time_now() - aorta_core_started()));
    return APR_SUCCESS;
}

static apr_status_t api_hostname(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_stream_puts(out, aorta_core_hostname());
    return APR_SUCCESS;
}

static apr_status_t api_switchname(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_stream_puts(out, aorta_core_switchname());
    return APR_SUCCESS;
}

static apr_status_t api_status(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    apr_int64_t up = (apr_int64_t)(apr_time_now() - aorta_core_started());
    apr_int64_t s = up / APR_USEC_PER_SEC;
    int threads = 0, busy = 0;
    apr_size_t queued = 0;
    apr_uint64_t done = 0, fired = 0, dropped = 0;
    if (aorta_task_workers())
        aorta_workers_stats(aorta_task_workers(), &threads, &queued, &busy, &done);
    aorta_event_stats(&fired, &dropped);
    int json = aorta_api_want_json(&args, pool);
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:{s:i, s:I, s:i, s:I}, s:{s:I, s:I}}", "state",
                              aorta_core_stopping() ? "stopping" : "ready", "version", aorta_core_version(),
                              "core-uuid", aorta_core_uuid(), "switchname", aorta_core_switchname(), "uptime-seconds",
                              (json_int_t)s, "log-level", aorta_log_level_name(aorta_log_level_get()), "workers",
                              "threads", threads, "queued", (json_int_t)queued, "busy", busy, "done",
                              (json_int_t)done, "events", "fired", (json_int_t)fired, "dropped", (json_int_t)dropped);
        aorta_stream_json(out, o);
        return APR_SUCCESS;
    }
    aorta_stream_printf(out,
                        "UP %" APR_INT64_T_FMT " years, %" APR_INT64_T_FMT " days, %" APR_INT64_T_FMT
                        " hours, %" APR_INT64_T_FMT " minutes, %" APR_INT64_T_FMT " seconds, %" APR_INT64_T_FMT
                        " milliseconds, %" APR_INT64_T_FMT " microseconds\n",
                        s / (365 * 86400), (s % (365 * 86400)) / 86400, (s % 86400) / 3600, (s % 3600) / 60, s % 60,
                        (up / 1000) % 1000, up % 1000);
    aorta_stream_printf(out, "aorta (Version %s) is %s\n", aorta_core_version(),
                        aorta_core_stopping() ? "stopping" : "ready");
    aorta_stream_printf(out, "Core-UUID %s, switchname %s\n", aorta_core_uuid(), aorta_core_switchname());
    aorta_stream_printf(out, "workers: %d threads, %d busy, %zu queued, %" APR_UINT64_T_FMT " tasks done\n", threads,
                        busy, (size_t)queued, done);
    aorta_stream_printf(out, "events: %" APR_UINT64_T_FMT " fired, %" APR_UINT64_T_FMT " dropped\n", fired, dropped);
    aorta_stream_printf(out, "log level: %s\n", aorta_log_level_name(aorta_log_level_get()));
    return APR_SUCCESS;
}

typedef struct help_ctx {
    aorta_stream_t *out;
    json_t *arr;
} help_ctx_t;

static void help_line(const aorta_api_command_t *cmd, const char *owner, void *user)
{
    help_ctx_t *h = user;
    if (h->arr) {
        json_array_append_new(h->arr, json_pack("{s:s, s:s, s:s, s:s}", "name", cmd->name, "syntax", cmd->syntax,
                                                "description", cmd->description, "module", owner));
        return;
    }
    aorta_stream_printf(h->out, "%-22s %-34s %s\n", cmd->name, cmd->syntax, cmd->description);
}

static apr_status_t api_help(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    int json = aorta_api_want_json(&args, pool);
    help_ctx_t h = {out, json ? json_array() : NULL};
    if (!json)
        aorta_stream_printf(out, "%-22s %-34s %s\n", "command", "syntax", "description");
    aorta_api_each(help_line, &h);
    if (json)
        aorta_stream_json(out, json_pack("{s:o}", "commands", h.arr));
    return APR_SUCCESS;
}

static apr_status_t api_show_modules(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_modules_show(out, aorta_api_want_json(&args, pool));
    return APR_SUCCESS;
}

static apr_status_t api_show_api(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    return api_help(args, out, pool);
}

typedef struct show_ctx {
    aorta_stream_t *out;
    int n;
} show_ctx_t;

static void show_target(const aorta_api_command_t *cmd, const char *owner, void *user)
{
    show_ctx_t *s = user;
    if (strncmp(cmd->name, "show ", 5) == 0)
        aorta_stream_printf(s->out, "%s%s", s->n++ ? ", " : "", cmd->name + 5);
}

/* `show <x>` for an x nobody registered: say what can be shown. */
static apr_status_t api_show(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    show_ctx_t s = {out, 0};
    aorta_stream_printf(out, "-ERR cannot show \"%s\"; try one of: ", *args ? args : "");
    aorta_api_each(show_target, &s);
    aorta_stream_puts(out, "\n");
    return AORTA_ENOTFOUND;
}

static apr_status_t module_op(const char *op, const char *name, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_stream_t *why = aorta_stream_create(pool);
    apr_status_t st;
    if (!name || !*name) {
        aorta_stream_printf(out, "-ERR usage: module %s <name>\n", op);
        return AORTA_ESYNTAX;
    }
    if (strcmp(op, "load") == 0)
        st = aorta_module_load(name, 0, why);
    else if (strcmp(op, "unload") == 0)
        st = aorta_module_unload(name, why);
    else
        st = aorta_module_reload(name, why);
    if (st != APR_SUCCESS) {
        aorta_log(AORTA_LOG_WARNING, "module %s %s failed: %s", op, name, aorta_stream_data(why, NULL));
        aorta_stream_printf(out, "-ERR %s\n", aorta_stream_data(why, NULL));
        return st;
    }
    aorta_stream_puts(out, "+OK\n");
    return APR_SUCCESS;
}

static apr_status_t api_module(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    char *argv[2];
    int n = aorta_api_split(args, pool, argv, 2);
    if (n < 1 || (strcmp(argv[0], "load") && strcmp(argv[0], "unload") && strcmp(argv[0], "reload"))) {
        aorta_stream_puts(out, "-ERR usage: module load|unload|reload <name>\n");
        return AORTA_ESYNTAX;
    }
    return module_op(argv[0], n > 1 ? argv[1] : NULL, out, pool);
}

static apr_status_t api_load(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    return module_op("load", args, out, pool);
}

static apr_status_t api_unload(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    return module_op("unload", args, out, pool);
}

static apr_status_t api_reload(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    return module_op("reload", args, out, pool);
}

static apr_status_t api_reloadxml(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_stream_t *why = aorta_stream_create(pool);
    apr_status_t st = aorta_core_reloadxml(why);
    if (st == AORTA_EINUSE) {
        aorta_stream_printf(out, "-ERR reloadxml applied, but not by every module:\n%s", aorta_stream_data(why, NULL));
        return st;
    }
    if (st != APR_SUCCESS) {
        aorta_stream_printf(out, "-ERR reloadxml failed; the running configuration is unchanged:\n%s",
                            aorta_stream_data(why, NULL));
        return AORTA_ECONFIG;
    }
    aorta_stream_puts(out, "+OK [Success]\n");
    return APR_SUCCESS;
}

static apr_status_t api_log_level(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_log_level_t lvl;
    if (!*args) {
        aorta_stream_printf(out, "%s\n", aorta_log_level_name(aorta_log_level_get()));
        return APR_SUCCESS;
    }
    if (aorta_log_level_parse(args, &lvl) != APR_SUCCESS) {
        aorta_stream_printf(out, "-ERR invalid log level \"%s\" (debug|info|notice|warning|err|crit|alert)\n", args);
        return APR_EINVAL;
    }
    aorta_log_level_set(lvl);
    aorta_stream_printf(out, "+OK log level %s [%d]\n", aorta_log_level_name(lvl), (int)lvl);
    return APR_SUCCESS;
}

/* `time <n> <command>`: run a command n times and report the mean wall time per call, for
 * operators and micro-benchmarks (the output of the runs is discarded). */
static apr_status_t api_time(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    char *argv[2];
    char *end = NULL;
    if (aorta_api_split(args, pool, argv, 2) != 2 || (strtol(argv[0], &end, 10), *end) || atoi(argv[0]) < 1 ||
        atoi(argv[0]) > 10000000) {
        aorta_stream_puts(out, "-ERR usage: time <count 1..10000000> <command>\n");
        return AORTA_ESYNTAX;
    }
    int n = atoi(argv[0]);
    apr_pool_t *scratch;
    aorta_pool_create(&scratch, pool);
    apr_status_t st = APR_SUCCESS;
    apr_time_t t0 = apr_time_now();
    for (int i = 0; i < n && st == APR_SUCCESS; i++) {
        aorta_stream_t *sink = aorta_stream_create(scratch);
        st = aorta_api_execute(argv[1], sink, scratch);
        if (st != APR_SUCCESS)
            aorta_stream_printf(out, "-ERR run %d failed: %s", i + 1, aorta_stream_data(sink, NULL));
        apr_pool_clear(scratch);
    }
    apr_time_t dt = apr_time_now() - t0;
    apr_pool_destroy(scratch);
    if (st != APR_SUCCESS)
        return st;
    aorta_stream_printf(out, "%d runs in %.3f ms: %.2f us per run\n", n, dt / 1000.0, (double)dt / n);
    return APR_SUCCESS;
}

static apr_status_t api_shutdown(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_core_shutdown_request();
    aorta_stream_puts(out, "+OK shutting down\n");
    return APR_SUCCESS;
}

static apr_status_t api_reference(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    if (!*args) {
        aorta_stream_puts(out, "-ERR usage: settings reference <module>\n");
        return AORTA_ESYNTAX;
    }
    aorta_modules_document(args, out);
    return APR_SUCCESS;
}

static const aorta_api_command_t core_commands[] = {
    {"help", "[as json]", "list every command with its syntax", api_help},
    {"status", "[as json]", "uptime, version, workers and event counters", api_status},
    {"version", "", "the aorta version", api_version},
    {"uptime", "", "seconds since start", api_uptime},
    {"hostname", "", "this host's name", api_hostname},
    {"switchname", "", "this node's switchname (core.conf)", api_switchname},
    {"echo", "<text>", "print the text back", api_echo},
    {"show", "<what> [as json]", "show a table; see the show commands below", api_show},
    {"show modules", "[as json]", "loaded modules in load order", api_show_modules},
    {"show api", "[as json]", "registered API commands", api_show_api},
    {"module", "load|unload|reload <name>", "load, unload or reload a module at runtime", api_module},
    {"load", "<name>", "same as module load", api_load},
    {"unload", "<name>", "same as module unload", api_unload},
    {"reload", "<name>", "same as module reload", api_reload},
    {"reloadxml", "", "re-read the configuration; a bad one keeps the running one", api_reloadxml},
    {"log level", "[<level>]", "show or set the log level", api_log_level},
    {"settings reference", "<module>", "Markdown reference of a module's settings", api_reference},
    {"time", "<count> <command>", "run a command count times; mean time per run", api_time},
    {"shutdown", "", "stop aorta cleanly", api_shutdown},
    {NULL, NULL, NULL, NULL},
};

apr_status_t aorta_api_register_core(void)
{
    for (const aorta_api_command_t *c = core_commands; c->name; c++) {
        apr_status_t st = aorta_api_register(NULL, c);
        if (st != APR_SUCCESS)
            return st;
    }
    return APR_SUCCESS;
}
