/*
 * mod_location.c — the location service: AORs from sip.conf, their contacts in memory
 * (lock-striped, authoritative for reads), persisted by one writer thread into a pluggable
 * store, expired by a timer, published as the `location` interface (loc_api.h), and listed
 * by the show / dial_contacts / resolve commands.
 *
 * Life: load() opens the store, loads unexpired contacts (the store purges expired rows),
 * starts the writer and the expiry thread (and, for pgsql, the cluster listener), then
 * publishes the interface. shutdown() stops
 * the expiry thread, lets the writer commit everything queued, closes the store and frees
 * the contacts. Modules that hold the interface (mod_registrar) unload before us.
 */
#include "loc_internal.h"
#include <apr_strings.h>
#include <string.h>

extern const aorta_setting_t loc_location_settings[];
extern const aorta_setting_t loc_aor_settings[];

static const loc_contact_t *api_contact_ref(const loc_contact_t *c)
{
    return loc_contact_ref(c);
}

static const loc_aor_conf_t *api_aor_find(const char *name, aorta_config_gen_t **gen)
{
    const loc_conf_t *conf = loc_conf_acquire(gen);
    const loc_aor_conf_t *a = conf && name ? apr_hash_get(conf->aors, name, APR_HASH_KEY_STRING) : NULL;
    if (!a && *gen) {
        aorta_module_config_release(*gen);
        *gen = NULL;
    }
    return a;
}

static apr_status_t api_subscribe(aorta_module_t *owner, loc_change_fn fn, void *user)
{
    loc_t *loc = loc_global;
    loc_sub_t *s = apr_pcalloc(loc->pool, sizeof *s), **tail;
    s->owner = owner;
    s->fn = fn;
    s->user = user;
    apr_thread_rwlock_wrlock(loc->sub_lock);
    for (tail = &loc->subs; *tail; tail = &(*tail)->next)
        ;
    *tail = s;
    apr_thread_rwlock_unlock(loc->sub_lock);
    return APR_SUCCESS;
}

static void api_unsubscribe(aorta_module_t *owner)
{
    loc_t *loc = loc_global;
    if (!loc)
        return;
    apr_thread_rwlock_wrlock(loc->sub_lock);
    for (loc_sub_t **pp = &loc->subs; *pp;) {
        if ((*pp)->owner == owner)
            *pp = (*pp)->next; /* the node stays in the module pool until unload */
        else
            pp = &(*pp)->next;
    }
    apr_thread_rwlock_unlock(loc->sub_lock);
}

static const loc_api_t loc_api = {
    LOC_API_VERSION,  api_aor_find,   loc_contacts_get, loc_iterate,      loc_count,
    loc_edit_begin,   loc_edit_contacts, loc_edit_put,  loc_edit_remove,  loc_edit_commit,
    loc_edit_abort,   api_subscribe,  api_unsubscribe,  api_contact_ref,  loc_contact_unref,
};

const loc_conf_t *loc_conf_acquire(aorta_config_gen_t **gen)
{
    *gen = NULL;
    if (!loc_global || !loc_global->mod)
        return NULL;
    return aorta_module_config_acquire(loc_global->mod, gen);
}

static apr_status_t location_configure(aorta_module_t *mod, const aorta_conf_t *conf, apr_pool_t *gen_pool,
                                       aorta_conf_errors_t *errs, void **cfg)
{
    loc_conf_t *lc;
    apr_status_t rv = loc_conf_parse(conf, gen_pool, errs, &lc);
    *cfg = lc;
    return rv;
}

