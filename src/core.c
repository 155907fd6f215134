/*
 * core.c — the running core: identity (Core-UUID, host and switch names, addresses), the
 * directories, core.conf, the start-up and shutdown sequences, reloadxml and the heartbeat.
 *
 * Start-up order: logging → configuration → events → workers → API → modules, then
 * STARTUP. Shutdown is the reverse: SHUTDOWN, modules unloaded in reverse order, workers
 * drained, events delivered and the dispatcher joined, the root pool destroyed.
 */
#include "core_internal.h"
#include "aorta_config.h"
#include <apr_file_info.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <apr_uuid.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <malloc.h>
#include <libxml/parser.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct core_settings {
    int worker_threads;
    int log_level;
    const char *switchname;
    int event_queue_size;
    int heartbeat_interval;
} core_settings_t;

static const aorta_setting_t core_settings_table[] = {
    {"worker-threads", AORTA_SETTING_INT, "0", offsetof(core_settings_t, worker_threads), NULL, 0, 256, NULL, 0,
     "worker threads for SIP requests and background jobs; 0 = 2 x CPU cores"},
    {"log-level", AORTA_SETTING_ENUM, "info", offsetof(core_settings_t, log_level),
     "console|alert|crit|err|warning|notice|info|debug", 0, 0, NULL, 1, "most verbose level written to the log"},
    {"switchname", AORTA_SETTING_STRING, NULL, offsetof(core_settings_t, switchname), NULL, 0, 0, NULL, 0,
     "this node's stable name (FreeSWITCH-Switchname, cluster identity); default: the host name"},
    {"event-queue-size", AORTA_SETTING_INT, "100000", offsetof(core_settings_t, event_queue_size), NULL, 100,
     10000000, NULL, 0, "events buffered for the dispatch thread; beyond it events are dropped and counted"},
    {"heartbeat-interval", AORTA_SETTING_INT, "20", offsetof(core_settings_t, heartbeat_interval), NULL, 0, 86400,
     NULL, 1, "seconds between HEARTBEAT events; 0 = none"},
    {NULL, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

static struct {
    apr_pool_t *root;
    char uuid[APR_UUID_FORMATTED_LENGTH + 1];
    char hostname[256];
    char ipv4[64];
    char ipv6[64];
    const char *switchname;
    apr_time_t started;
    const char *dirs[5];
    apr_table_t *fixed_vars;
    const char *root_file;
    apr_pool_t *conf_pool; /* owns the current aorta_conf_t */
    const aorta_conf_t *conf;
    core_settings_t settings;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *wake;
    volatile int stopping;
    apr_thread_t *heartbeat;
} core;

const char *aorta_core_uuid(void)
{
    return core.uuid;
}
const char *aorta_core_hostname(void)
{
    return core.hostname;
}
const char *aorta_core_switchname(void)
{
    return core.switchname ? core.switchname : core.hostname;
}
const char *aorta_core_ipv4(void)
{
    return core.ipv4;
}
const char *aorta_core_ipv6(void)
{
    return core.ipv6;
}
const char *aorta_core_version(void)
{
    return PACKAGE_VERSION;
}
apr_time_t aorta_core_started(void)
{
    return core.started;
}
apr_pool_t *aorta_core_pool(void)
{
    return core.root;
}
const char *aorta_core_dir(aorta_dir_t which)
{
    return (int)which >= 0 && which <= AORTA_DIR_RUN ? core.dirs[which] : NULL;
}
const aorta_conf_t *aorta_core_conf(void)
{
    return core.conf;
}
int aorta_core_stopping(void)
{
    return __atomic_load_n(&core.stopping, __ATOMIC_ACQUIRE);
}

/* The first non-loopback address of each family, without sending anything anywhere. */
static void core_guess_addresses(void)
{
    struct ifaddrs *ifs = NULL;
    apr_cpystrn(core.ipv4, "127.0.0.1", sizeof core.ipv4);
    apr_cpystrn(core.ipv6, "::1", sizeof core.ipv6);
    if (getifaddrs(&ifs) != 0)
        return;
    int have4 = 0, have6 = 0;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        if (i->ifa_addr->sa_family == AF_INET && !have4) {
            struct sockaddr_in *sin = (struct sockaddr_in *)i->ifa_addr;
            if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127)
                continue;
            inet_ntop(AF_INET, &sin->sin_addr, core.ipv4, sizeof core.ipv4);
            have4 = 1;
        } else if (i->ifa_addr->sa_family == AF_INET6 && !have6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)i->ifa_addr;
            if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) || IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr))
                continue;
            inet_ntop(AF_INET6, &sin6->sin6_addr, core.ipv6, sizeof core.ipv6);
            have6 = 1;
        }
    }
    freeifaddrs(ifs);
}

