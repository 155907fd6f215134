/*
 * settings.c — declarative settings tables: defaults, conversion, validation, reference.
 *
 * A module describes its parameters once (aorta_setting_t rows); the same table fills its
 * configuration struct, rejects unknown or malformed params with file:line, and generates
 * the Markdown reference in docs/.
 */
#include "conf_internal.h"
#include <apr_strings.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

apr_status_t aorta_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1", "enabled"};
    static const char *const no[] = {"false", "no", "off", "0", "disabled"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return APR_SUCCESS;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return APR_SUCCESS;
        }
    }
    return APR_EINVAL;
}

static apr_array_header_t *settings_split_list(const char *value, apr_pool_t *pool)
{
    apr_array_header_t *arr = apr_array_make(pool, 4, sizeof(const char *));
    char *copy = apr_pstrdup(pool, value);
    char *state;
    for (char *tok = apr_strtok(copy, ",", &state); tok; tok = apr_strtok(NULL, ",", &state)) {
        tok = aorta_trim(tok);
        if (*tok)
            *(const char **)apr_array_push(arr) = tok;
    }
    return arr;
}

/* Convert @p value for @p s into target; NULL on success or an error message. */
static const char *settings_convert(const aorta_setting_t *s, const char *value, void *target, apr_pool_t *pool,
                                    int from_default)
{
    char *field = (char *)target + s->offset;
    switch (s->type) {
    case AORTA_SETTING_STRING:
        *(const char **)field = apr_pstrdup(pool, value);
        break;
    case AORTA_SETTING_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (!*value || *end || errno)
            return apr_psprintf(pool, "\"%s\" is not a whole number", value);
        if ((s->min || s->max) && (v < s->min || v > s->max))
            return apr_psprintf(pool, "%ld is out of range [%ld, %ld]", v, s->min, s->max);
        *(int *)field = (int)v;
        break;
    }
    case AORTA_SETTING_BOOL:
        if (aorta_parse_bool(value, (int *)field) != APR_SUCCESS)
            return apr_psprintf(pool, "\"%s\" is not a boolean (true/false)", value);
        break;
    case AORTA_SETTING_ENUM: {
        char *choices = apr_pstrdup(pool, s->choices ? s->choices : "");
        char *state;
        int idx = 0;
        for (char *tok = apr_strtok(choices, "|", &state); tok; tok = apr_strtok(NULL, "|", &state), idx++) {
            if (strcasecmp(tok, value) == 0) {
                *(int *)field = idx;
                return NULL;
            }
        }
        return apr_psprintf(pool, "\"%s\" is not one of %s", value, s->choices);
    }
    case AORTA_SETTING_LIST:
        *(apr_array_header_t **)field = settings_split_list(value, pool);
        break;
    case AORTA_SETTING_MULTI: {
        apr_array_header_t **arr = (apr_array_header_t **)field;
        if (!*arr || from_default)
            *arr = apr_array_make(pool, 2, sizeof(const char *));
        *(const char **)apr_array_push(*arr) = apr_pstrdup(pool, value);
        break;
    }
    }
    if (s->validate)
        return s->validate(s, value, pool);
    return NULL;
}

static void settings_zero(const aorta_setting_t *s, void *target, apr_pool_t *pool)
{
    char *field = (char *)target + s->offset;
    switch (s->type) {
    case AORTA_SETTING_STRING:
        *(const char **)field = NULL;
        break;
    case AORTA_SETTING_INT:
    case AORTA_SETTING_BOOL:
    case AORTA_SETTING_ENUM:
        *(int *)field = 0;
        break;
    case AORTA_SETTING_LIST:
    case AORTA_SETTING_MULTI:
        *(apr_array_header_t **)field = apr_array_make(pool, 1, sizeof(const char *));
        break;
    }
}

apr_status_t aorta_settings_apply(const aorta_setting_t *table, void *target, const aorta_conf_t *conf,
                                  const xmlNode *parent, apr_pool_t *pool, aorta_conf_errors_t *errs)
{
    int before = aorta_conf_errors_count(errs);
    int nrows = 0;
    for (const aorta_setting_t *s = table; s->name; s++, nrows++) {
        settings_zero(s, target, pool);
        if (s->def) {
            const char *msg = settings_convert(s, s->def, target, pool, 1);
            if (msg)
                aorta_conf_errors_add(errs, "(built-in default)", 0, "%s: %s", s->name, msg);
        }
    }
    /* MULTI params replace their default on first use, then accumulate */
    char *seen = apr_pcalloc(pool, (apr_size_t)nrows + 1);

    for (xmlNode *p = aorta_xml_child(parent, NULL); p; p = aorta_xml_next(p, NULL)) {
        if (xmlStrcmp(p->name, BAD_CAST "param") != 0) {
            aorta_conf_error(errs, conf, p, "unexpected <%s> (only <param name=\"\" value=\"\"/> belongs here)",
                             (const char *)p->name);
            continue;
        }
        const char *name = aorta_xml_attr(p, "name");
        const char *value = aorta_xml_attr(p, "value");
        if (!name || !value) {
            aorta_conf_error(errs, conf, p, "<param> needs both name and value");
            continue;
        }
        const aorta_setting_t *s = table;
        int idx = 0;
        while (s->name && strcasecmp(s->name, name) != 0)
            s++, idx++;
        if (!s->name) {
            aorta_conf_error(errs, conf, p, "unknown parameter \"%s\"", name);
            continue;
        }
        const char *msg = settings_convert(s, value, target, pool, s->type == AORTA_SETTING_MULTI && !seen[idx]);
        seen[idx] = 1;
        if (msg)
            aorta_conf_error(errs, conf, p, "%s: %s", name, msg);
    }
    return aorta_conf_errors_count(errs) > before ? AORTA_ECONFIG : APR_SUCCESS;
}

void aorta_settings_document(const aorta_setting_t *table, aorta_stream_t *out)
{
    aorta_settings_document_ex(table, out, "module reload");
}

void aorta_settings_document_ex(const aorta_setting_t *table, aorta_stream_t *out, const char *fixed)
{
    static const char *const types[] = {"string", "integer", "boolean", "one of", "comma list", "repeatable"};
    aorta_stream_puts(out, "| param | type | default | reload | description |\n|---|---|---|---|---|\n");
    for (const aorta_setting_t *s = table; s->name; s++) {
        aorta_stream_printf(out, "| `%s` | %s", s->name, types[s->type]);
        if (s->type == AORTA_SETTING_ENUM && s->choices) {
            /* a bare | would split the Markdown cell */
            aorta_stream_puts(out, " `");
            for (const char *c = s->choices; *c; c++)
                aorta_stream_puts(out, *c == '|' ? "\\|" : (char[]){*c, '\0'});
            aorta_stream_puts(out, "`");
        }
        if (s->type == AORTA_SETTING_INT && (s->min || s->max))
            aorta_stream_printf(out, " %ld–%ld", s->min, s->max);
        aorta_stream_printf(out, " | %s%s%s | %s | %s |\n", s->def && *s->def ? "`" : "",
                            s->def && *s->def ? s->def : "—", s->def && *s->def ? "`" : "",
                            s->reloadable ? "reloadxml" : fixed, s->doc ? s->doc : "");
    }
}
