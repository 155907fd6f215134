/*
 * dp_xml.c — the XML dialplan: <section name="dialplan"> parsed once per configuration
 * generation (regular expressions compiled and JIT-compiled there, so a call never compiles
 * anything), and the hunt through a context with FreeSWITCH's mod_dialplan_xml semantics:
 *
 *   - extensions are tried in order; an extension matched when its last evaluated condition
 *     was true; the hunt stops at the first matched extension unless it has continue="true";
 *   - conditions of an extension are ANDed: a false condition queues its anti-actions and,
 *     with break="on-false" (the default) or "always", ends that extension; break="on-true"
 *     ends it after a true one; "never" goes on either way;
 *   - a true condition queues its actions with $0..$9 replaced by its captures; ${...} is
 *     expanded later, when the action runs (so `set` affects the actions after it), except
 *     for inline="true" set actions, which run while hunting.
 *
 * pcre2 match data is per evaluation (patterns are shared read-only by all threads).
 */
#include "dp_internal.h"
#include <apr_strings.h>
#include <string.h>

static apr_status_t code_free(void *data)
{
    pcre2_code_free(data);
    return APR_SUCCESS;
}

static const char *where(const aorta_conf_t *conf, const xmlNode *node, apr_pool_t *pool)
{
    const char *file;
    int line;
    aorta_conf_where(conf, node, &file, &line);
    return apr_psprintf(pool, "%s:%d", file ? file : "?", line);
}

/* FreeSWITCH has more attributes (time-of-day, regex="any"...); silently ignoring one would
 * route calls differently than its author expects, so anything unknown is an error. */
static void check_attrs(const aorta_conf_t *conf, const xmlNode *node, const char *const *allowed,
                        aorta_conf_errors_t *errs)
{
    for (const xmlAttr *a = node->properties; a; a = a->next) {
        const char *const *ok = allowed;
        while (*ok && strcmp(*ok, (const char *)a->name))
            ok++;
        if (!*ok)
            aorta_conf_error(errs, conf, node, "<%s %s=...> is not supported (docs/dialplan.md)", aorta_xml_name(node),
                             (const char *)a->name);
    }
}

static const char *const action_attrs[] = {"application", "data", "inline", NULL};
static const char *const condition_attrs[] = {"field", "expression", "break", NULL};
static const char *const extension_attrs[] = {"name", "continue", NULL};
static const char *const context_attrs[] = {"name", NULL};

static int parse_break(const char *s, dp_break_t *out)
{
    static const char *const names[] = {"on-false", "on-true", "always", "never"};
    if (!s) {
        *out = DP_BREAK_ON_FALSE;
        return 0;
    }
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *out = (dp_break_t)i;
            return 0;
        }
    return -1;
}

static void parse_action(const aorta_conf_t *conf, xmlNode *an, apr_pool_t *pool, aorta_conf_errors_t *errs,
                         apr_array_header_t *into)
{
    const char *appname = aorta_xml_attr(an, "application");
    const char *data = aorta_xml_attr(an, "data");
    const char *inl = aorta_xml_attr(an, "inline");
    const char *err;
    dp_action_t *a = apr_pcalloc(pool, sizeof *a);
    a->where = where(conf, an, pool);
    check_attrs(conf, an, action_attrs, errs);
    a->data = apr_pstrdup(pool, data ? data : "");
    if (!appname || !*appname) {
        aorta_conf_error(errs, conf, an, "<%s> without application=", aorta_xml_name(an));
        return;
    }
    a->app = dp_app_find(appname);
    if (!a->app) {
        aorta_conf_error(errs, conf, an, "unknown application '%s' (bridge, respond, hangup, set, log)", appname);
        return;
    }
    if (inl && aorta_parse_bool(inl, &a->is_inline) != APR_SUCCESS) {
        aorta_conf_error(errs, conf, an, "inline=\"%s\" is not a boolean", inl);
        return;
    }
    if (a->is_inline && strcmp(appname, "set")) {
        aorta_conf_error(errs, conf, an, "inline=\"true\" is supported for set only, not '%s'", appname);
        return;
    }
    if (dp_expand_check(a->data, pool, &err) != APR_SUCCESS) {
        aorta_conf_error(errs, conf, an, "%s data \"%s\": %s", appname, a->data, err);
        return;
    }
    /* literal data can be checked now; data with $ is known only when the call runs */
    if (a->app->check && !strchr(a->data, '$') && (err = a->app->check(a->data, pool)) != NULL) {
        aorta_conf_error(errs, conf, an, "%s data \"%s\": %s", appname, a->data, err);
        return;
    }
    APR_ARRAY_PUSH(into, dp_action_t *) = a;
}

