/*
 * mod_test.c — a module for the integration tests: API commands that fire CUSTOM events on
 * demand and one that is slow on purpose. Built by tests/Makefile.am, never installed; the
 * harness links it into a daemon's module directory (Daemon(test_modules=["mod_test"])).
 *
 *   test_fire <subclass> [name=value ...]   one CUSTOM event; values are %XX-decoded (so a
 *                                           test can send spaces, '%' or newlines); the pseudo
 *                                           header body=... becomes the body. Replies +OK.
 *   test_burst <subclass> <count>           count events with headers seq=1..count; waits
 *                                           (briefly, repeatedly) when the core's event queue
 *                                           is full so that every event is fired. Replies +OK.
 *   test_sleep <ms>                         sleeps, then replies +OK.
 *   test_silent                             succeeds without writing anything (the event
 *                                           socket must answer "-ERR no reply").
 */
#include <aorta/aorta.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <stdlib.h>
#include <string.h>

/* Decode %XX in place (a lone '%' stays as it is). */
static char *test_decode(char *s)
{
    char *r = s, *w = s;
    while (*r) {
        if (r[0] == '%' && apr_isxdigit(r[1]) && apr_isxdigit(r[2])) {
            char hex[3] = {r[1], r[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return s;
}

/*
 * Build and fire one event: subclass argv[0], then name=value words (already decoded; "body"
 * is the body), then seq when > 0. A full core queue drops the event, so wait a little and
 * build it again: the tests count every event.
 */
static apr_status_t test_fire_one(char **argv, int argc, int seq)
{
    int tries, i;
    for (tries = 0; tries < 5000; tries++) {
        aorta_event_t *ev = NULL;
        apr_status_t st = aorta_event_create_subclass(&ev, argv[0]);
        if (st != APR_SUCCESS)
            return st;
        for (i = 1; i < argc; i++) {
            const char *eq = strchr(argv[i], '=');
            if (!eq)
                continue;
            if (strncmp(argv[i], "body=", 5) == 0) {
                aorta_event_set_body(ev, eq + 1, strlen(eq + 1));
            } else {
                char name[256];
                apr_size_t n = (apr_size_t)(eq - argv[i]);
                if (n >= sizeof(name))
                    n = sizeof(name) - 1;
                memcpy(name, argv[i], n);
                name[n] = '\0';
                aorta_event_add_header(ev, name, eq + 1);
            }
        }
        if (seq > 0)
            aorta_event_add_header_printf(ev, "seq", "%d", seq);
        st = aorta_event_fire(&ev);
        if (st != AORTA_EFULL)
            return st;
        apr_sleep(1000);
    }
    return AORTA_EFULL;
}

static apr_status_t test_fire(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    char *argv[64];
    int argc = aorta_api_split(args, pool, argv, 64), i;
    apr_status_t st;

    if (argc < 1) {
        aorta_stream_puts(out, "-ERR usage: test_fire <subclass> [name=value ...]\n");
        return AORTA_ESYNTAX;
    }
    for (i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq)
            test_decode(eq + 1);
    }
    if ((st = test_fire_one(argv, argc, 0)) != APR_SUCCESS) {
        aorta_stream_puts(out, "-ERR event not fired\n");
        return st;
    }
    aorta_stream_puts(out, "+OK\n");
    return APR_SUCCESS;
}

static apr_status_t test_burst(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    char *argv[2];
    int argc = aorta_api_split(args, pool, argv, 2), i, count;

    if (argc < 2 || (count = atoi(argv[1])) <= 0) {
        aorta_stream_puts(out, "-ERR usage: test_burst <subclass> <count>\n");
        return AORTA_ESYNTAX;
    }
    for (i = 1; i <= count; i++) {
        if (test_fire_one(argv, 1, i) != APR_SUCCESS) {
            aorta_stream_printf(out, "-ERR event %d not fired\n", i);
            return AORTA_EFULL;
        }
    }
    aorta_stream_puts(out, "+OK\n");
    return APR_SUCCESS;
}

static apr_status_t test_sleep(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    int ms = atoi(args);
    (void)pool;
    if (ms < 0 || ms > 600000) {
        aorta_stream_puts(out, "-ERR usage: test_sleep <ms>\n");
        return AORTA_ESYNTAX;
    }
    apr_sleep(apr_time_from_msec(ms));
    aorta_stream_puts(out, "+OK\n");
    return APR_SUCCESS;
}

static apr_status_t test_silent(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    (void)args;
    (void)out;
    (void)pool;
    return APR_SUCCESS;
}

static const aorta_api_command_t test_api[] = {
    {"test_fire", "<subclass> [name=value ...]", "fire one CUSTOM event (values %XX-decoded; body=...)", test_fire},
    {"test_burst", "<subclass> <count>", "fire count CUSTOM events with seq=1..count", test_burst},
    {"test_sleep", "<ms>", "sleep, then answer +OK", test_sleep},
    {"test_silent", "", "succeed with no output", test_silent},
    {NULL, NULL, NULL, NULL}};

static apr_status_t test_load(aorta_module_t *mod, apr_pool_t *pool)
{
    (void)mod;
    (void)pool;
    return APR_SUCCESS;
}

static void test_shutdown(aorta_module_t *mod)
{
    (void)mod;
}

AORTA_MODULE_EXPORT(mod_test) = {
    .abi = AORTA_MODULE_ABI,
    .name = "mod_test",
    .build = AORTA_BUILD_SIGNATURE,
    .depends = NULL,
    .settings = NULL,
    .api = test_api,
    .configure = NULL,
    .load = test_load,
    .runtime = NULL,
    .reconfigure = NULL,
    .shutdown = test_shutdown,
};