apr_status_t aorta_core_init(void)
{
    apr_status_t st = apr_initialize();
    if (st != APR_SUCCESS)
        return st;
    if ((st = apr_pool_create_ex(&core.root, NULL, aorta_pool_abort, NULL)) != APR_SUCCESS)
        return st;
    apr_pool_tag(core.root, "root");
    xmlInitParser();
    apr_uuid_t u;
    apr_uuid_get(&u);
    apr_uuid_format(core.uuid, &u);
    if (gethostname(core.hostname, sizeof core.hostname - 1) != 0)
        apr_cpystrn(core.hostname, "localhost", sizeof core.hostname);
    core_guess_addresses();
    core.started = apr_time_now();
    if ((st = aorta_log_init(core.root)) != APR_SUCCESS)
        return st;
    if ((st = apr_thread_mutex_create(&core.lock, APR_THREAD_MUTEX_DEFAULT, core.root)) != APR_SUCCESS)
        return st;
    return apr_thread_cond_create(&core.wake, core.root);
}

static void core_set_dirs(const aorta_core_options_t *o)
{
    core.dirs[AORTA_DIR_CONF] = apr_pstrdup(core.root, o->conf_dir ? o->conf_dir : AORTA_CONF_DIR);
    core.dirs[AORTA_DIR_DATA] = apr_pstrdup(core.root, o->data_dir ? o->data_dir : AORTA_DATA_DIR);
    core.dirs[AORTA_DIR_LOG] = apr_pstrdup(core.root, o->log_dir ? o->log_dir : AORTA_LOG_DIR);
    core.dirs[AORTA_DIR_MOD] = apr_pstrdup(core.root, o->mod_dir ? o->mod_dir : AORTA_MOD_DIR);
    core.dirs[AORTA_DIR_RUN] = apr_pstrdup(core.root, o->run_dir ? o->run_dir : AORTA_RUN_DIR);
    core.fixed_vars = apr_table_make(core.root, 16);
    apr_table_set(core.fixed_vars, "conf_dir", core.dirs[AORTA_DIR_CONF]);
    apr_table_set(core.fixed_vars, "data_dir", core.dirs[AORTA_DIR_DATA]);
    apr_table_set(core.fixed_vars, "log_dir", core.dirs[AORTA_DIR_LOG]);
    apr_table_set(core.fixed_vars, "mod_dir", core.dirs[AORTA_DIR_MOD]);
    apr_table_set(core.fixed_vars, "run_dir", core.dirs[AORTA_DIR_RUN]);
    apr_table_set(core.fixed_vars, "hostname", core.hostname);
    apr_table_set(core.fixed_vars, "local_ip_v4", core.ipv4);
    if (o->vars)
        apr_table_overlap(core.fixed_vars, o->vars, APR_OVERLAP_TABLES_SET);
    core.root_file = apr_pstrcat(core.root, core.dirs[AORTA_DIR_CONF], "/aorta.xml", NULL);
}

/* Parse aorta.xml into a new pool; on failure the errors are in @p errs and the pool is gone. */
static apr_status_t core_read_conf(apr_pool_t **pool, const aorta_conf_t **conf, aorta_conf_errors_t *errs)
{
    aorta_conf_t *c;
    aorta_pool_create(pool, core.root);
    apr_status_t st = aorta_conf_load(&c, core.root_file, core.fixed_vars, *pool, errs);
    if (st != APR_SUCCESS) {
        apr_pool_destroy(*pool);
        *pool = NULL;
        return st;
    }
    *conf = c;
    return APR_SUCCESS;
}

static apr_status_t core_settings_read(const aorta_conf_t *conf, apr_pool_t *pool, core_settings_t *out,
                                       aorta_conf_errors_t *errs)
{
    xmlNode *cfg = aorta_conf_configuration(conf, "core.conf");
    xmlNode *settings = NULL;
    for (xmlNode *n = aorta_xml_child(cfg, NULL); n; n = aorta_xml_next(n, NULL)) {
        if (strcmp(aorta_xml_name(n), "settings") == 0)
            settings = n;
        else
            aorta_conf_error(errs, conf, n, "core.conf: unexpected <%s> (only <settings>)", aorta_xml_name(n));
    }
    return aorta_settings_apply(core_settings_table, out, conf, settings, pool, errs);
}

