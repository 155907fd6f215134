/*
 * loc_conf.c — mod_location's part of sip.conf: each profile's <location> (store, dsn) and
 * <aors>. The location is one per process: every profile that has a <location> must name
 * the same store and dsn. AOR names are global (a name defined twice is an error). A pgsql
 * store needs an explicit dsn (a libpq connection string).
 */
#include "loc_internal.h"
#include <apr_strings.h>
#include <stddef.h>
#include <string.h>

static const char *validate_store(const aorta_setting_t *s, const char *value, apr_pool_t *pool)
{
    return loc_store_find(value) ? NULL : "must be memory, sqlite or pgsql";
}

static const char *validate_sync(const aorta_setting_t *s, const char *value, apr_pool_t *pool)
{
    return strcmp(value, "normal") && strcmp(value, "full") ? "must be normal or full" : NULL;
}

static const char *validate_contact(const aorta_setting_t *s, const char *value, apr_pool_t *pool)
{
    if (strncasecmp(value, "sip:", 4) && strncasecmp(value, "sips:", 5))
        return "must be a sip: or sips: URI";
    return NULL;
}

const aorta_setting_t loc_location_settings[] = {
    {"store", AORTA_SETTING_STRING, "sqlite", offsetof(loc_conf_t, store), NULL, 0, 0, validate_store, 0,
     "where contacts persist: memory | sqlite | pgsql (shared by several nodes)"},
    {"dsn", AORTA_SETTING_STRING, NULL, offsetof(loc_conf_t, dsn), NULL, 0, 0, NULL, 0,
     "sqlite: database file (default <data dir>/location.db); pgsql: a libpq connection string (required)"},
    {"sqlite-synchronous", AORTA_SETTING_STRING, "normal", offsetof(loc_conf_t, sqlite_sync), NULL, 0, 0,
     validate_sync, 0,
     "sqlite: normal = a committed binding survives a crash of aorta, not a power cut; full = it is on disk "
     "(fsync) before its 200 OK, one fsync per group commit"},
    {NULL}};

const aorta_setting_t loc_aor_settings[] = {
    {"max-contacts", AORTA_SETTING_INT, "0", offsetof(loc_aor_conf_t, max_contacts), NULL, 0, 1000000, NULL, 1,
     "contacts REGISTER may add; 0 = no external manipulation"},
    {"remove-existing", AORTA_SETTING_BOOL, "false", offsetof(loc_aor_conf_t, remove_existing), NULL, 0, 0, NULL, 1,
     "when full, remove the soonest-expiring contacts to make room"},
    {"min-expires", AORTA_SETTING_INT, "0", offsetof(loc_aor_conf_t, min_expires), NULL, 0, 1000000000, NULL, 1,
     "override the profile's min-expires (0: inherit)"},
    {"max-expires", AORTA_SETTING_INT, "0", offsetof(loc_aor_conf_t, max_expires), NULL, 0, 1000000000, NULL, 1,
     "override the profile's max-expires (0: inherit)"},
    {"default-expires", AORTA_SETTING_INT, "0", offsetof(loc_aor_conf_t, default_expires), NULL, 0, 1000000000, NULL,
     1, "override the profile's default-expires (0: inherit)"},
    {"contact", AORTA_SETTING_MULTI, NULL, offsetof(loc_aor_conf_t, static_contacts), NULL, 0, 0, validate_contact, 1,
     "static contact URI (repeatable)"},
    {"qualify-frequency", AORTA_SETTING_INT, "0", offsetof(loc_aor_conf_t, qualify_frequency), NULL, 0, 86400, NULL,
     1, "seconds between OPTIONS to each contact; 0 off"},
    {"qualify-timeout", AORTA_SETTING_INT, "3", offsetof(loc_aor_conf_t, qualify_timeout), NULL, 0, 3600, NULL, 1,
     "seconds to wait for a qualify answer"},
    {"support-path", AORTA_SETTING_BOOL, "false", offsetof(loc_aor_conf_t, support_path), NULL, 0, 0, NULL, 1,
     "store and echo Path (RFC 3327)"},
    {NULL}};

