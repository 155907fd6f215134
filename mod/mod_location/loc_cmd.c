/*
 * loc_cmd.c — the `show aors|contacts|registrations` commands.
 *
 * Text output is one row per item, columns separated by `|`, a header row first and
 * "N total." last (FreeSWITCH's `show` habit). `as json` writes a JSON array. The listings
 * are streamed row by row into the command's output: `show registrations` with 100k
 * contacts builds nothing bigger than the output itself (each row is formatted under its
 * AOR's stripe lock, which is held for one stripe at a time).
 */
#include "loc_internal.h"
#include <apr_strings.h>
#include <jansson.h>
#include <string.h>

static const char *qualify_name(loc_qualify_t q)
{
    return q == LOC_QUALIFY_REACHABLE ? "reachable" : q == LOC_QUALIFY_UNREACHABLE ? "unreachable" : "unknown";
}

static json_t *contact_json(const loc_contact_t *c, apr_time_t now)
{
    json_t *o = json_object();
#define JS(k, v) if (v) json_object_set_new(o, k, json_string(v))
    JS("aor", c->aor);
    JS("uri", c->uri);
    json_object_set_new(o, "type", json_string(c->is_static ? "static" : "dynamic"));
    if (!c->is_static) {
        json_object_set_new(o, "expires", json_integer(loc_expire_remaining(c, now)));
        json_object_set_new(o, "registered", json_integer(apr_time_sec(c->registered)));
    }
    if (c->q >= 0)
        json_object_set_new(o, "q", json_real(c->q / 1000.0));
    JS("params", c->params);
    JS("path", c->path);
    JS("user_agent", c->user_agent);
    JS("call_id", c->call_id);
    if (c->call_id)
        json_object_set_new(o, "cseq", json_integer(c->cseq));
    JS("network_ip", c->src_ip);
    if (c->src_ip)
        json_object_set_new(o, "network_port", json_integer(c->src_port));
    JS("network_proto", c->transport);
    JS("instance_id", c->instance);
    JS("reg_id", c->reg_id);
    JS("endpoint", c->endpoint);
    JS("profile", c->profile);
    json_object_set_new(o, "status", json_string(qualify_name(c->qualify)));
#undef JS
    return o;
}

#define TEXT_HEADER "aor|uri|expires|q|status|endpoint|received|user_agent\n"

static void contact_text(aorta_stream_t *out, const loc_contact_t *c, apr_time_t now)
{
    char q[16];
    if (c->q < 0)
        strcpy(q, "-");
    else
        apr_snprintf(q, sizeof q, "%.3g", c->q / 1000.0);
    if (c->is_static) {
        aorta_stream_printf(out, "%s|%s|static|%s|%s|||\n", c->aor, c->uri, q, qualify_name(c->qualify));
        return;
    }
    aorta_stream_printf(out, "%s|%s|%d|%s|%s|%s|%s:%s:%u|%s\n", c->aor, c->uri, loc_expire_remaining(c, now), q,
                        qualify_name(c->qualify), c->endpoint ? c->endpoint : "",
                        c->transport ? c->transport : "", c->src_ip ? c->src_ip : "", c->src_port,
                        c->user_agent ? c->user_agent : "");
}

typedef struct listing {
    aorta_stream_t *out;
    int json, n;
    apr_time_t now;
} listing_t;

static int list_one(const loc_contact_t *c, void *user)
{
    listing_t *l = user;
    if (l->json) {
        json_t *o = contact_json(c, l->now);
        char *s = json_dumps(o, JSON_COMPACT);
        aorta_stream_printf(l->out, "%s%s", l->n ? ",\n  " : "  ", s);
        free(s);
        json_decref(o);
    } else {
        contact_text(l->out, c, l->now);
    }
    l->n++;
    return 0;
}

static void list_begin(listing_t *l)
{
    aorta_stream_puts(l->out, l->json ? "[\n" : TEXT_HEADER);
}

static void list_end(listing_t *l)
{
    if (l->json)
        aorta_stream_puts(l->out, l->n ? "\n]\n" : "]\n");
    else
        aorta_stream_printf(l->out, "\n%d total.\n", l->n);
}

static void list_aor(listing_t *l, const char *aor, apr_pool_t *pool)
{
    apr_array_header_t *cs;
    loc_contacts_get(aor, pool, &cs);
    for (int i = 0; i < cs->nelts; i++)
        list_one(APR_ARRAY_IDX(cs, i, const loc_contact_t *), l);
}