static int core_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void core_print_errors(aorta_conf_errors_t *errs)
{
    for (int i = 0; i < aorta_conf_errors_count(errs); i++)
        aorta_log(AORTA_LOG_ERR, "%s", aorta_conf_errors_get(errs, i));
}

/*
 * Housekeeping: HEARTBEAT events, and giving freed heap back to the system. Bursts of SIP
 * traffic leave megabytes of freed memory behind (each finished UDP transaction lingers ~10 KB
 * for 32 s); glibc keeps it unless asked, so the process would stay at its peak size.
 */
#define CORE_TRIM_INTERVAL apr_time_from_sec(10)

static void *APR_THREAD_FUNC core_heartbeat_thread(apr_thread_t *thread, void *data)
{
    aorta_thread_name("heartbeat");
    apr_time_t now = apr_time_now();
    apr_time_t next_trim = now + CORE_TRIM_INTERVAL;
    apr_time_t next_beat = now + apr_time_from_sec(core.settings.heartbeat_interval);
    apr_thread_mutex_lock(core.lock);
    while (!core.stopping) {
        apr_interval_time_t beat = apr_time_from_sec(core.settings.heartbeat_interval); /* reloadable */
        now = apr_time_now();
        if (beat > 0 && next_beat > now + beat)
            next_beat = now + beat;
        apr_time_t due = next_trim;
        if (beat > 0 && next_beat < due)
            due = next_beat;
        if (due > now) {
            apr_thread_cond_timedwait(core.wake, core.lock, due - now);
            continue;
        }
        if (now >= next_trim) {
            apr_thread_mutex_unlock(core.lock);
            malloc_trim(0);
            apr_thread_mutex_lock(core.lock);
            next_trim = now + CORE_TRIM_INTERVAL;
        }
        if (beat > 0 && now >= next_beat) {
            next_beat = now + beat;
            aorta_event_t *ev;
            if (aorta_event_create(&ev, AORTA_EVENT_HEARTBEAT) == APR_SUCCESS) {
                aorta_event_add_header(ev, "Event-Info", "System Ready");
                aorta_event_add_header_printf(ev, "Up-Time", "%" APR_INT64_T_FMT " seconds",
                                              (apr_int64_t)apr_time_sec(now - core.started));
                aorta_event_add_header(ev, "FreeSWITCH-Version", PACKAGE_VERSION);
                aorta_event_fire(&ev);
            }
        }
    }
    apr_thread_mutex_unlock(core.lock);
    return NULL;
}

static void core_fire_simple(aorta_event_id_t id, const char *info)
{
    aorta_event_t *ev;
    if (aorta_event_create(&ev, id) != APR_SUCCESS)
        return;
    aorta_event_add_header(ev, "Event-Info", info);
    aorta_event_fire(&ev);
}

