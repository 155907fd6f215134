/*
 * aorta/module.h — the module definition, the module's view of itself, and the interface
 * registry through which modules meet.
 *
 * A module is a shared object exporting one symbol, `<name>_module`, of type
 * aorta_module_def_t: data describing it (ABI, dependencies, settings and API tables) and
 * its lifecycle functions. The loader:
 *   1. checks the ABI and that every dependency is loaded;
 *   2. creates the module pool (child of the root pool; destroyed after shutdown);
 *   3. calls configure() with the current configuration and a fresh generation pool;
 *   4. calls load(); on success registers the API table and starts runtime() in a thread;
 *   5. on unload: waits for references from aorta_interface_acquire() to its interfaces,
 *      removes the API commands, stops runtime (aorta_module_running() turns 0,
 *      and the thread is joined), calls shutdown(), drops the module's interfaces, then
 *      destroys the module pool and closes the shared object.
 * reloadxml calls configure() of every module on the new configuration; only when all of
 * them succeed is each module's reconfigure() called with its new generation.
 */
#ifndef AORTA_MODULE_H
#define AORTA_MODULE_H

#include "aorta/types.h"
#include "aorta/conf.h"
#include "aorta/api.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AORTA_MODULE_ABI 1

/** Checked at load: a module built against other core headers is refused. */
#define AORTA_BUILD_SIGNATURE "aorta-abi-1"

struct aorta_module_def {
    unsigned abi;                             /**< AORTA_MODULE_ABI */
    const char *name;                         /**< "mod_location": must match the file name */
    const char *build;                        /**< AORTA_BUILD_SIGNATURE */
    const char *const *depends;               /**< NULL-terminated module names, or NULL */
    const aorta_settings_section_t *settings; /**< for the generated reference; ends with {NULL} */
    const aorta_api_command_t *api;           /**< ends with {NULL} */

    /**
     * Parse and validate this module's part of @p conf into a new object allocated in
     * @p gen_pool; put it in *cfg. No side effects: also used by --check and reloadxml.
     * Add every problem to @p errs and return AORTA_ECONFIG. NULL: the module has no config.
     */
    apr_status_t (*configure)(aorta_module_t *mod, const aorta_conf_t *conf, apr_pool_t *gen_pool,
                              aorta_conf_errors_t *errs, void **cfg);
    /** Start: the configuration from configure() is aorta_module_config(mod). */
    apr_status_t (*load)(aorta_module_t *mod, apr_pool_t *pool);
    /** Optional thread body; must return soon after aorta_module_running(mod) becomes 0. */
    void (*runtime)(aorta_module_t *mod);
    /**
     * Optional: adopt a new configuration generation at reloadxml (the core has already made
     * it current, see aorta_module_config_acquire()). NULL: reloadxml validates this module's
     * configuration, but it takes effect only at `module reload`.
     */
    apr_status_t (*reconfigure)(aorta_module_t *mod, void *cfg);
    /** Stop: release everything load() started. */
    void (*shutdown)(aorta_module_t *mod);
};

/** Export the module definition; use exactly once per module as AORTA_MODULE_EXPORT(mod_x) = {...}; */
#define AORTA_MODULE_EXPORT(modname) __attribute__((visibility("default"))) const aorta_module_def_t modname##_module

AORTA_DECLARE(const char *) aorta_module_name(const aorta_module_t *mod);
/** The module pool: lives from before load() until after shutdown(). Not thread-safe. */
AORTA_DECLARE(apr_pool_t *) aorta_module_pool(const aorta_module_t *mod);
/** Private state for the module's own use (set in load). */
AORTA_DECLARE(void) aorta_module_set_data(aorta_module_t *mod, void *data);
AORTA_DECLARE(void *) aorta_module_get_data(const aorta_module_t *mod);
/** 1 while the module is loaded and not shutting down. */
AORTA_DECLARE(int) aorta_module_running(const aorta_module_t *mod);

/**
 * The current configuration generation (what configure() returned). Without a reference it
 * is safe only inside load(), reconfigure() and the runtime thread's own use between reloads;
 * other threads take a reference: cfg = aorta_module_config_acquire(mod, &gen); ...;
 * aorta_module_config_release(gen). A generation's pool is destroyed when it is no longer
 * current and the last reference is released.
 */
AORTA_DECLARE(void *) aorta_module_config(const aorta_module_t *mod);
AORTA_DECLARE(void *) aorta_module_config_acquire(aorta_module_t *mod, aorta_config_gen_t **gen);
AORTA_DECLARE(void) aorta_module_config_release(aorta_config_gen_t *gen);

/* ---- interfaces: typed tables published by name -------------------------------------- */

/** Publish @p table under @p name for @p owner; removed automatically when the owner unloads. */
AORTA_DECLARE(apr_status_t) aorta_interface_publish(aorta_module_t *owner, const char *name, const void *table);
/** The table published as @p name, or NULL. */
AORTA_DECLARE(const void *) aorta_interface_get(const char *name);
/**
 * The table published as @p name, counted as in use until aorta_interface_release(*provider):
 * for a module that fetches an interface when it uses it (the provider may load after it, so
 * it cannot require it in load()). `module unload` of the provider stops handing out new
 * references, then waits for the held ones (up to 5 s; after that it is refused with "in use").
 * Hold a reference only for one call, release it on every path, and do not call the loader
 * (module load/unload, reloadxml) while holding it. Returns NULL, and *provider NULL, when no
 * module publishes @p name or its provider is being unloaded. *provider is NULL too for an
 * interface the core publishes (release ignores NULL).
 */
AORTA_DECLARE(const void *) aorta_interface_acquire(const char *name, aorta_module_t **provider);
/** Give back a reference taken with aorta_interface_acquire(); NULL does nothing. */
AORTA_DECLARE(void) aorta_interface_release(aorta_module_t *provider);
/**
 * As aorta_interface_get(), but when absent logs "<mod> needs interface '<name>' (is <provider>
 * loaded before it?)" and returns AORTA_EDEPEND. Records the dependency so the provider
 * cannot be unloaded while @p mod is loaded.
 */
AORTA_DECLARE(apr_status_t) aorta_interface_require(aorta_module_t *mod, const char *name, const void **table);

/* ---- loader (used by the core and by `module load|unload|reload`) -------------------- */

AORTA_DECLARE(apr_status_t) aorta_module_load(const char *name, int critical, aorta_stream_t *why);
AORTA_DECLARE(apr_status_t) aorta_module_unload(const char *name, aorta_stream_t *why);
AORTA_DECLARE(apr_status_t) aorta_module_reload(const char *name, aorta_stream_t *why);
/** 1 if a module named @p name is loaded. */
AORTA_DECLARE(int) aorta_module_is_loaded(const char *name);

#ifdef __cplusplus
}
#endif
#endif
