/*
 * ep_show.c — `show profiles` and `show endpoints [<name>]`, as text or `as json`.
 *
 * Counters come from the running profiles (atomics, plus nta's own counters read inside the
 * profile thread through su_task_execute); endpoints and rules from the current configuration
 * generation, held for the duration of the command.
 */
#include "ep_internal.h"

#include <apr_strings.h>
#include <jansson.h>
#include <string.h>

static json_t *json_list(const apr_array_header_t *a)
{
    json_t *j = json_array();
    for (int i = 0; a && i < a->nelts; i++)
        json_array_append_new(j, json_string(APR_ARRAY_IDX(a, i, const char *)));
    return j;
}

static const char *text_list(apr_pool_t *pool, const apr_array_header_t *a)
{
    char *s = "";
    for (int i = 0; a && i < a->nelts; i++)
        s = apr_pstrcat(pool, s, i ? "," : "", APR_ARRAY_IDX(a, i, const char *), NULL);
    return s;
}

static const char *profile_listen(apr_pool_t *pool, const ep_profile_t *p)
{
    return apr_pstrcat(pool, p->contact_url ? p->contact_url : "", p->contact_url && p->tls_url ? " " : "",
                       p->tls_url ? p->tls_url : "", NULL);
}

apr_status_t ep_cmd_show_profiles(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    ep_mod_t *m = ep_g;
    int json = aorta_api_want_json(&args, pool);
    aorta_config_gen_t *gen;
    const ep_config_t *cfg = aorta_module_config_acquire(m->mod, &gen);
    json_t *jprofiles = json ? json_array() : NULL;
    if (!json)
        aorta_stream_printf(out, "%-12s %-8s %9s %9s %12s %8s %8s  %s\n", "Name", "State", "Requests", "InFlight",
                            "Unidentified", "Bad", "Dropped", "Listen");
    for (int i = 0; i < m->profiles->nelts; i++) {
        ep_profile_t *p = APR_ARRAY_IDX(m->profiles, i, ep_profile_t *);
        const ep_profile_conf_t *pc = ep_config_profile(cfg, p->name);
        ep_nta_stats_t st;
        ep_profile_nta_stats(p, &st);
        const char *state = p->thread ? "RUNNING" : "STOPPED";
        apr_uint64_t requests = p->requests;
        apr_thread_mutex_lock(p->src_lock);
        json_t *jsrc = json_array();
        char *srctext = "";
        for (apr_hash_index_t *hi = apr_hash_first(pool, p->sources); hi; hi = apr_hash_next(hi)) {
            const ep_source_count_t *c = apr_hash_this_val(hi);
            char when[APR_RFC822_DATE_LEN];
            apr_rfc822_date(when, c->last);
            json_array_append_new(jsrc,
                                  json_pack("{s:s,s:I,s:s}", "ip", c->ip, "count", (json_int_t)c->count, "last", when));
            srctext = apr_psprintf(pool, "%s    %-40s %8" APR_UINT64_T_FMT "  last %s\n", srctext, c->ip,
                                   (apr_uint64_t)c->count, when);
        }
        apr_thread_mutex_unlock(p->src_lock);
        if (json) {
            json_t *jp = json_pack(
                "{s:s,s:s,s:s,s:i,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "name", p->name, "state",
                state, "sip-ip", p->set.sip_ip, "sip-port", p->set.sip_port, "transports",
                json_list(p->set.transports), "requests", (json_int_t)requests, "on-sip-thread",
                (json_int_t)p->on_root, "to-workers", (json_int_t)p->to_workers, "in-flight",
                (json_int_t)apr_atomic_read32(&p->inflight),
                "unidentified", (json_int_t)apr_atomic_read32(&p->unidentified), "bad-messages",
                (json_int_t)st.bad_message, "bad-requests", (json_int_t)st.bad_request, "dropped-requests",
                (json_int_t)st.drop_request, "rejected", (json_int_t)apr_atomic_read32(&p->rejected),
                "server-transactions", (json_int_t)st.server_tr, "outgoing-pending",
                (json_int_t)apr_atomic_read32(&p->outgoing), "unidentified-sources", jsrc);
            if (ep_list_has(p->set.transports, "tls"))
                json_object_set_new(jp, "tls-port", json_integer(p->set.tls_port));
            if (pc) {
                json_object_set_new(jp, "identify-order", json_list(pc->set.identify_order));
                json_object_set_new(jp, "unidentified-response",
                                    json_string(pc->set.unidentified_response ? "403" : "challenge"));
                json_object_set_new(jp, "endpoints", json_integer(pc->endpoint_list->nelts));
            }
            json_array_append_new(jprofiles, jp);
        } else {
            json_decref(jsrc);
            aorta_stream_printf(out, "%-12s %-8s %9" APR_UINT64_T_FMT " %9u %12u %8lu %8lu  %s\n", p->name, state,
                                requests, apr_atomic_read32(&p->inflight), apr_atomic_read32(&p->unidentified),
                                (unsigned long)(st.bad_message + st.bad_request), (unsigned long)st.drop_request,
                                profile_listen(pool, p));
            if (pc)
                aorta_stream_printf(out, "    identify-order %s, unidentified-response %s, %d endpoints\n",
                                    text_list(pool, pc->set.identify_order),
                                    pc->set.unidentified_response ? "403" : "challenge", pc->endpoint_list->nelts);
            aorta_stream_printf(out, "    bad messages dropped %lu, bad requests answered 400 %lu, rejected %u\n",
                                (unsigned long)st.bad_message, (unsigned long)st.bad_request,
                                apr_atomic_read32(&p->rejected));
            aorta_stream_printf(out, "    run on the SIP thread %" APR_UINT64_T_FMT ", handed to workers %" APR_UINT64_T_FMT "\n",
                                (apr_uint64_t)p->on_root, (apr_uint64_t)p->to_workers);
            if (*srctext)
                aorta_stream_printf(out, "    unidentified sources:\n%s", srctext);
        }
    }
    if (json)
        aorta_stream_json(
            out, json_pack("{s:o,s:I}", "profiles", jprofiles, "dialogs", (json_int_t)ep_dialogs_count(m->dialogs)));
    else
        aorta_stream_printf(out, "%d profile%s\n", m->profiles->nelts, m->profiles->nelts == 1 ? "" : "s");
    aorta_module_config_release(gen);
    return APR_SUCCESS;
}

