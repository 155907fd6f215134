/*
 * mod_unit.c — a minimal module for the core's unit tests: publishes the "unit" interface
 * and one API command. Built three ways (see tests/Makefile.am): as mod_unit, as
 * mod_unit_user (depends on mod_unit and requires its interface) and as mod_badabi (built
 * for another ABI).
 */
#include <aorta/aorta.h>
#include <string.h>

typedef struct unit_api {
    int magic;
} unit_api_t;


#if defined(UNIT_USER)
#define MOD_NAME "mod_unit_user"
static const char *const depends[] = {"mod_unit", NULL};
#elif defined(UNIT_BADABI)
#define MOD_NAME "mod_badabi"
static const char *const depends[] = {NULL};
#else
#define MOD_NAME "mod_unit"
static const char *const depends[] = {NULL};
#endif

/* mod_unit's configuration: unit.conf <settings><param name="mood"/>; "grumpy" makes
 * reconfigure() refuse a reload, to test that the module keeps its running generation. */
typedef struct unit_conf {
    const char *mood;
} unit_conf_t;

static const aorta_setting_t unit_settings[] = {
    {"mood", AORTA_SETTING_STRING, "happy", 0, NULL, 0, 0, NULL, 1, "any word; grumpy refuses reloads"},
    {NULL, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

static aorta_module_t *unit_self;

static apr_status_t unit_configure(aorta_module_t *mod, const aorta_conf_t *conf, apr_pool_t *pool,
                                   aorta_conf_errors_t *errs, void **cfg)
{
    unit_conf_t *c = apr_pcalloc(pool, sizeof *c);
    xmlNode *settings = conf ? aorta_xml_child(aorta_conf_configuration(conf, "unit.conf"), "settings") : NULL;
    apr_status_t st = aorta_settings_apply(unit_settings, c, conf, settings, pool, errs);
    *cfg = c;
    return st;
}

static apr_status_t unit_reconfigure(aorta_module_t *mod, void *cfg)
{
    const unit_conf_t *c = cfg;
    if (strcmp(c->mood, "grumpy") == 0) {
        aorta_log(AORTA_LOG_ERR, "mod_unit refuses a grumpy configuration");
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

#if !defined(UNIT_USER)
static apr_status_t unit_mood(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_config_gen_t *gen;
    const unit_conf_t *c = aorta_module_config_acquire(unit_self, &gen);
    aorta_stream_printf(out, "%s\n", c ? c->mood : "none");
    aorta_module_config_release(gen);
    return APR_SUCCESS;
}
#endif

static apr_status_t unit_ping(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    aorta_stream_printf(out, "pong from %s\n", MOD_NAME);
    return APR_SUCCESS;
}

static const aorta_api_command_t unit_api[] = {
#if defined(UNIT_USER)
    {"unit_user ping", "", "answers pong", unit_ping},
#else
    {"unit ping", "", "answers pong", unit_ping},
    {"unit mood", "", "the mood of the running configuration", unit_mood},
#endif
    {NULL, NULL, NULL, NULL},
};

static apr_status_t unit_load(aorta_module_t *mod, apr_pool_t *pool)
{
    unit_self = mod;
#if defined(UNIT_USER)
    const unit_api_t *u;
    apr_status_t st = aorta_interface_require(mod, "unit", (const void **)&u);
    if (st != APR_SUCCESS)
        return st;
    return u->magic == 4242 ? APR_SUCCESS : APR_EGENERAL;
#else
    static const unit_api_t unit_table = {4242};
    return aorta_interface_publish(mod, "unit", &unit_table);
#endif
}

#if defined(UNIT_USER)
AORTA_MODULE_EXPORT(mod_unit_user) = {
#elif defined(UNIT_BADABI)
AORTA_MODULE_EXPORT(mod_badabi) = {
#else
AORTA_MODULE_EXPORT(mod_unit) = {
#endif
#if defined(UNIT_BADABI)
    .abi = AORTA_MODULE_ABI + 98,
#else
    .abi = AORTA_MODULE_ABI,
#endif
    .name = MOD_NAME,
    .build = AORTA_BUILD_SIGNATURE,
    .depends = depends,
    .api = unit_api,
    .configure = unit_configure,
    .load = unit_load,
    .reconfigure = unit_reconfigure,
};
