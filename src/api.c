/*
 * api.c — the API command registry and dispatcher.
 *
 * Commands are kept in a hash by name under a read/write lock. A call looks its command up,
 * counts itself in flight for the command's owner, drops the lock and runs; unregistering an
 * owner removes its commands and then waits for its in-flight calls to finish, so a module
 * is never unloaded under a running command. `module unload` runs as a core command, so it
 * never waits for itself.
 */
#include "core_internal.h"
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_rwlock.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct api_owner {
    aorta_module_t *module; /* NULL: the core */
    int inflight;
    struct api_owner *next;
} api_owner_t;

typedef struct api_entry {
    aorta_api_command_t cmd; /* strings copied */
    api_owner_t *owner;
} api_entry_t;

static struct {
    apr_pool_t *pool;
    apr_hash_t *commands; /* name -> api_entry_t */
    apr_thread_rwlock_t *lock;
    apr_thread_mutex_t *inflight_lock;
    apr_thread_cond_t *idle;
    api_owner_t *owners;
} api;

static void api_entry_free(struct api_entry *e);

apr_status_t aorta_api_init(apr_pool_t *pool)
{
    apr_status_t st;
    api.pool = pool;
    api.commands = apr_hash_make(pool);
    if ((st = apr_thread_rwlock_create(&api.lock, pool)) != APR_SUCCESS)
        return st;
    if ((st = apr_thread_mutex_create(&api.inflight_lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS)
        return st;
    return apr_thread_cond_create(&api.idle, pool);
}

void aorta_api_shutdown(void)
{
    if (!api.commands)
        return;
    apr_thread_rwlock_wrlock(api.lock);
    /* collect first: the hash reads its keys (inside the entries) while clearing */
    unsigned n = apr_hash_count(api.commands), i = 0;
    api_entry_t **all = malloc((n ? n : 1) * sizeof *all);
    if (!all)
        aorta_pool_abort(APR_ENOMEM);
    for (apr_hash_index_t *hi = apr_hash_first(NULL, api.commands); hi; hi = apr_hash_next(hi))
        all[i++] = apr_hash_this_val(hi);
    apr_hash_clear(api.commands);
    for (i = 0; i < n; i++)
        api_entry_free(all[i]);
    free(all);
    while (api.owners) {
        api_owner_t *o = api.owners;
        api.owners = o->next;
        free(o);
    }
    apr_thread_rwlock_unlock(api.lock);
    api.commands = NULL;
}

/* Under the write lock. */
static api_owner_t *api_owner_get(aorta_module_t *module)
{
    for (api_owner_t *o = api.owners; o; o = o->next)
        if (o->module == module)
            return o;
    api_owner_t *o = calloc(1, sizeof *o);
    if (!o)
        aorta_pool_abort(APR_ENOMEM);
    o->module = module;
    o->next = api.owners;
    api.owners = o;
    return o;
}

apr_status_t aorta_api_register(aorta_module_t *owner, const aorta_api_command_t *cmd)
{
    if (!cmd || !cmd->name || !cmd->fn)
        return APR_EINVAL;
    apr_status_t st = APR_SUCCESS;
    apr_thread_rwlock_wrlock(api.lock);
    if (apr_hash_get(api.commands, cmd->name, APR_HASH_KEY_STRING)) {
        st = AORTA_EEXIST;
    } else {
        /* entries live in malloc'd memory: a module's commands come and go with it */
        api_entry_t *e = calloc(1, sizeof *e);
        if (!e)
            aorta_pool_abort(APR_ENOMEM);
        e->cmd.name = strdup(cmd->name);
        e->cmd.syntax = strdup(cmd->syntax ? cmd->syntax : "");
        e->cmd.description = strdup(cmd->description ? cmd->description : "");
        e->cmd.fn = cmd->fn;
        e->owner = api_owner_get(owner);
        apr_hash_set(api.commands, e->cmd.name, APR_HASH_KEY_STRING, e);
    }
    apr_thread_rwlock_unlock(api.lock);
    if (st != APR_SUCCESS)
        aorta_log(AORTA_LOG_ERR, "API command \"%s\" of %s is already registered", cmd->name,
                  owner ? aorta_module_name(owner) : "core");
    return st;
}

static void api_entry_free(struct api_entry *e)
{
    free((char *)e->cmd.name);
    free((char *)e->cmd.syntax);
    free((char *)e->cmd.description);
    free(e);
}

void aorta_api_unregister_owner(aorta_module_t *owner)
{
    api_owner_t *o = NULL;
    apr_thread_rwlock_wrlock(api.lock);
    for (apr_hash_index_t *hi = apr_hash_first(NULL, api.commands); hi; hi = apr_hash_next(hi)) {
        api_entry_t *e = apr_hash_this_val(hi);
        if (e->owner->module == owner) {
            o = e->owner;
            apr_hash_set(api.commands, e->cmd.name, APR_HASH_KEY_STRING, NULL);
            api_entry_free(e);
        }
    }
    apr_thread_rwlock_unlock(api.lock);
    if (o)
        aorta_api_wait_idle(owner);
}

void aorta_api_wait_idle(aorta_module_t *owner)
{
    api_owner_t *o = NULL;
    apr_thread_rwlock_rdlock(api.lock);
    for (api_owner_t *it = api.owners; it; it = it->next)
        if (it->module == owner)
            o = it;
    apr_thread_rwlock_unlock(api.lock);
    if (!o)
        return;
    apr_thread_mutex_lock(api.inflight_lock);
    while (o->inflight > 0)
        apr_thread_cond_wait(api.idle, api.inflight_lock);
    apr_thread_mutex_unlock(api.inflight_lock);
}

static char *api_skip_space(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

static char *api_next_word(char *s)
{
    while (*s && !isspace((unsigned char)*s))
        s++;
    return s;
}

static void api_fire_event(const char *name, const char *args)
{
    aorta_event_t *ev;
    if (aorta_event_create(&ev, AORTA_EVENT_API) != APR_SUCCESS)
        return;
    aorta_event_add_header(ev, "API-Command", name);
    aorta_event_add_header(ev, "API-Command-Argument", args);
    aorta_event_fire(&ev);
}

apr_status_t aorta_api_execute(const char *cmdline, aorta_stream_t *out, apr_pool_t *pool)
{
    char *line = aorta_trim(apr_pstrdup(pool, cmdline ? cmdline : ""));
    if (!*line) {
        aorta_stream_puts(out, "-ERR no command given\n");
        return AORTA_ESYNTAX;
    }
    char *w1_end = api_next_word(line);
    char *rest1 = api_skip_space(w1_end);
    char *w1 = apr_pstrndup(pool, line, (apr_size_t)(w1_end - line));
    char *w2_end = api_next_word(rest1);
    char *two = *rest1 ? apr_pstrcat(pool, w1, " ", apr_pstrndup(pool, rest1, (apr_size_t)(w2_end - rest1)), NULL)
                       : NULL;
    const char *args;
    const char *name;

    apr_thread_rwlock_rdlock(api.lock);
    api_entry_t *e = two ? apr_hash_get(api.commands, two, APR_HASH_KEY_STRING) : NULL;
    if (e) {
        name = two;
        args = api_skip_space(w2_end);
    } else {
        e = apr_hash_get(api.commands, w1, APR_HASH_KEY_STRING);
        name = w1;
        args = rest1;
    }
    aorta_api_fn fn = NULL;
    api_owner_t *owner = NULL;
    if (e) {
        fn = e->cmd.fn;
        owner = e->owner;
        apr_thread_mutex_lock(api.inflight_lock);
        owner->inflight++;
        apr_thread_mutex_unlock(api.inflight_lock);
    }
    apr_thread_rwlock_unlock(api.lock);

    if (!fn) {
        aorta_stream_printf(out, "-ERR %s Command not found!\n", w1);
        return AORTA_ENOTFOUND;
    }
    api_fire_event(name, args);
    apr_status_t st = fn(args, out, pool);

    apr_thread_mutex_lock(api.inflight_lock);
    if (--owner->inflight == 0)
        apr_thread_cond_broadcast(api.idle);
    apr_thread_mutex_unlock(api.inflight_lock);
    return st;
}

int aorta_api_want_json(const char **args, apr_pool_t *pool)
{
    char *a = aorta_trim(apr_pstrdup(pool, *args ? *args : ""));
    apr_size_t n = strlen(a);
    if (n < 7 || strcasecmp(a + n - 4, "json") != 0)
        return 0;
    char *p = a + n - 4;
    if (!isspace((unsigned char)p[-1]))
        return 0;
    while (p > a && isspace((unsigned char)p[-1]))
        p--;
    if (p - a < 2 || strncasecmp(p - 2, "as", 2) != 0)
        return 0;
    p -= 2;
    if (p != a && !isspace((unsigned char)p[-1]))
        return 0;
    *p = '\0';
    *args = aorta_trim(a);
    return 1;
}

int aorta_api_split(const char *args, apr_pool_t *pool, char **argv, int max)
{
    char *s = api_skip_space(apr_pstrdup(pool, args ? args : ""));
    int n = 0;
    while (*s && n < max) {
        if (n == max - 1) {
            argv[n++] = aorta_trim(s);
            break;
        }
        char *e = api_next_word(s);
        if (*e)
            *e++ = '\0';
        argv[n++] = s;
        s = api_skip_space(e);
    }
    return n;
}

static int api_cmp(const void *a, const void *b)
{
    const api_entry_t *x = *(api_entry_t *const *)a;
    const api_entry_t *y = *(api_entry_t *const *)b;
    return strcmp(x->cmd.name, y->cmd.name);
}

void aorta_api_each(aorta_api_each_fn fn, void *user)
{
    apr_thread_rwlock_rdlock(api.lock);
    unsigned n = apr_hash_count(api.commands);
    api_entry_t **list = malloc((n ? n : 1) * sizeof *list);
    if (!list)
        aorta_pool_abort(APR_ENOMEM);
    unsigned i = 0;
    for (apr_hash_index_t *hi = apr_hash_first(NULL, api.commands); hi; hi = apr_hash_next(hi))
        list[i++] = apr_hash_this_val(hi);
    qsort(list, n, sizeof *list, api_cmp);
    for (i = 0; i < n; i++)
        fn(&list[i]->cmd, list[i]->owner->module ? aorta_module_name(list[i]->owner->module) : "core", user);
    apr_thread_rwlock_unlock(api.lock);
    free(list);
}