static json_t *endpoint_json(const ep_endpoint_ext_t *e, const ep_profile_conf_t *pc, apr_pool_t *pool)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:o,s:o}", "name", e->pub.name, "profile", e->pub.profile, "context",
                          e->pub.context ? e->pub.context : "", "aors", json_list(e->pub.aors), "allow",
                          json_list(e->pub.allow));
    if (e->auth_name)
        json_object_set_new(j, "auth", json_string(e->auth_name));
    if (e->from_user)
        json_object_set_new(j, "from-user", json_string(e->from_user));
    if (e->from_domain)
        json_object_set_new(j, "from-domain", json_string(e->from_domain));
    if (e->transport)
        json_object_set_new(j, "transport", json_string(e->transport));
    if (e->outbound_proxy)
        json_object_set_new(j, "outbound-proxy", json_string(e->outbound_proxy));
    json_t *rules = json_array();
    const char *suffix = apr_pstrcat(pool, " -> ", e->pub.name, NULL);
    for (int i = 0; pc && i < pc->ip_rule_text->nelts; i++) {
        const char *r = APR_ARRAY_IDX(pc->ip_rule_text, i, const char *);
        apr_size_t lr = strlen(r), ls = strlen(suffix);
        if (lr > ls && !strcmp(r + lr - ls, suffix))
            json_array_append_new(rules, json_pack("{s:s}", "ip", apr_pstrmemdup(pool, r, lr - ls)));
    }
    for (int i = 0; pc && i < pc->header_rules->nelts; i++) {
        const ep_header_rule_t *r = &APR_ARRAY_IDX(pc->header_rules, i, ep_header_rule_t);
        if (r->endpoint == &e->pub)
            json_array_append_new(rules, json_pack("{s:s,s:s}", "header", r->header, "regex", r->regex));
    }
    json_object_set_new(j, "identify", rules);
    return j;
}

apr_status_t ep_cmd_show_endpoints(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    ep_mod_t *m = ep_g;
    int json = aorta_api_want_json(&args, pool);
    aorta_config_gen_t *gen;
    const ep_config_t *cfg = aorta_module_config_acquire(m->mod, &gen);
    apr_status_t st = APR_SUCCESS;
    const char *only = *args ? args : NULL;
    if (only && !apr_hash_get(cfg->endpoints, only, APR_HASH_KEY_STRING)) {
        aorta_stream_printf(out, "-ERR no such endpoint '%s'\n", only);
        aorta_module_config_release(gen);
        return AORTA_ENOTFOUND;
    }
    json_t *arr = json_array();
    if (!json && !only)
        aorta_stream_printf(out, "%-20s %-12s %-12s %-12s %-24s %s\n", "Name", "Profile", "Context", "Auth", "AORs",
                            "Allow");
    int count = 0;
    for (int i = 0; i < cfg->profiles->nelts; i++) {
        const ep_profile_conf_t *pc = APR_ARRAY_IDX(cfg->profiles, i, const ep_profile_conf_t *);
        for (int k = 0; k < pc->endpoint_list->nelts; k++) {
            const ep_endpoint_ext_t *e = APR_ARRAY_IDX(pc->endpoint_list, k, const ep_endpoint_ext_t *);
            if (only && strcmp(only, e->pub.name))
                continue;
            count++;
            if (json) {
                json_array_append_new(arr, endpoint_json(e, pc, pool));
            } else if (!only) {
                aorta_stream_printf(out, "%-20s %-12s %-12s %-12s %-24s %s\n", e->pub.name, e->pub.profile,
                                    e->pub.context ? e->pub.context : "", e->auth_name ? e->auth_name : "-",
                                    text_list(pool, e->pub.aors), text_list(pool, e->pub.allow));
            } else {
                json_t *j = endpoint_json(e, pc, pool);
                const char *key;
                json_t *v;
                json_object_foreach(j, key, v)
                {
                    char *text = json_is_string(v) ? apr_pstrdup(pool, json_string_value(v)) : NULL;
                    if (!text) {
                        char *dump = json_dumps(v, JSON_COMPACT);
                        text = apr_pstrdup(pool, dump ? dump : "");
                        free(dump);
                    }
                    aorta_stream_printf(out, "%-16s %s\n", key, text);
                }
                json_decref(j);
            }
        }
    }
    if (json) {
        aorta_stream_json(out, json_pack("{s:o}", "endpoints", arr));
    } else {
        json_decref(arr);
        if (!only)
            aorta_stream_printf(out, "%d endpoint%s\n", count, count == 1 ? "" : "s");
    }
    aorta_module_config_release(gen);
    return st;
}