static apr_status_t location_load(aorta_module_t *mod, apr_pool_t *pool)
{
    loc_conf_t *conf = aorta_module_config(mod);
    loc_t *loc = apr_pcalloc(pool, sizeof *loc);
    apr_status_t rv;
    char buf[120];

    loc->mod = mod;
    loc->pool = pool;
    loc->node = apr_pstrdup(pool, aorta_core_switchname());
    loc->store_ops = loc_store_find(conf->store);
    if ((rv = apr_thread_rwlock_create(&loc->sub_lock, pool)) != APR_SUCCESS ||
        (rv = loc_mem_init(pool)) != APR_SUCCESS || (rv = loc_table_create(&loc->table, pool)) != APR_SUCCESS)
        return rv;
    loc->sync_full = !strcmp(conf->sqlite_sync, "full");
    if ((rv = loc->store_ops->open(&loc->store, conf->dsn, loc->sync_full, pool)) != APR_SUCCESS) {
        aorta_log(AORTA_LOG_ERR, "mod_location: cannot open the %s store (%s)", conf->store, conf->dsn);
        return rv;
    }
    loc_global = loc;
    if ((rv = loc->store_ops->load(loc->store, apr_time_now(), loc_table_load_row, loc)) != APR_SUCCESS)
        goto fail;
    if ((rv = loc_persist_start(&loc->persist, loc, pool)) != APR_SUCCESS ||
        (rv = loc_expire_start(loc)) != APR_SUCCESS)
        goto fail;
    /* a shared store: other nodes' changes reach memory and subscribers through LISTEN */
    if (loc->store_ops == &loc_store_pgsql && (rv = loc_cluster_start(loc, conf->dsn)) != APR_SUCCESS)
        goto fail;
    if ((rv = aorta_interface_publish(mod, LOC_API_NAME, &loc_api)) != APR_SUCCESS)
        goto fail;
    aorta_module_set_data(mod, loc);
    aorta_log(AORTA_LOG_INFO, "mod_location: store %s%s%s, %d AORs, %lu contacts loaded", conf->store,
              loc->store_ops == &loc_store_sqlite ? " " : "", loc->store_ops == &loc_store_sqlite ? conf->dsn : "",
              conf->aor_order->nelts, (unsigned long)loc_count());
    return APR_SUCCESS;
fail:
    aorta_log(AORTA_LOG_ERR, "mod_location: start failed: %s", aorta_strerror(rv, buf, sizeof buf));
    loc_cluster_stop(loc);
    loc_expire_stop(loc);
    loc_persist_stop(loc->persist);
    loc->store_ops->close(loc->store);
    loc_table_destroy(loc->table);
    loc_mem_destroy();
    loc_global = NULL;
    return rv;
}

static apr_status_t location_reconfigure(aorta_module_t *mod, void *cfg)
{
    loc_conf_t *lc = cfg;
    /* AORs and their policies apply at once (readers take the current generation); a
     * different store, dsn or sqlite-synchronous needs `module reload mod_location`. */
    if (loc_global && strcmp(loc_global->store_ops->name, lc->store))
        aorta_log(AORTA_LOG_WARNING, "mod_location: store %s stays in use until `module reload mod_location` (new: %s)",
                  loc_global->store_ops->name, lc->store);
    if (loc_global && loc_global->sync_full != !strcmp(lc->sqlite_sync, "full"))
        aorta_log(AORTA_LOG_WARNING,
                  "mod_location: sqlite-synchronous %s stays in use until `module reload mod_location` (new: %s)",
                  loc_global->sync_full ? "full" : "normal", lc->sqlite_sync);
    aorta_log(AORTA_LOG_INFO, "mod_location: %d AORs configured", lc->aor_order->nelts);
    return APR_SUCCESS;
}

static void location_shutdown(aorta_module_t *mod)
{
    loc_t *loc = aorta_module_get_data(mod);
    if (!loc)
        return;
    loc_expire_stop(loc);
    loc_qualify_drain();
    loc_cluster_stop(loc);
    loc_persist_stop(loc->persist);
    loc->store_ops->close(loc->store);
    loc_table_destroy(loc->table);
    loc_mem_destroy();
    loc_global = NULL;
}

static const aorta_settings_section_t location_settings[] = {
    {"sip.conf: profile/location", loc_location_settings},
    {"sip.conf: profile/aors/aor", loc_aor_settings},
    {NULL, NULL}};

static const aorta_api_command_t location_api[] = {
    {"show aors", "[<name>] [as json]", "AORs and their policy", loc_cmd_show_aors},
    {"show contacts", "[<aor>] [as json]", "contacts of one AOR or of all, in dial order", loc_cmd_show_contacts},
    {"show registrations", "[<aor>] [as json]", "every registered contact (streamed)", loc_cmd_show_registrations},
    {"dial_contacts", "<endpoint> [<aor>[,<aor>...]|*] [<request_user>]", "dial string ringing every contact",
     loc_cmd_dial_contacts},
    {"resolve", "<dialstring> [as json]", "where a dial string goes, and why", loc_cmd_resolve},
    {NULL, NULL, NULL, NULL}};

AORTA_MODULE_EXPORT(mod_location) = {
    .abi = AORTA_MODULE_ABI,
    .name = "mod_location",
    .build = AORTA_BUILD_SIGNATURE,
    .depends = NULL,
    .settings = location_settings,
    .api = location_api,
    .configure = location_configure,
    .load = location_load,
    .runtime = NULL,
    .reconfigure = location_reconfigure,
    .shutdown = location_shutdown,
};