apr_status_t loc_conf_parse(const aorta_conf_t *conf, apr_pool_t *pool, aorta_conf_errors_t *errs, loc_conf_t **out)
{
    loc_conf_t *lc = apr_pcalloc(pool, sizeof *lc);
    int nerr = aorta_conf_errors_count(errs), have_location = 0;
    xmlNode *first_location = NULL;
    lc->aors = apr_hash_make(pool);
    lc->aor_order = apr_array_make(pool, 16, sizeof(loc_aor_conf_t *));
    aorta_settings_apply(loc_location_settings, lc, conf, NULL, pool, errs);

    xmlNode *sip = aorta_conf_configuration(conf, "sip.conf");
    xmlNode *profiles = sip ? aorta_xml_child(sip, "profiles") : NULL;
    for (xmlNode *pr = profiles ? aorta_xml_child(profiles, "profile") : NULL; pr; pr = aorta_xml_next(pr, "profile")) {
        const char *pname = aorta_xml_attr(pr, "name");
        xmlNode *ln = aorta_xml_child(pr, "location");
        if (ln) {
            loc_conf_t tmp;
            memset(&tmp, 0, sizeof tmp);
            aorta_settings_apply(loc_location_settings, &tmp, conf, ln, pool, errs);
            if (have_location && tmp.store &&
                (strcmp(tmp.store, lc->store) || (tmp.dsn && lc->dsn && strcmp(tmp.dsn, lc->dsn)) ||
                 strcmp(tmp.sqlite_sync, lc->sqlite_sync))) {
                aorta_conf_error(errs, conf, ln,
                                 "every profile must use the same location store, dsn and sqlite-synchronous");
            } else if (!have_location) {
                lc->store = tmp.store;
                lc->dsn = tmp.dsn;
                lc->sqlite_sync = tmp.sqlite_sync;
                have_location = 1;
                first_location = ln;
            }
        }
        xmlNode *aors = aorta_xml_child(pr, "aors");
        for (xmlNode *a = aors ? aorta_xml_child(aors, "aor") : NULL; a; a = aorta_xml_next(a, "aor")) {
            const char *name = aorta_xml_attr(a, "name");
            if (!name || !*name) {
                aorta_conf_error(errs, conf, a, "<aor> needs a name");
                continue;
            }
            if (apr_hash_get(lc->aors, name, APR_HASH_KEY_STRING)) {
                aorta_conf_error(errs, conf, a, "aor '%s' is defined twice", name);
                continue;
            }
            loc_aor_conf_t *ac = apr_pcalloc(pool, sizeof *ac);
            aorta_settings_apply(loc_aor_settings, ac, conf, a, pool, errs);
            ac->name = apr_pstrdup(pool, name);
            ac->profile = apr_pstrdup(pool, pname ? pname : "");
            if (!ac->static_contacts)
                ac->static_contacts = apr_array_make(pool, 1, sizeof(const char *));
            if (ac->max_expires && ac->min_expires && ac->min_expires > ac->max_expires)
                aorta_conf_error(errs, conf, a, "aor '%s': min-expires is above max-expires", name);
            if (ac->qualify_frequency > 0)
                lc->qualify_any = 1;
            apr_hash_set(lc->aors, ac->name, APR_HASH_KEY_STRING, ac);
            APR_ARRAY_PUSH(lc->aor_order, loc_aor_conf_t *) = ac;
        }
    }
    if (!strcmp(lc->store, "pgsql") && (!lc->dsn || !*lc->dsn)) {
        if (first_location)
            aorta_conf_error(errs, conf, first_location, "store pgsql needs a dsn (a libpq connection string)");
        else
            aorta_conf_error(errs, conf, sip, "store pgsql needs a dsn (a libpq connection string)");
    } else if (!lc->dsn || !*lc->dsn) {
        const char *dd = aorta_conf_var(conf, "data_dir");
        if (!dd)
            dd = aorta_core_dir(AORTA_DIR_DATA);
        lc->dsn = apr_pstrcat(pool, dd ? dd : ".", "/location.db", NULL);
    }
    *out = lc;
    return aorta_conf_errors_count(errs) > nerr ? AORTA_ECONFIG : APR_SUCCESS;
}
