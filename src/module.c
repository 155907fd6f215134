/*
 * module.c — the module loader, configuration generations and the interface registry.
 *
 * Ownership per module: a DSO pool (the shared object; destroyed last, which closes it) and
 * the module pool (created before configure()/load(), destroyed after shutdown()).
 * Configuration generations are unmanaged pools with a reference count: the current one
 * is referenced by the module; a reload makes a new one current and the old one dies with
 * its last reference. All loader operations are serialized by one mutex (they are rare);
 * generation references take a separate short lock.
 */
#include "core_internal.h"
#include <apr_atomic.h>
#include <apr_dso.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <stdlib.h>
#include <string.h>

struct aorta_config_gen {
    apr_pool_t *pool;
    void *cfg;
    int refs; /* the module's own reference counts while current */
};

struct aorta_module {
    char *name;
    char *path;
    apr_pool_t *dso_pool;
    apr_dso_handle_t *dso;
    apr_pool_t *pool;
    const aorta_module_def_t *def;
    int critical;
    volatile int running;
    void *data;
    apr_thread_t *runtime;
    aorta_config_gen_t *gen;
    apr_time_t loaded_at;
    apr_uint32_t tasks; /* queued or running tasks that run this module's code */
    int iface_users;    /* references from aorta_interface_acquire() (under iface_lock) */
    int iface_closing;  /* unload has begun: no new references (under iface_lock) */
};

typedef struct iface {
    const char *name;
    const void *table;
    aorta_module_t *owner;
} iface_t;

typedef struct dependency {
    aorta_module_t *user;
    aorta_module_t *provider;
} dependency_t;

static struct {
    apr_pool_t *pool;
    const char *mod_dir;
    apr_thread_mutex_t *lock;     /* loader operations, module list, interfaces */
    apr_thread_mutex_t *gen_lock; /* generation references */
    apr_thread_mutex_t *iface_lock; /* interfaces and dependency records: never held while
                                     * calling into a module, so module threads may look up
                                     * interfaces while the loader runs their shutdown() */
    apr_array_header_t *loaded;   /* aorta_module_t *, in load order */
    apr_array_header_t *ifaces;   /* iface_t */
    apr_array_header_t *deps;     /* dependency_t */
} mods;