static void parse_condition(const aorta_conf_t *conf, xmlNode *cn, apr_pool_t *pool, aorta_conf_errors_t *errs,
                            dp_extension_t *ext)
{
    dp_condition_t *c = apr_pcalloc(pool, sizeof *c);
    const char *field = aorta_xml_attr(cn, "field"), *expr = aorta_xml_attr(cn, "expression");
    const char *brk = aorta_xml_attr(cn, "break"), *err;
    c->where = where(conf, cn, pool);
    c->actions = apr_array_make(pool, 2, sizeof(dp_action_t *));
    c->anti_actions = apr_array_make(pool, 0, sizeof(dp_action_t *));
    check_attrs(conf, cn, condition_attrs, errs);
    if (parse_break(brk, &c->brk))
        aorta_conf_error(errs, conf, cn, "break=\"%s\": on-false, on-true, always or never expected", brk);
    if (field && !expr)
        aorta_conf_error(errs, conf, cn, "condition field=\"%s\" without expression=", field);
    else if (expr && !field)
        aorta_conf_error(errs, conf, cn, "condition expression=\"%s\" without field=", expr);
    else if (field) {
        int code;
        PCRE2_SIZE off;
        c->field = apr_pstrdup(pool, field);
        c->expression = apr_pstrdup(pool, expr);
        if (dp_expand_check(c->field, pool, &err) != APR_SUCCESS)
            aorta_conf_error(errs, conf, cn, "field \"%s\": %s", field, err);
        c->re = pcre2_compile((PCRE2_SPTR)expr, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
        if (!c->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            aorta_conf_error(errs, conf, cn, "expression \"%s\": %s at offset %lu", expr, (const char *)msg,
                             (unsigned long)off);
        } else {
            apr_pool_cleanup_register(pool, c->re, code_free, apr_pool_cleanup_null);
            pcre2_jit_compile(c->re, PCRE2_JIT_COMPLETE); /* without JIT pcre2 interprets: slower, same result */
        }
    }
    for (xmlNode *an = aorta_xml_child(cn, NULL); an; an = aorta_xml_next(an, NULL)) {
        if (!strcmp(aorta_xml_name(an), "action"))
            parse_action(conf, an, pool, errs, c->actions);
        else if (!strcmp(aorta_xml_name(an), "anti-action"))
            parse_action(conf, an, pool, errs, c->anti_actions);
        else
            aorta_conf_error(errs, conf, an, "unexpected <%s> in <condition> (action, anti-action)",
                             aorta_xml_name(an));
    }
    APR_ARRAY_PUSH(ext->conditions, dp_condition_t *) = c;
}

apr_status_t dp_conf_parse(const aorta_conf_t *conf, apr_pool_t *pool, aorta_conf_errors_t *errs, dp_conf_t **out)
{
    int nerr = aorta_conf_errors_count(errs);
    dp_conf_t *dc = apr_pcalloc(pool, sizeof *dc);
    dc->contexts = apr_hash_make(pool);
    xmlNode *sec = aorta_conf_section(conf, "dialplan");
    for (xmlNode *cx = sec ? aorta_xml_child(sec, NULL) : NULL; cx; cx = aorta_xml_next(cx, NULL)) {
        if (strcmp(aorta_xml_name(cx), "context")) {
            aorta_conf_error(errs, conf, cx, "unexpected <%s> in the dialplan section (<context> expected)",
                             aorta_xml_name(cx));
            continue;
        }
        const char *name = aorta_xml_attr(cx, "name");
        check_attrs(conf, cx, context_attrs, errs);
        if (!name || !*name) {
            aorta_conf_error(errs, conf, cx, "<context> without name=");
            continue;
        }
        dp_context_t *ctx = apr_hash_get(dc->contexts, name, APR_HASH_KEY_STRING);
        if (!ctx) {
            ctx = apr_pcalloc(pool, sizeof *ctx);
            ctx->name = apr_pstrdup(pool, name);
            ctx->extensions = apr_array_make(pool, 8, sizeof(dp_extension_t *));
            apr_hash_set(dc->contexts, ctx->name, APR_HASH_KEY_STRING, ctx);
        }
        for (xmlNode *xn = aorta_xml_child(cx, NULL); xn; xn = aorta_xml_next(xn, NULL)) {
            if (strcmp(aorta_xml_name(xn), "extension")) {
                aorta_conf_error(errs, conf, xn, "unexpected <%s> in <context> (<extension> expected)",
                                 aorta_xml_name(xn));
                continue;
            }
            dp_extension_t *ext = apr_pcalloc(pool, sizeof *ext);
            const char *en = aorta_xml_attr(xn, "name"), *cont = aorta_xml_attr(xn, "continue");
            ext->name = apr_pstrdup(pool, en && *en ? en : "(unnamed)");
            ext->where = where(conf, xn, pool);
            check_attrs(conf, xn, extension_attrs, errs);
            ext->conditions = apr_array_make(pool, 2, sizeof(dp_condition_t *));
            if (cont && aorta_parse_bool(cont, &ext->is_continue) != APR_SUCCESS)
                aorta_conf_error(errs, conf, xn, "continue=\"%s\" is not a boolean", cont);
            for (xmlNode *cn = aorta_xml_child(xn, NULL); cn; cn = aorta_xml_next(cn, NULL)) {
                if (strcmp(aorta_xml_name(cn), "condition"))
                    aorta_conf_error(errs, conf, cn, "unexpected <%s> in <extension> (<condition> expected)",
                                     aorta_xml_name(cn));
                else
                    parse_condition(conf, cn, pool, errs, ext);
            }
            APR_ARRAY_PUSH(ctx->extensions, dp_extension_t *) = ext;
            dc->nextensions++;
        }
    }
    *out = dc;
    return aorta_conf_errors_count(errs) > nerr ? AORTA_ECONFIG : APR_SUCCESS;
}

/* ---- hunting ----------------------------------------------------------------------------- */

#define DP_MAX_CAPTURES 10

/* Evaluate one condition; fills caps[0..*ncaps) on a match. */
static int evaluate(const dp_condition_t *c, apr_table_t *vars, apr_pool_t *pool, const char **value, const char **caps,
                    int *ncaps)
{
    *ncaps = 0;
    *value = NULL;
    if (!c->field)
        return 1;
    const char *v, *err;
    if (strstr(c->field, "${")) {
        if (dp_expand(c->field, vars, pool, &v, &err) != APR_SUCCESS) {
            aorta_log(AORTA_LOG_ERR, "dialplan %s: field %s: %s", c->where, c->field, err);
            return 0;
        }
    } else {
        v = apr_table_get(vars, c->field);
    }
    *value = v = v ? v : "";
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c->re, NULL);
    int rc = pcre2_match(c->re, (PCRE2_SPTR)v, strlen(v), 0, 0, md, NULL);
    if (rc > 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        *ncaps = rc < DP_MAX_CAPTURES ? rc : DP_MAX_CAPTURES;
        for (int i = 0; i < *ncaps; i++)
            caps[i] = ov[2 * i] == PCRE2_UNSET ? NULL : apr_pstrndup(pool, v + ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
    } else if (rc != PCRE2_ERROR_NOMATCH) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        aorta_log(AORTA_LOG_ERR, "dialplan %s: matching \"%s\" failed: %s", c->where, v, (const char *)msg);
    }
    pcre2_match_data_free(md);
    return rc > 0;
}

