/*
 * dp_expand.c — ${var} / ${api(args)} expansion and $N capture substitution (dp_expand.h).
 *
 * One recursive scanner serves both the syntax check done at configure time and the real
 * expansion at call time, so what passed the check cannot fail later except by nesting
 * (which the check also bounds). API commands run through the core's dispatcher on the
 * calling thread (a worker for INVITEs), with the caller's pool.
 */
#include "dp_expand.h"
#include <aorta/aorta.h>
#include <apr_strings.h>
#include <ctype.h>
#include <string.h>

typedef struct expander {
    const apr_table_t *vars;
    apr_pool_t *pool;
    int check_only;
    const char *err;
} expander_t;

static int is_api_name(const char *s, apr_size_t n)
{
    if (!n)
        return 0;
    for (apr_size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return 0;
    return 1;
}

static const char *run_api(expander_t *x, const char *name, const char *args)
{
    aorta_stream_t *out = aorta_stream_create(x->pool);
    const char *cmd = *args ? apr_pstrcat(x->pool, name, " ", args, NULL) : name;
    apr_status_t st = aorta_api_execute(cmd, out, x->pool);
    apr_size_t len;
    const char *data = aorta_stream_data(out, &len);
    while (len && isspace((unsigned char)data[len - 1]))
        len--;
    if (st != APR_SUCCESS)
        aorta_log(AORTA_LOG_WARNING, "dialplan: ${%s(%s)} failed: %.*s\n", name, args, (int)len, data);
    return apr_pstrndup(x->pool, data, len);
}

static int expand_into(expander_t *x, const char *s, apr_size_t len, apr_size_t base, int depth, aorta_stream_t *out);

/* Expand s[0..len) into a new string (in x->pool). */
static const char *expand_sub(expander_t *x, const char *s, apr_size_t len, apr_size_t base, int depth)
{
    aorta_stream_t *sub = aorta_stream_create(x->pool);
    if (expand_into(x, s, len, base, depth, sub))
        return NULL;
    return apr_pstrdup(x->pool, aorta_stream_data(sub, NULL));
}

static int expand_into(expander_t *x, const char *s, apr_size_t len, apr_size_t base, int depth, aorta_stream_t *out)
{
    if (depth > DP_EXPAND_MAX_DEPTH) {
        x->err =
            apr_psprintf(x->pool, "offset %lu: ${...} nested deeper than %d", (unsigned long)base, DP_EXPAND_MAX_DEPTH);
        return -1;
    }
    apr_size_t i = 0, lit = 0;
    while (i < len) {
        if (s[i] == '\\' && i + 1 < len && s[i + 1] == '$') {
            aorta_stream_write(out, s + lit, i - lit);
            aorta_stream_write(out, "$", 1);
            i += 2;
            lit = i;
            continue;
        }
        if (s[i] != '$' || i + 1 >= len || s[i + 1] != '{') {
            i++;
            continue;
        }
        aorta_stream_write(out, s + lit, i - lit);
        apr_size_t j = i + 2;
        int braces = 1;
        while (j < len) {
            if (s[j] == '\\' && j + 1 < len) {
                j += 2;
                continue;
            }
            if (s[j] == '{')
                braces++;
            else if (s[j] == '}' && --braces == 0)
                break;
            j++;
        }
        if (j >= len) {
            x->err =
                apr_psprintf(x->pool, "offset %lu: unterminated '${' (no matching '}')", (unsigned long)(base + i));
            return -1;
        }
        const char *in = s + i + 2;
        apr_size_t n = j - i - 2;
        const char *paren = memchr(in, '(', n);
        if (paren && n >= 2 && in[n - 1] == ')' && is_api_name(in, (apr_size_t)(paren - in))) {
            const char *name = apr_pstrndup(x->pool, in, (apr_size_t)(paren - in));
            apr_size_t aoff = (apr_size_t)(paren + 1 - s);
            const char *args = expand_sub(x, paren + 1, n - (apr_size_t)(paren - in) - 2, base + aoff, depth + 1);
            if (!args)
                return -1;
            if (!x->check_only)
                aorta_stream_puts(out, run_api(x, name, args));
        } else {
            const char *name = expand_sub(x, in, n, base + i + 2, depth + 1);
            if (!name)
                return -1;
            const char *v = x->vars ? apr_table_get(x->vars, name) : NULL;
            if (v && !x->check_only)
                aorta_stream_puts(out, v);
        }
        i = j + 1;
        lit = i;
    }
    aorta_stream_write(out, s + lit, len - lit);
    return 0;
}

apr_status_t dp_expand(const char *in, const apr_table_t *vars, apr_pool_t *pool, const char **out, const char **err)
{
    expander_t x = {vars, pool, 0, NULL};
    *err = NULL;
    if (!strstr(in, "${") && !strstr(in, "\\$")) { /* the common case: nothing to do */
        *out = in;
        return APR_SUCCESS;
    }
    *out = expand_sub(&x, in, strlen(in), 0, 0);
    if (!*out) {
        *err = x.err;
        return AORTA_ESYNTAX;
    }
    return APR_SUCCESS;
}

apr_status_t dp_expand_check(const char *in, apr_pool_t *pool, const char **err)
{
    expander_t x = {NULL, pool, 1, NULL};
    *err = NULL;
    if (!expand_sub(&x, in, strlen(in), 0, 0)) {
        *err = x.err;
        return AORTA_ESYNTAX;
    }
    return APR_SUCCESS;
}

const char *dp_expand_captures(const char *in, const char *const *caps, int ncaps, apr_pool_t *pool)
{
    if (!strchr(in, '$'))
        return in;
    aorta_stream_t *out = aorta_stream_create(pool);
    const char *lit = in, *p = in;
    while (*p) {
        if (p[0] == '\\' && p[1] == '$') { /* kept for dp_expand, which turns it into '$' */
            p += 2;
            continue;
        }
        if (p[0] == '$' && isdigit((unsigned char)p[1])) {
            int i = p[1] - '0';
            aorta_stream_write(out, lit, (apr_size_t)(p - lit));
            if (i < ncaps && caps[i])
                aorta_stream_puts(out, caps[i]);
            p += 2;
            lit = p;
            continue;
        }
        p++;
    }
    aorta_stream_puts(out, lit);
    return apr_pstrdup(pool, aorta_stream_data(out, NULL));
}