apr_status_t loc_cmd_show_contacts(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    listing_t l = {out, aorta_api_want_json(&args, pool), 0, apr_time_now()};
    aorta_config_gen_t *gen = NULL;
    const loc_conf_t *conf = loc_conf_acquire(&gen);
    if (*args && (!conf || !apr_hash_get(conf->aors, args, APR_HASH_KEY_STRING))) {
        if (gen)
            aorta_module_config_release(gen);
        aorta_stream_printf(out, "-ERR no such aor '%s'\n", args);
        return AORTA_ENOTFOUND;
    }
    list_begin(&l);
    if (*args) {
        list_aor(&l, args, pool);
    } else {
        for (int i = 0; conf && i < conf->aor_order->nelts; i++) {
            apr_pool_t *sub;
            apr_pool_create(&sub, pool);
            list_aor(&l, APR_ARRAY_IDX(conf->aor_order, i, loc_aor_conf_t *)->name, sub);
            apr_pool_destroy(sub);
        }
    }
    if (gen)
        aorta_module_config_release(gen);
    list_end(&l);
    return APR_SUCCESS;
}

apr_status_t loc_cmd_show_registrations(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    listing_t l = {out, aorta_api_want_json(&args, pool), 0, apr_time_now()};
    list_begin(&l);
    if (*args) {
        list_aor(&l, args, pool);
    } else {
        loc_iterate(list_one, &l);
    }
    list_end(&l);
    return APR_SUCCESS;
}

apr_status_t loc_cmd_show_aors(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    int json = aorta_api_want_json(&args, pool), n = 0;
    aorta_config_gen_t *gen = NULL;
    const loc_conf_t *conf = loc_conf_acquire(&gen);
    if (*args && (!conf || !apr_hash_get(conf->aors, args, APR_HASH_KEY_STRING))) {
        if (gen)
            aorta_module_config_release(gen);
        aorta_stream_printf(out, "-ERR no such aor '%s'\n", args);
        return AORTA_ENOTFOUND;
    }
    json_t *arr = json ? json_array() : NULL;
    if (!json)
        aorta_stream_puts(out, "name|profile|max-contacts|remove-existing|contacts|static|support-path\n");
    for (int i = 0; conf && i < conf->aor_order->nelts; i++) {
        const loc_aor_conf_t *a = APR_ARRAY_IDX(conf->aor_order, i, loc_aor_conf_t *);
        if (*args && strcmp(args, a->name))
            continue;
        apr_pool_t *sub;
        apr_array_header_t *cs;
        apr_pool_create(&sub, pool);
        loc_contacts_get(a->name, sub, &cs);
        int dyn = 0;
        for (int j = 0; j < cs->nelts; j++)
            dyn += !APR_ARRAY_IDX(cs, j, const loc_contact_t *)->is_static;
        apr_pool_destroy(sub);
        const char *statics = a->static_contacts->nelts ? apr_array_pstrcat(pool, a->static_contacts, ',') : "";
        if (json) {
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string(a->name));
            json_object_set_new(o, "profile", json_string(a->profile));
            json_object_set_new(o, "max_contacts", json_integer(a->max_contacts));
            json_object_set_new(o, "remove_existing", json_boolean(a->remove_existing));
            json_object_set_new(o, "contacts", json_integer(dyn));
            json_t *st = json_array();
            for (int j = 0; j < a->static_contacts->nelts; j++)
                json_array_append_new(st, json_string(APR_ARRAY_IDX(a->static_contacts, j, const char *)));
            json_object_set_new(o, "static_contacts", st);
            json_object_set_new(o, "support_path", json_boolean(a->support_path));
            json_object_set_new(o, "min_expires", json_integer(a->min_expires));
            json_object_set_new(o, "max_expires", json_integer(a->max_expires));
            json_object_set_new(o, "default_expires", json_integer(a->default_expires));
            json_object_set_new(o, "qualify_frequency", json_integer(a->qualify_frequency));
            json_array_append_new(arr, o);
        } else {
            aorta_stream_printf(out, "%s|%s|%d|%s|%d|%s|%s\n", a->name, a->profile, a->max_contacts,
                                a->remove_existing ? "true" : "false", dyn, statics,
                                a->support_path ? "true" : "false");
        }
        n++;
    }
    if (gen)
        aorta_module_config_release(gen);
    if (json)
        aorta_stream_json(out, arr);
    else
        aorta_stream_printf(out, "\n%d total.\n", n);
    return APR_SUCCESS;
}