apr_status_t aorta_core_start(const aorta_core_options_t *opts)
{
    apr_status_t st;
    core_set_dirs(opts);
    aorta_log_set_console(opts->foreground);
    if (opts->log_dir && (st = aorta_log_set_dir(opts->log_dir)) != APR_SUCCESS) {
        char buf[128];
        aorta_log(AORTA_LOG_ERR, "cannot open the log in %s: %s", opts->log_dir, apr_strerror(st, buf, sizeof buf));
    }

    apr_pool_t *tmp;
    aorta_pool_create(&tmp, core.root);
    aorta_conf_errors_t *errs = aorta_conf_errors_create(tmp);
    if ((st = core_read_conf(&core.conf_pool, &core.conf, errs)) != APR_SUCCESS) {
        core_print_errors(errs);
        aorta_log(AORTA_LOG_CRIT, "configuration %s has errors; not starting", core.root_file);
        apr_pool_destroy(tmp);
        return AORTA_ECONFIG;
    }
    if ((st = core_settings_read(core.conf, core.root, &core.settings, errs)) != APR_SUCCESS) {
        core_print_errors(errs);
        apr_pool_destroy(tmp);
        return AORTA_ECONFIG;
    }
    apr_pool_destroy(tmp);
    aorta_log_level_set((aorta_log_level_t)core.settings.log_level);
    core.switchname = core.settings.switchname;

    int workers = core.settings.worker_threads;
    if (workers <= 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        workers = 2 * (ncpu > 0 ? (int)ncpu : 1);
    }
    if ((st = aorta_event_init(core.root, (apr_size_t)core.settings.event_queue_size)) != APR_SUCCESS ||
        (st = aorta_task_init(core.root, workers)) != APR_SUCCESS || (st = aorta_api_init(core.root)) != APR_SUCCESS ||
        (st = aorta_api_register_core()) != APR_SUCCESS ||
        (st = aorta_modules_init(core.root, core.dirs[AORTA_DIR_MOD])) != APR_SUCCESS) {
        char buf[128];
        aorta_log(AORTA_LOG_CRIT, "core start-up failed: %s", aorta_strerror(st, buf, sizeof buf));
        return st;
    }
    aorta_log(AORTA_LOG_NOTICE, "aorta %s starting: Core-UUID %s, %d workers, configuration %s", PACKAGE_VERSION,
              core.uuid, workers, core.root_file);
    if ((st = aorta_modules_load_all(core.conf)) != APR_SUCCESS) {
        aorta_log(AORTA_LOG_CRIT, "a critical module failed to load; stopping");
        return st;
    }
    apr_thread_create(&core.heartbeat, NULL, core_heartbeat_thread, NULL, core.root);
    core_fire_simple(AORTA_EVENT_STARTUP, "System Ready");
    aorta_log(AORTA_LOG_NOTICE, "aorta is ready");
    return APR_SUCCESS;
}

apr_status_t aorta_core_check(const aorta_core_options_t *opts, aorta_stream_t *out)
{
    core_set_dirs(opts);
    aorta_log_set_console(1);
    aorta_log_level_set(AORTA_LOG_WARNING);
    apr_pool_t *tmp;
    aorta_pool_create(&tmp, core.root);
    aorta_conf_errors_t *errs = aorta_conf_errors_create(tmp);
    apr_pool_t *cpool;
    aorta_conf_t *conf = NULL;
    aorta_pool_create(&cpool, core.root);
    aorta_conf_load_ex(&conf, core.root_file, core.fixed_vars, cpool, errs, 1);
    if (conf) {
        core_settings_t s;
        core_settings_read(conf, tmp, &s, errs);
        aorta_modules_init(core.root, core.dirs[AORTA_DIR_MOD]);
        aorta_modules_check(conf, errs);
    }
    int n = aorta_conf_errors_count(errs);
    for (int i = 0; i < n; i++)
        aorta_stream_printf(out, "%s\n", aorta_conf_errors_get(errs, i));
    if (n)
        aorta_stream_printf(out, "%d problem%s found in %s\n", n, n == 1 ? "" : "s", core.root_file);
    else
        aorta_stream_printf(out, "%s: configuration OK\n", core.root_file);
    apr_pool_destroy(cpool);
    apr_pool_destroy(tmp);
    return n ? AORTA_ECONFIG : APR_SUCCESS;
}

void aorta_core_reference(const aorta_core_options_t *opts, aorta_stream_t *out)
{
    core_set_dirs(opts);
    aorta_modules_init(core.root, core.dirs[AORTA_DIR_MOD]);
    aorta_stream_puts(out, "# Settings reference\n\n"
                           "Generated by `aorta --reference` from the settings tables in the code; do not edit by "
                           "hand (`./build/dev.sh reference` rewrites it).\n\n"
                           "## core\n\n### core.conf: settings\n\n");
    aorta_settings_document_ex(core_settings_table, out, "restart");
    aorta_stream_puts(out, "\n");
    apr_dir_t *dir;
    apr_finfo_t fi;
    apr_pool_t *tmp;
    aorta_pool_create(&tmp, core.root);
    apr_array_header_t *names = apr_array_make(tmp, 8, sizeof(char *));
    if (apr_dir_open(&dir, core.dirs[AORTA_DIR_MOD], tmp) == APR_SUCCESS) {
        while (apr_dir_read(&fi, APR_FINFO_NAME, dir) == APR_SUCCESS) {
            apr_size_t n = strlen(fi.name);
            if (n > 3 && strcmp(fi.name + n - 3, ".so") == 0 && strncmp(fi.name, "mod_", 4) == 0)
                *(char **)apr_array_push(names) = apr_pstrndup(tmp, fi.name, n - 3);
        }
        apr_dir_close(dir);
    }
    qsort(names->elts, (size_t)names->nelts, sizeof(char *), core_strcmp);
    for (int i = 0; i < names->nelts; i++)
        aorta_modules_document(APR_ARRAY_IDX(names, i, char *), out);
    apr_pool_destroy(tmp);
}

