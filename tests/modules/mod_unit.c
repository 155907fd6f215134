/*
 * mod_unit.c — a minimal module for the core's unit tests: publishes the "unit" interface
 * and one API command. Built three ways (see tests/Makefile.am): as mod_unit, as
 * mod_unit_user (depends on mod_unit and requires its interface) and as mod_badabi (built
 * for another ABI).
 */
#include <aorta/aorta.h>

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
#endif
    {NULL, NULL, NULL, NULL},
};

static apr_status_t unit_load(aorta_module_t *mod, apr_pool_t *pool)
{
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
    .load = unit_load,
};