apr_status_t aorta_modules_init(apr_pool_t *pool, const char *mod_dir)
{
    apr_status_t st;
    mods.pool = pool;
    mods.mod_dir = apr_pstrdup(pool, mod_dir);
    if ((st = apr_thread_mutex_create(&mods.lock, APR_THREAD_MUTEX_NESTED, pool)) != APR_SUCCESS)
        return st;
    if ((st = apr_thread_mutex_create(&mods.gen_lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS)
        return st;
    if ((st = apr_thread_mutex_create(&mods.iface_lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS)
        return st;
    mods.loaded = apr_array_make(pool, 8, sizeof(aorta_module_t *));
    mods.ifaces = apr_array_make(pool, 8, sizeof(iface_t));
    mods.deps = apr_array_make(pool, 8, sizeof(dependency_t));
    return APR_SUCCESS;
}

/* ---- accessors ------------------------------------------------------------------------ */

const char *aorta_module_name(const aorta_module_t *mod)
{
    return mod->name;
}

apr_pool_t *aorta_module_pool(const aorta_module_t *mod)
{
    return mod->pool;
}

void aorta_module_set_data(aorta_module_t *mod, void *data)
{
    mod->data = data;
}

void *aorta_module_get_data(const aorta_module_t *mod)
{
    return mod->data;
}

int aorta_module_running(const aorta_module_t *mod)
{
    return __atomic_load_n(&mod->running, __ATOMIC_ACQUIRE);
}

void aorta_module_task_begin(aorta_module_t *mod)
{
    if (mod)
        apr_atomic_inc32(&mod->tasks);
}

void aorta_module_task_end(aorta_module_t *mod)
{
    if (mod)
        apr_atomic_dec32(&mod->tasks);
}

/* ---- configuration generations -------------------------------------------------------- */

void *aorta_module_config(const aorta_module_t *mod)
{
    return mod->gen ? mod->gen->cfg : NULL;
}

void *aorta_module_config_acquire(aorta_module_t *mod, aorta_config_gen_t **gen)
{
    apr_thread_mutex_lock(mods.gen_lock);
    aorta_config_gen_t *g = mod->gen;
    if (g)
        g->refs++;
    apr_thread_mutex_unlock(mods.gen_lock);
    *gen = g;
    return g ? g->cfg : NULL;
}

void aorta_module_config_release(aorta_config_gen_t *gen)
{
    if (!gen)
        return;
    apr_thread_mutex_lock(mods.gen_lock);
    int last = --gen->refs == 0;
    apr_thread_mutex_unlock(mods.gen_lock);
    if (last) {
        apr_pool_destroy(gen->pool);
        free(gen);
    }
}

static aorta_config_gen_t *gen_new(void)
{
    aorta_config_gen_t *g = calloc(1, sizeof *g);
    if (!g)
        aorta_pool_abort(APR_ENOMEM);
    aorta_pool_create_unmanaged(&g->pool);
    g->refs = 1;
    return g;
}

/* Make @p g current for @p mod; the previous generation loses the module's reference. */
static void gen_install(aorta_module_t *mod, aorta_config_gen_t *g)
{
    apr_thread_mutex_lock(mods.gen_lock);
    aorta_config_gen_t *old = mod->gen;
    mod->gen = g;
    apr_thread_mutex_unlock(mods.gen_lock);
    aorta_module_config_release(old);
}

/* ---- interfaces ----------------------------------------------------------------------- */

apr_status_t aorta_interface_publish(aorta_module_t *owner, const char *name, const void *table)
{
    apr_status_t st = APR_SUCCESS;
    apr_thread_mutex_lock(mods.iface_lock);
    for (int i = 0; i < mods.ifaces->nelts; i++) {
        iface_t *it = &APR_ARRAY_IDX(mods.ifaces, i, iface_t);
        if (strcmp(it->name, name) == 0) {
            aorta_log(AORTA_LOG_ERR, "interface \"%s\" is already published by %s", name,
                      it->owner ? it->owner->name : "core");
            st = AORTA_EEXIST;
            goto done;
        }
    }
    iface_t *it = apr_array_push(mods.ifaces);
    it->name = apr_pstrdup(mods.pool, name);
    it->table = table;
    it->owner = owner;
done:
    apr_thread_mutex_unlock(mods.iface_lock);
    return st;
}

const void *aorta_interface_get(const char *name)
{
    const void *table = NULL;
    apr_thread_mutex_lock(mods.iface_lock);
    for (int i = 0; i < mods.ifaces->nelts; i++) {
        iface_t *it = &APR_ARRAY_IDX(mods.ifaces, i, iface_t);
        if (strcmp(it->name, name) == 0)
            table = it->table;
    }
    apr_thread_mutex_unlock(mods.iface_lock);
    return table;
}

/* Counted references for modules that fetch an interface when they use it (the provider may
 * load after them, so they cannot require it at load): unload waits for the references. */

#define IFACE_UNLOAD_WAIT_MS 5000

const void *aorta_interface_acquire(const char *name, aorta_module_t **provider)
{
    const void *table = NULL;
    *provider = NULL;
    apr_thread_mutex_lock(mods.iface_lock);
    for (int i = 0; i < mods.ifaces->nelts; i++) {
        iface_t *it = &APR_ARRAY_IDX(mods.ifaces, i, iface_t);
        if (strcmp(it->name, name) != 0)
            continue;
        if (it->owner && it->owner->iface_closing)
            break;
        table = it->table;
        *provider = it->owner;
        if (it->owner)
            it->owner->iface_users++;
        break;
    }
    apr_thread_mutex_unlock(mods.iface_lock);
    return table;
}

void aorta_interface_release(aorta_module_t *provider)
{
    if (!provider)
        return;
    apr_thread_mutex_lock(mods.iface_lock);
    provider->iface_users--;
    apr_thread_mutex_unlock(mods.iface_lock);
}

static int iface_users(aorta_module_t *mod)
{
    apr_thread_mutex_lock(mods.iface_lock);
    int n = mod->iface_users;
    apr_thread_mutex_unlock(mods.iface_lock);
    return n;
}

static void iface_set_closing(aorta_module_t *mod, int closing)
{
    apr_thread_mutex_lock(mods.iface_lock);
    mod->iface_closing = closing;
    apr_thread_mutex_unlock(mods.iface_lock);
}

/*
 * Stop new references to @p mod's interfaces and wait for the held ones. Bounded, so a holder
 * that misbehaves (waits for the loader, which holds mods.lock) costs a refused unload and the
 * interfaces reopen; at shutdown there is no refusing, so the wait goes on.
 */
static apr_status_t iface_drain(aorta_module_t *mod, aorta_stream_t *why)
{
    iface_set_closing(mod, 1);
    int n;
    for (int waited = 0; (n = iface_users(mod)) > 0; waited++) {
        if (waited == IFACE_UNLOAD_WAIT_MS && aorta_core_stopping()) {
            aorta_log(AORTA_LOG_WARNING, "shutting down: waiting for %d reference%s to the interfaces of %s", n,
                      n == 1 ? "" : "s", mod->name);
        } else if (waited == IFACE_UNLOAD_WAIT_MS) {
            iface_set_closing(mod, 0);
            aorta_stream_printf(why, "%s is in use: %d call%s still hold%s its interfaces; try again", mod->name, n,
                                n == 1 ? "" : "s", n == 1 ? "s" : "");
            aorta_log(AORTA_LOG_WARNING, "unloading %s refused: %d interface reference%s held for %d ms", mod->name,
                      n, n == 1 ? "" : "s", IFACE_UNLOAD_WAIT_MS);
            return AORTA_EINUSE;
        }
        apr_sleep(1000);
    }
    return APR_SUCCESS;
}

apr_status_t aorta_interface_require(aorta_module_t *mod, const char *name, const void **table)
{
    apr_status_t st = AORTA_EDEPEND;
    apr_thread_mutex_lock(mods.iface_lock);
    for (int i = 0; i < mods.ifaces->nelts; i++) {
        iface_t *it = &APR_ARRAY_IDX(mods.ifaces, i, iface_t);
        if (strcmp(it->name, name) == 0) {
            *table = it->table;
            if (it->owner && it->owner != mod) {
                dependency_t *d = apr_array_push(mods.deps);
                d->user = mod;
                d->provider = it->owner;
            }
            st = APR_SUCCESS;
        }
    }
    apr_thread_mutex_unlock(mods.iface_lock);
    if (st != APR_SUCCESS) {
        *table = NULL;
        aorta_log(AORTA_LOG_ERR, "%s needs interface \"%s\", which no loaded module publishes (is its module loaded "
                                 "before %s in modules.conf?)",
                  mod->name, name, mod->name);
    }
    return st;
}

/* Drop interfaces and dependency records of @p mod. */
static void module_forget_links(aorta_module_t *mod)
{
    apr_thread_mutex_lock(mods.iface_lock);
    int j = 0;
    for (int i = 0; i < mods.ifaces->nelts; i++) {
        iface_t it = APR_ARRAY_IDX(mods.ifaces, i, iface_t);
        if (it.owner != mod)
            APR_ARRAY_IDX(mods.ifaces, j++, iface_t) = it;
    }
    mods.ifaces->nelts = j;
    j = 0;
    for (int i = 0; i < mods.deps->nelts; i++) {
        dependency_t d = APR_ARRAY_IDX(mods.deps, i, dependency_t);
        if (d.user != mod && d.provider != mod)
            APR_ARRAY_IDX(mods.deps, j++, dependency_t) = d;
    }
    mods.deps->nelts = j;
    apr_thread_mutex_unlock(mods.iface_lock);
}

/* ---- loading -------------------------------------------------------------------------- */

static aorta_module_t *module_find(const char *name)
{
    for (int i = 0; i < mods.loaded->nelts; i++) {
        aorta_module_t *m = APR_ARRAY_IDX(mods.loaded, i, aorta_module_t *);
        if (strcmp(m->name, name) == 0)
            return m;
    }
    return NULL;
}

int aorta_module_is_loaded(const char *name)
{
    apr_thread_mutex_lock(mods.lock);
    int yes = module_find(name) != NULL;
    apr_thread_mutex_unlock(mods.lock);
    return yes;
}

static int module_name_ok(const char *name)
{
    if (!*name || strlen(name) > 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

/*
 * Open @p name's shared object and check its definition. On success *dso_pool owns the
 * handle (destroying it closes the object). On failure the reason is in @p why.
 */
static apr_status_t module_open(const char *name, apr_pool_t **dso_pool, const aorta_module_def_t **def,
                                char **path, aorta_stream_t *why)
{
    apr_dso_handle_t *dso;
    apr_dso_handle_sym_t sym;
    char err[512];
    apr_status_t st;

    if (!module_name_ok(name)) {
        aorta_stream_printf(why, "invalid module name \"%s\"", name);
        return APR_EINVAL;
    }
    aorta_pool_create(dso_pool, mods.pool);
    *path = apr_psprintf(*dso_pool, "%s/%s.so", mods.mod_dir, name);
    if ((st = apr_dso_load(&dso, *path, *dso_pool)) != APR_SUCCESS) {
        /* dlerror() already starts with the path; keep the reason once */
        const char *reason = apr_dso_error(dso, err, sizeof err);
        apr_size_t plen = strlen(*path);
        if (strncmp(reason, *path, plen) == 0 && reason[plen] == ':')
            reason += plen + 1 + (reason[plen + 1] == ' ');
        aorta_stream_printf(why, "cannot open %s: %s", *path, reason);
        goto fail;
    }
    char *symname = apr_pstrcat(*dso_pool, name, "_module", NULL);
    if ((st = apr_dso_sym(&sym, dso, symname)) != APR_SUCCESS) {
        aorta_stream_printf(why, "%s does not export the symbol %s (missing symbol)", *path, symname);
        goto fail;
    }
    *def = (const aorta_module_def_t *)sym;
    if ((*def)->abi != AORTA_MODULE_ABI || !(*def)->build || strcmp((*def)->build, AORTA_BUILD_SIGNATURE) != 0) {
        aorta_stream_printf(why, "%s was built for ABI %u (%s), this core is ABI %d (%s): rebuild it", *path,
                            (*def)->abi, (*def)->build ? (*def)->build : "?", AORTA_MODULE_ABI,
                            AORTA_BUILD_SIGNATURE);
        st = AORTA_EABI;
        goto fail;
    }
    if (!(*def)->name || strcmp((*def)->name, name) != 0) {
        aorta_stream_printf(why, "%s calls itself \"%s\"", *path, (*def)->name ? (*def)->name : "(null)");
        st = APR_EINVAL;
        goto fail;
    }
    return APR_SUCCESS;
fail:
    apr_pool_destroy(*dso_pool);
    *dso_pool = NULL;
    return st;
}

static void *APR_THREAD_FUNC module_runtime_thread(apr_thread_t *thread, void *data)
{
    aorta_module_t *mod = data;
    aorta_thread_name("%s", mod->name);
    mod->def->runtime(mod);
    return NULL;
}

static void module_fire(aorta_event_id_t id, aorta_module_t *mod)
{
    aorta_event_t *ev;
    if (aorta_event_create(&ev, id) != APR_SUCCESS)
        return;
    aorta_event_add_header(ev, "type", "module");
    aorta_event_add_header(ev, "name", mod->name);
    aorta_event_add_header(ev, "key", mod->name);
    aorta_event_add_header(ev, "filename", mod->path);
    aorta_event_fire(&ev);
}

static void config_errors_to(aorta_stream_t *why, aorta_conf_errors_t *errs)
{
    for (int i = 0; i < aorta_conf_errors_count(errs); i++)
        aorta_stream_printf(why, "%s%s", i ? "\n" : "", aorta_conf_errors_get(errs, i));
}

static apr_status_t module_load_locked(const char *name, int critical, aorta_stream_t *why)
{
    apr_pool_t *dso_pool;
    const aorta_module_def_t *def;
    char *path;
    apr_status_t st;

    if (module_find(name)) {
        aorta_stream_printf(why, "%s is already loaded", name);
        return AORTA_EEXIST;
    }
    if ((st = module_open(name, &dso_pool, &def, &path, why)) != APR_SUCCESS)
        return st;
    for (const char *const *d = def->depends; d && *d; d++) {
        if (!module_find(*d)) {
            aorta_stream_printf(why, "%s needs %s, which is not loaded (missing dependency)", name, *d);
            apr_pool_destroy(dso_pool);
            return AORTA_EDEPEND;
        }
    }

    aorta_module_t *mod = apr_pcalloc(dso_pool, sizeof *mod);
    mod->name = apr_pstrdup(dso_pool, name);
    mod->path = path;
    mod->dso_pool = dso_pool;
    mod->def = def;
    mod->critical = critical;
    aorta_pool_create(&mod->pool, mods.pool);
    apr_pool_tag(mod->pool, mod->name);

    if (def->configure) {
        apr_pool_t *tmp;
        aorta_pool_create(&tmp, mods.pool);
        aorta_conf_errors_t *errs = aorta_conf_errors_create(tmp);
        aorta_config_gen_t *g = gen_new();
        st = def->configure(mod, aorta_core_conf(), g->pool, errs, &g->cfg);
        if (st != APR_SUCCESS || aorta_conf_errors_count(errs)) {
            aorta_stream_printf(why, "%s: configuration rejected:\n", name);
            config_errors_to(why, errs);
            if (!aorta_conf_errors_count(errs)) {
                char buf[128];
                aorta_stream_printf(why, "%s", aorta_strerror(st, buf, sizeof buf));
            }
            aorta_module_config_release(g);
            apr_pool_destroy(tmp);
            goto fail;
        }
        apr_pool_destroy(tmp);
        gen_install(mod, g);
    }

    __atomic_store_n(&mod->running, 1, __ATOMIC_RELEASE);
    if ((st = def->load(mod, mod->pool)) != APR_SUCCESS) {
        char buf[128];
        aorta_stream_printf(why, "%s: load() failed: %s (see the log above for why)", name,
                            aorta_strerror(st, buf, sizeof buf));
        __atomic_store_n(&mod->running, 0, __ATOMIC_RELEASE);
        goto fail;
    }
    for (const aorta_api_command_t *c = def->api; c && c->name; c++)
        aorta_api_register(mod, c);
    if (def->runtime) {
        st = apr_thread_create(&mod->runtime, NULL, module_runtime_thread, mod, mod->pool);
        if (st != APR_SUCCESS)
            aorta_log(AORTA_LOG_ERR, "%s: cannot start its runtime thread", name);
    }
    mod->loaded_at = apr_time_now();
    *(aorta_module_t **)apr_array_push(mods.loaded) = mod;
    aorta_log(AORTA_LOG_INFO, "module %s loaded", name);
    module_fire(AORTA_EVENT_MODULE_LOAD, mod);
    return APR_SUCCESS;

fail:
    /* load() may have published an interface that a call took before the failure: no new
     * references, and the held ones end before the library goes */
    iface_set_closing(mod, 1);
    while (iface_users(mod) > 0)
        apr_sleep(1000);
    module_forget_links(mod);
    gen_install(mod, NULL);
    apr_pool_destroy(mod->pool);
    apr_pool_destroy(dso_pool);
    return st ? st : APR_EGENERAL;
}

apr_status_t aorta_module_load(const char *name, int critical, aorta_stream_t *why)
{
    apr_thread_mutex_lock(mods.lock);
    apr_status_t st = module_load_locked(name, critical, why);
    apr_thread_mutex_unlock(mods.lock);
    return st;
}

static apr_status_t module_unload_locked(const char *name, aorta_stream_t *why)
{
    aorta_module_t *mod = module_find(name);
    if (!mod) {
        aorta_stream_printf(why, "%s is not loaded", name);
        return AORTA_ENOTFOUND;
    }
    for (int i = 0; i < mods.loaded->nelts; i++) {
        aorta_module_t *m = APR_ARRAY_IDX(mods.loaded, i, aorta_module_t *);
        for (const char *const *d = m->def->depends; d && *d; d++) {
            if (strcmp(*d, name) == 0) {
                aorta_stream_printf(why, "%s is used by %s: unload that first", name, m->name);
                return AORTA_EINUSE;
            }
        }
    }
    apr_thread_mutex_lock(mods.iface_lock);
    for (int i = 0; i < mods.deps->nelts; i++) {
        dependency_t *d = &APR_ARRAY_IDX(mods.deps, i, dependency_t);
        if (d->provider == mod) {
            aorta_stream_printf(why, "%s is used by %s: unload that first", name, d->user->name);
            apr_thread_mutex_unlock(mods.iface_lock);
            return AORTA_EINUSE;
        }
    }
    apr_thread_mutex_unlock(mods.iface_lock);
    apr_status_t drained = iface_drain(mod, why);
    if (drained != APR_SUCCESS)
        return drained;

    aorta_api_unregister_owner(mod);
    __atomic_store_n(&mod->running, 0, __ATOMIC_RELEASE);
    if (mod->runtime) {
        apr_status_t rv;
        apr_thread_join(&rv, mod->runtime);
    }
    if (mod->def->shutdown)
        mod->def->shutdown(mod);
    /* tasks queued with aorta_task_push_owned() still hold code of the shared object */
    for (int waited = 0; apr_atomic_read32(&mod->tasks) > 0; waited++) {
        if (waited == 5000)
            aorta_log(AORTA_LOG_WARNING, "unloading %s: waiting for %u of its tasks", name,
                      apr_atomic_read32(&mod->tasks));
        apr_sleep(1000);
    }
    module_forget_links(mod);
    for (int i = 0; i < mods.loaded->nelts; i++) {
        if (APR_ARRAY_IDX(mods.loaded, i, aorta_module_t *) == mod) {
            memmove(&APR_ARRAY_IDX(mods.loaded, i, aorta_module_t *),
                    &APR_ARRAY_IDX(mods.loaded, i + 1, aorta_module_t *),
                    sizeof(aorta_module_t *) * (size_t)(mods.loaded->nelts - i - 1));
            mods.loaded->nelts--;
            break;
        }
    }
    module_fire(AORTA_EVENT_MODULE_UNLOAD, mod);
    aorta_log(AORTA_LOG_INFO, "module %s unloaded", name);
    gen_install(mod, NULL);
    apr_pool_destroy(mod->pool);
    apr_pool_destroy(mod->dso_pool); /* closes the shared object; mod lives here */
    return APR_SUCCESS;
}

apr_status_t aorta_module_unload(const char *name, aorta_stream_t *why)
{
    apr_thread_mutex_lock(mods.lock);
    apr_status_t st = module_unload_locked(name, why);
    apr_thread_mutex_unlock(mods.lock);
    return st;
}

apr_status_t aorta_module_reload(const char *name, aorta_stream_t *why)
{
    apr_thread_mutex_lock(mods.lock);
    aorta_module_t *mod = module_find(name);
    int critical = mod ? mod->critical : 0;
    apr_status_t st = module_unload_locked(name, why);
    if (st == APR_SUCCESS)
        st = module_load_locked(name, critical, why);
    apr_thread_mutex_unlock(mods.lock);
    return st;
}

/* ---- modules.conf --------------------------------------------------------------------- */

typedef struct modlist_entry {
    const char *name;
    int critical;
    const xmlNode *node;
} modlist_entry_t;

/* The <load module=""> list of modules.conf; problems go to @p errs. */
static apr_array_header_t *modules_conf_list(const aorta_conf_t *conf, apr_pool_t *pool, aorta_conf_errors_t *errs)
{
    apr_array_header_t *list = apr_array_make(pool, 8, sizeof(modlist_entry_t));
    xmlNode *cfg = aorta_conf_configuration(conf, "modules.conf");
    if (!cfg)
        return list;
    for (xmlNode *n = aorta_xml_child(cfg, NULL); n; n = aorta_xml_next(n, NULL)) {
        if (strcmp(aorta_xml_name(n), "modules") != 0) {
            aorta_conf_error(errs, conf, n, "modules.conf: unexpected <%s>", aorta_xml_name(n));
            continue;
        }
        for (xmlNode *l = aorta_xml_child(n, NULL); l; l = aorta_xml_next(l, NULL)) {
            const char *m = aorta_xml_attr(l, "module");
            if (strcmp(aorta_xml_name(l), "load") != 0 || !m || !*m) {
                aorta_conf_error(errs, conf, l, "modules.conf: expected <load module=\"name\"/>");
                continue;
            }
            const char *crit = aorta_xml_attr(l, "critical");
            int critical = 0;
            if (crit && aorta_parse_bool(crit, &critical) != APR_SUCCESS)
                aorta_conf_error(errs, conf, l, "critical: \"%s\" is not a boolean", crit);
            modlist_entry_t *e = apr_array_push(list);
            e->name = m;
            e->critical = critical;
            e->node = l;
        }
    }
    return list;
}

apr_status_t aorta_modules_load_all(const aorta_conf_t *conf)
{
    apr_pool_t *tmp;
    aorta_pool_create(&tmp, mods.pool);
    aorta_conf_errors_t *errs = aorta_conf_errors_create(tmp);
    apr_array_header_t *list = modules_conf_list(conf, tmp, errs);
    apr_status_t result = APR_SUCCESS;
    for (int i = 0; i < aorta_conf_errors_count(errs); i++)
        aorta_log(AORTA_LOG_ERR, "%s", aorta_conf_errors_get(errs, i));
    for (int i = 0; i < list->nelts; i++) {
        modlist_entry_t *e = &APR_ARRAY_IDX(list, i, modlist_entry_t);
        aorta_stream_t *why = aorta_stream_create(tmp);
        apr_status_t st = aorta_module_load(e->name, e->critical, why);
        if (st != APR_SUCCESS) {
            const char *file;
            int line;
            aorta_conf_where(conf, e->node, &file, &line);
            aorta_log(e->critical ? AORTA_LOG_CRIT : AORTA_LOG_ERR, "%s:%d: module %s failed to load: %s", file, line,
                      e->name, aorta_stream_data(why, NULL));
            if (e->critical) {
                result = AORTA_EDEPEND;
                break;
            }
        }
    }
    apr_pool_destroy(tmp);
    return result;
}

void aorta_modules_unload_all(void)
{
    apr_thread_mutex_lock(mods.lock);
    apr_pool_t *tmp;
    aorta_pool_create(&tmp, mods.pool);
    while (mods.loaded->nelts > 0) {
        aorta_module_t *last = APR_ARRAY_IDX(mods.loaded, mods.loaded->nelts - 1, aorta_module_t *);
        aorta_stream_t *why = aorta_stream_create(tmp);
        /* reverse order satisfies dependencies; records of interface users die with them */
        if (module_unload_locked(last->name, why) != APR_SUCCESS) {
            aorta_log(AORTA_LOG_WARNING, "unloading %s: %s; forcing", last->name, aorta_stream_data(why, NULL));
            apr_thread_mutex_lock(mods.iface_lock);
            int j = 0;
            for (int i = 0; i < mods.deps->nelts; i++) {
                dependency_t d = APR_ARRAY_IDX(mods.deps, i, dependency_t);
                if (d.provider != last)
                    APR_ARRAY_IDX(mods.deps, j++, dependency_t) = d;
            }
            mods.deps->nelts = j;
            apr_thread_mutex_unlock(mods.iface_lock);
            module_unload_locked(last->name, why);
        }
    }
    apr_pool_destroy(tmp);
    apr_thread_mutex_unlock(mods.lock);
}

typedef struct pending_gen {
    aorta_module_t *mod;
    aorta_config_gen_t *gen;
} pending_gen_t;

apr_status_t aorta_modules_configure_all(const aorta_conf_t *conf, aorta_conf_errors_t *errs, int apply)
{
    apr_thread_mutex_lock(mods.lock);
    int before = aorta_conf_errors_count(errs);
    apr_pool_t *tmp;
    aorta_pool_create(&tmp, mods.pool);
    modules_conf_list(conf, tmp, errs);
    apr_array_header_t *pending = apr_array_make(tmp, 8, sizeof(pending_gen_t));
    for (int i = 0; i < mods.loaded->nelts; i++) {
        aorta_module_t *m = APR_ARRAY_IDX(mods.loaded, i, aorta_module_t *);
        if (!m->def->configure)
            continue;
        pending_gen_t *p = apr_array_push(pending);
        p->mod = m;
        p->gen = gen_new();
        int n = aorta_conf_errors_count(errs);
        apr_status_t st = m->def->configure(m, conf, p->gen->pool, errs, &p->gen->cfg);
        if (st != APR_SUCCESS && aorta_conf_errors_count(errs) == n)
            aorta_conf_errors_add(errs, m->name, 0, "configuration rejected");
    }
    int ok = aorta_conf_errors_count(errs) == before;
    for (int i = 0; i < pending->nelts; i++) {
        pending_gen_t *p = &APR_ARRAY_IDX(pending, i, pending_gen_t);
        if (ok && apply && p->mod->def->reconfigure) {
            /* keep the running generation until the module has adopted the new one: a module
             * that refuses it must go on with a configuration it actually runs */
            aorta_config_gen_t *old;
            aorta_module_config_acquire(p->mod, &old);
            gen_install(p->mod, p->gen);
            if (p->mod->def->reconfigure(p->mod, p->gen->cfg) != APR_SUCCESS) {
                gen_install(p->mod, old);
                aorta_conf_errors_add(errs, p->mod->name, 0,
                                      "could not apply the new configuration; it keeps running the previous one "
                                      "(see the log above)");
                aorta_log(AORTA_LOG_ERR, "%s could not apply the new configuration; it keeps the previous one",
                          p->mod->name);
            } else {
                aorta_module_config_release(old);
            }
        } else {
            if (ok && apply)
                aorta_log(AORTA_LOG_NOTICE, "%s: configuration validated; it applies at `module reload %s`",
                          p->mod->name, p->mod->name);
            aorta_module_config_release(p->gen);
        }
    }
    apr_pool_destroy(tmp);
    apr_thread_mutex_unlock(mods.lock);
    return ok ? APR_SUCCESS : AORTA_ECONFIG;
}

apr_status_t aorta_modules_check(const aorta_conf_t *conf, aorta_conf_errors_t *errs)
{
    int before = aorta_conf_errors_count(errs);
    apr_pool_t *tmp;
    aorta_pool_create(&tmp, mods.pool);
    apr_array_header_t *list = modules_conf_list(conf, tmp, errs);
    for (int i = 0; i < list->nelts; i++) {
        modlist_entry_t *e = &APR_ARRAY_IDX(list, i, modlist_entry_t);
        apr_pool_t *dso_pool;
        const aorta_module_def_t *def;
        char *path;
        aorta_stream_t *why = aorta_stream_create(tmp);
        if (module_open(e->name, &dso_pool, &def, &path, why) != APR_SUCCESS) {
            aorta_conf_error(errs, conf, e->node, "module %s: %s", e->name, aorta_stream_data(why, NULL));
            continue;
        }
        if (def->configure) {
            aorta_module_t probe = {.name = (char *)e->name, .path = path, .def = def};
            aorta_pool_create(&probe.pool, tmp);
            void *cfg = NULL;
            apr_status_t st = def->configure(&probe, conf, probe.pool, errs, &cfg);
            if (st != APR_SUCCESS && aorta_conf_errors_count(errs) == before)
                aorta_conf_error(errs, conf, e->node, "module %s rejected its configuration", e->name);
            apr_pool_destroy(probe.pool);
        }
        apr_pool_destroy(dso_pool);
    }
    apr_pool_destroy(tmp);
    return aorta_conf_errors_count(errs) > before ? AORTA_ECONFIG : APR_SUCCESS;
}

/* ---- show modules --------------------------------------------------------------------- */

void aorta_modules_show(aorta_stream_t *out, int json)
{
    apr_thread_mutex_lock(mods.lock);
    if (json) {
        aorta_stream_puts(out, "{\"modules\":[");
        for (int i = 0; i < mods.loaded->nelts; i++) {
            aorta_module_t *m = APR_ARRAY_IDX(mods.loaded, i, aorta_module_t *);
            int ncmd = 0;
            for (const aorta_api_command_t *c = m->def->api; c && c->name; c++)
                ncmd++;
            char when[APR_CTIME_LEN];
            apr_ctime(when, m->loaded_at);
            aorta_stream_printf(out,
                                "%s{\"name\":\"%s\",\"order\":%d,\"critical\":%s,\"commands\":%d,\"runtime\":%s,"
                                "\"loaded\":\"%s\",\"path\":\"%s\"}",
                                i ? "," : "", m->name, i + 1, m->critical ? "true" : "false", ncmd,
                                m->def->runtime ? "true" : "false", when, m->path);
        }
        aorta_stream_puts(out, "]}\n");
    } else {
        aorta_stream_printf(out, "%-5s %-20s %-8s %-8s %s\n", "order", "name", "critical", "commands", "path");
        for (int i = 0; i < mods.loaded->nelts; i++) {
            aorta_module_t *m = APR_ARRAY_IDX(mods.loaded, i, aorta_module_t *);
            int ncmd = 0;
            for (const aorta_api_command_t *c = m->def->api; c && c->name; c++)
                ncmd++;
            aorta_stream_printf(out, "%-5d %-20s %-8s %-8d %s\n", i + 1, m->name, m->critical ? "yes" : "no", ncmd,
                                m->path);
        }
        aorta_stream_printf(out, "\n%d modules loaded.\n", mods.loaded->nelts);
    }
    apr_thread_mutex_unlock(mods.lock);
}

void aorta_modules_document(const char *name, aorta_stream_t *out)
{
    apr_pool_t *tmp;
    aorta_pool_create(&tmp, mods.pool);
    apr_pool_t *dso_pool;
    const aorta_module_def_t *def;
    char *path;
    aorta_stream_t *why = aorta_stream_create(tmp);
    if (module_open(name, &dso_pool, &def, &path, why) != APR_SUCCESS) {
        aorta_stream_printf(out, "-ERR %s\n", aorta_stream_data(why, NULL));
        apr_pool_destroy(tmp);
        return;
    }
    aorta_stream_printf(out, "## %s\n\n", name);
    for (const aorta_settings_section_t *s = def->settings; s && s->where; s++) {
        aorta_stream_printf(out, "### %s\n\n", s->where);
        aorta_settings_document(s->table, out);
        aorta_stream_puts(out, "\n");
    }
    if (def->api && def->api->name) {
        aorta_stream_puts(out, "### API commands\n\n| command | syntax | description |\n|---|---|---|\n");
        for (const aorta_api_command_t *c = def->api; c && c->name; c++)
            aorta_stream_printf(out, "| `%s` | `%s` | %s |\n", c->name, c->syntax ? c->syntax : "",
                                c->description ? c->description : "");
        aorta_stream_puts(out, "\n");
    }
    apr_pool_destroy(dso_pool);
    apr_pool_destroy(tmp);
}