apr_status_t aorta_core_reloadxml(aorta_stream_t *out)
{
    static apr_thread_mutex_t *reload_lock;
    apr_status_t st;
    if (!reload_lock)
        apr_thread_mutex_create(&reload_lock, APR_THREAD_MUTEX_DEFAULT, core.root);
    apr_thread_mutex_lock(reload_lock);

    apr_pool_t *tmp;
    aorta_pool_create(&tmp, core.root);
    aorta_conf_errors_t *errs = aorta_conf_errors_create(tmp);
    apr_pool_t *cpool = NULL;
    const aorta_conf_t *conf = NULL;
    core_settings_t s;
    st = core_read_conf(&cpool, &conf, errs);
    if (st == APR_SUCCESS)
        st = core_settings_read(conf, tmp, &s, errs);
    if (st == APR_SUCCESS)
        st = aorta_modules_configure_all(conf, errs, 0);
    if (st != APR_SUCCESS) {
        for (int i = 0; i < aorta_conf_errors_count(errs); i++) {
            aorta_stream_printf(out, "%s\n", aorta_conf_errors_get(errs, i));
            aorta_log(AORTA_LOG_ERR, "reloadxml: %s", aorta_conf_errors_get(errs, i));
        }
        aorta_log(AORTA_LOG_ERR, "reloadxml failed; keeping the running configuration");
        if (cpool)
            apr_pool_destroy(cpool);
        apr_pool_destroy(tmp);
        apr_thread_mutex_unlock(reload_lock);
        return AORTA_ECONFIG;
    }
    /* Everyone accepted it: make it current, then let modules adopt their new generation. */
    apr_pool_t *old_pool = core.conf_pool;
    core.conf = conf;
    core.conf_pool = cpool;
    aorta_log_level_set((aorta_log_level_t)s.log_level);
    core.settings.log_level = s.log_level;
    core.settings.heartbeat_interval = s.heartbeat_interval;
    int before = aorta_conf_errors_count(errs);
    aorta_modules_configure_all(conf, errs, 1);
    int refused = aorta_conf_errors_count(errs) - before;
    for (int i = before; i < aorta_conf_errors_count(errs); i++)
        aorta_stream_printf(out, "%s\n", aorta_conf_errors_get(errs, i));
    if (old_pool)
        apr_pool_destroy(old_pool);
    apr_pool_destroy(tmp);
    core_fire_simple(AORTA_EVENT_RELOADXML, "reloadxml");
    aorta_log(AORTA_LOG_NOTICE, "reloadxml: configuration reloaded%s", refused ? " (not by every module)" : "");
    apr_thread_mutex_unlock(reload_lock);
    return refused ? AORTA_EINUSE : APR_SUCCESS;
}

void aorta_core_shutdown_request(void)
{
    /* main() waits for signals; the same path serves `shutdown` and SIGTERM */
    kill(getpid(), SIGTERM);
}

void aorta_core_stop(void)
{
    aorta_log(AORTA_LOG_NOTICE, "aorta shutting down");
    core_fire_simple(AORTA_EVENT_SHUTDOWN, "System Shutting Down");
    /* subscribers (the event socket) must get SHUTDOWN before their module goes away */
    aorta_event_flush(apr_time_from_sec(2));
    apr_thread_mutex_lock(core.lock);
    core.stopping = 1;
    apr_thread_cond_broadcast(core.wake);
    apr_thread_mutex_unlock(core.lock);
    if (core.heartbeat) {
        apr_status_t rv;
        apr_thread_join(&rv, core.heartbeat);
    }
    aorta_modules_unload_all();
    aorta_api_shutdown();
    aorta_task_shutdown();
    aorta_event_shutdown();
    aorta_log(AORTA_LOG_NOTICE, "aorta stopped");
    aorta_log_shutdown();
    apr_pool_destroy(core.root);
    xmlCleanupParser();
    apr_terminate();
}