static void queue_actions(const apr_array_header_t *actions, const dp_extension_t *ext, int anti, const char **caps,
                          int ncaps, apr_table_t *vars, apr_pool_t *pool, apr_array_header_t *steps)
{
    for (int i = 0; i < actions->nelts; i++) {
        const dp_action_t *a = APR_ARRAY_IDX(actions, i, dp_action_t *);
        const char *data = dp_expand_captures(a->data, caps, ncaps, pool);
        if (a->is_inline) {
            dp_set_apply(vars, data, pool);
            continue;
        }
        dp_step_t *s = apr_array_push(steps);
        s->action = a;
        s->data = data;
        s->extension = ext->name;
        s->anti = anti;
    }
}

apr_status_t dp_hunt(const dp_conf_t *conf, const char *context, apr_table_t *vars, apr_pool_t *pool, dp_trace_fn trace,
                     void *tu, apr_array_header_t **steps, apr_array_header_t **matched)
{
    const dp_context_t *ctx = apr_hash_get(conf->contexts, context, APR_HASH_KEY_STRING);
    *steps = apr_array_make(pool, 4, sizeof(dp_step_t));
    *matched = apr_array_make(pool, 1, sizeof(const char *));
    if (!ctx)
        return AORTA_ENOTFOUND;
    for (int e = 0; e < ctx->extensions->nelts; e++) {
        const dp_extension_t *ext = APR_ARRAY_IDX(ctx->extensions, e, dp_extension_t *);
        int proceed = 0;
        for (int i = 0; i < ext->conditions->nelts; i++) {
            const dp_condition_t *c = APR_ARRAY_IDX(ext->conditions, i, dp_condition_t *);
            const char *caps[DP_MAX_CAPTURES], *value;
            int ncaps;
            proceed = evaluate(c, vars, pool, &value, caps, &ncaps);
            if (trace) {
                if (c->field)
                    trace(tu, "condition %s (%s): %s \"%s\" =~ /%s/ %s", ext->name, c->where, c->field, value,
                          c->expression, proceed ? "match" : "no match");
                else
                    trace(tu, "condition %s (%s): always", ext->name, c->where);
            }
            if (proceed) {
                queue_actions(c->actions, ext, 0, caps, ncaps, vars, pool, *steps);
                if (c->brk == DP_BREAK_ON_TRUE || c->brk == DP_BREAK_ALWAYS)
                    break;
            } else {
                queue_actions(c->anti_actions, ext, 1, NULL, 0, vars, pool, *steps);
                if (c->brk == DP_BREAK_ON_FALSE || c->brk == DP_BREAK_ALWAYS)
                    break;
            }
        }
        if (proceed) {
            APR_ARRAY_PUSH(*matched, const char *) = ext->name;
            if (!ext->is_continue)
                break;
        }
    }
    return APR_SUCCESS;
}
