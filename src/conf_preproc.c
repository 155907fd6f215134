/*
 * conf_preproc.c — the FreeSWITCH pre-processor: X-PRE-PROCESS include/set and $${var}.
 *
 * The expansion is line-preserving: every line of the output comes from exactly one line
 * of one source file, and conf->origins records which, so that libxml2's line numbers and
 * every node can be mapped back to file:line. A tag is always cut out of its line; text
 * before it, the included files' lines, and text after it become separate output lines.
 * Comments are copied verbatim: a tag or $${var} inside <!-- --> is not processed.
 *
 * Variables passed in (predefined directories, --set) are fixed: `set` does not change them.
 */
#include "conf_internal.h"
#include <apr_file_io.h>
#include <apr_strings.h>
#include <glob.h>
#include <string.h>

#define CONF_MAX_DEPTH 16

typedef struct preproc {
    aorta_conf_t *conf;
    apr_table_t *fixed;
    aorta_conf_errors_t *errs;
    apr_pool_t *pool;
    char *out;       /* growing output */
    apr_size_t len, cap;
    int errors;
} preproc_t;

static void pp_append(preproc_t *pp, const char *s, apr_size_t n)
{
    if (pp->len + n + 1 > pp->cap) {
        apr_size_t cap = pp->cap ? pp->cap * 2 : 8192;
        while (cap < pp->len + n + 1)
            cap *= 2;
        char *d = apr_palloc(pp->pool, cap);
        if (pp->len)
            memcpy(d, pp->out, pp->len);
        pp->out = d;
        pp->cap = cap;
    }
    memcpy(pp->out + pp->len, s, n);
    pp->len += n;
    pp->out[pp->len] = '\0';
}

/* Emit one output line with its origin. */
static void pp_emit_line(preproc_t *pp, const char *text, apr_size_t n, const char *file, int line)
{
    pp_append(pp, text, n);
    pp_append(pp, "\n", 1);
    conf_origin_t *o = apr_array_push(pp->conf->origins);
    o->file = file;
    o->line = line;
}

static void pp_error(preproc_t *pp, const char *file, int line, const char *fmt, ...) AORTA_PRINTF(4, 5);
static void pp_error(preproc_t *pp, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = apr_pvsprintf(pp->pool, fmt, ap);
    va_end(ap);
    aorta_conf_errors_add(pp->errs, file, line, "%s", msg);
    pp->errors++;
}

static const char *pp_lookup(preproc_t *pp, const char *name)
{
    const char *v = apr_table_get(pp->fixed, name);
    return v ? v : apr_table_get(pp->conf->vars, name);
}

/* Replace $${name} in s[0..n) (no comments in it); unknown names are errors. */
static char *pp_substitute(preproc_t *pp, const char *s, apr_size_t n, const char *file, int line)
{
    aorta_stream_t *out = aorta_stream_create(pp->pool);
    apr_size_t i = 0;
    while (i < n) {
        const char *hit = NULL;
        for (apr_size_t j = i; j + 2 < n; j++) {
            if (s[j] == '$' && s[j + 1] == '$' && s[j + 2] == '{') {
                hit = s + j;
                break;
            }
        }
        if (!hit) {
            aorta_stream_write(out, s + i, n - i);
            break;
        }
        aorta_stream_write(out, s + i, (apr_size_t)(hit - (s + i)));
        const char *name = hit + 3;
        const char *end = memchr(name, '}', (apr_size_t)(s + n - name));
        if (!end) {
            pp_error(pp, file, line, "unterminated $${ in \"%.*s\"", (int)(n > 60 ? 60 : n), s);
            break;
        }
        char *var = apr_pstrndup(pp->pool, name, (apr_size_t)(end - name));
        const char *val = pp_lookup(pp, var);
        if (!val)
            pp_error(pp, file, line, "unknown variable $${%s}", var);
        else
            aorta_stream_puts(out, val);
        i = (apr_size_t)(end + 1 - s);
    }
    return (char *)aorta_stream_data(out, NULL);
}

/* Value of attribute @p name in the tag text, or NULL. */
static char *pp_tag_attr(apr_pool_t *pool, const char *tag, const char *name)
{
    apr_size_t nl = strlen(name);
    for (const char *p = tag; (p = strstr(p, name)) != NULL; p += nl) {
        if (p > tag && (p[-1] != ' ' && p[-1] != '\t'))
            continue;
        const char *q = p + nl;
        while (*q == ' ')
            q++;
        if (*q != '=')
            continue;
        q++;
        while (*q == ' ')
            q++;
        if (*q != '"' && *q != '\'')
            continue;
        char quote = *q++;
        const char *e = strchr(q, quote);
        if (!e)
            return NULL;
        return apr_pstrndup(pool, q, (apr_size_t)(e - q));
    }
    return NULL;
}

static void pp_file(preproc_t *pp, const char *path, int depth, const char *from_file, int from_line);

static int pp_has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

static void pp_include(preproc_t *pp, const char *pattern, const char *file, int line, int depth)
{
    const char *full = pattern;
    if (pattern[0] != '/') {
        char *dir = apr_pstrdup(pp->pool, file);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            dir = ".";
        full = apr_pstrcat(pp->pool, dir, "/", pattern, NULL);
    }
    glob_t g;
    int rc = glob(full, 0, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        /* A glob that matches nothing includes nothing (a directory of optional files);
         * a plain file name that does not exist is a mistake. */
        if (!pp_has_glob(pattern))
            pp_error(pp, file, line, "include \"%s\": no such file", pattern);
        return;
    }
    if (rc != 0) {
        pp_error(pp, file, line, "include \"%s\": cannot expand", pattern);
        return;
    }
    for (size_t i = 0; i < g.gl_pathc; i++)
        pp_file(pp, apr_pstrdup(pp->pool, g.gl_pathv[i]), depth + 1, file, line);
    globfree(&g);
}

static void pp_tag(preproc_t *pp, const char *tag, const char *file, int line, int depth)
{
    char *cmd = pp_tag_attr(pp->pool, tag, "cmd");
    char *data = pp_tag_attr(pp->pool, tag, "data");
    if (!cmd || !data) {
        pp_error(pp, file, line, "X-PRE-PROCESS needs cmd and data attributes");
        return;
    }
    data = pp_substitute(pp, data, strlen(data), file, line);
    if (strcasecmp(cmd, "include") == 0) {
        pp_include(pp, data, file, line, depth);
    } else if (strcasecmp(cmd, "set") == 0) {
        char *eq = strchr(data, '=');
        if (!eq || eq == data) {
            pp_error(pp, file, line, "X-PRE-PROCESS set needs data=\"name=value\"");
            return;
        }
        *eq = '\0';
        char *name = aorta_trim(data);
        char *value = aorta_trim(eq + 1);
        if (!apr_table_get(pp->fixed, name))
            apr_table_set(pp->conf->vars, name, value);
    } else {
        pp_error(pp, file, line, "unsupported X-PRE-PROCESS cmd \"%s\" (include and set are supported)", cmd);
    }
}

/* Process one physical line; *in_comment carries comment state across lines. */
static void pp_line(preproc_t *pp, const char *s, apr_size_t n, const char *file, int line, int depth,
                    int *in_comment)
{
    aorta_stream_t *cur = aorta_stream_create(pp->pool);
    apr_size_t i = 0;
    while (i < n) {
        if (*in_comment) {
            const char *end = NULL;
            for (apr_size_t j = i; j + 2 < n; j++)
                if (s[j] == '-' && s[j + 1] == '-' && s[j + 2] == '>') {
                    end = s + j;
                    break;
                }
            if (!end) {
                aorta_stream_write(cur, s + i, n - i);
                i = n;
            } else {
                apr_size_t stop = (apr_size_t)(end - s) + 3;
                aorta_stream_write(cur, s + i, stop - i);
                i = stop;
                *in_comment = 0;
            }
            continue;
        }
        /* the earliest of "<!--" and "<X-PRE-PROCESS" */
        apr_size_t j = i;
        int kind = 0;
        for (; j < n; j++) {
            if (s[j] != '<')
                continue;
            if (n - j >= 4 && memcmp(s + j, "<!--", 4) == 0) {
                kind = 1;
                break;
            }
            if (n - j >= 14 && strncasecmp(s + j, "<X-PRE-PROCESS", 14) == 0) {
                kind = 2;
                break;
            }
        }
        char *plain = pp_substitute(pp, s + i, j - i, file, line);
        aorta_stream_puts(cur, plain);
        if (kind == 0)
            break;
        if (kind == 1) {
            aorta_stream_write(cur, "<!--", 4);
            i = j + 4;
            *in_comment = 1;
            continue;
        }
        /* an X-PRE-PROCESS tag: must end on this line */
        const char *close = memchr(s + j, '>', n - j);
        if (!close) {
            pp_error(pp, file, line, "X-PRE-PROCESS tag must end on the line where it starts");
            break;
        }
        char *tag = apr_pstrndup(pp->pool, s + j, (apr_size_t)(close - (s + j)) + 1);
        apr_size_t curlen;
        const char *curtext = aorta_stream_data(cur, &curlen);
        int blank = 1;
        for (apr_size_t k = 0; k < curlen; k++)
            if (curtext[k] != ' ' && curtext[k] != '\t' && curtext[k] != '\r')
                blank = 0;
        if (!blank)
            pp_emit_line(pp, curtext, curlen, file, line);
        else
            pp_emit_line(pp, "", 0, file, line); /* keep one output line per tag line */
        aorta_stream_reset(cur);
        pp_tag(pp, tag, file, line, depth);
        i = (apr_size_t)(close - s) + 1;
    }
    apr_size_t curlen;
    const char *curtext = aorta_stream_data(cur, &curlen);
    if (curlen || i >= n)
        pp_emit_line(pp, curtext, curlen, file, line);
}

static void pp_file(preproc_t *pp, const char *path, int depth, const char *from_file, int from_line)
{
    if (depth > CONF_MAX_DEPTH) {
        pp_error(pp, from_file, from_line, "include \"%s\": nested deeper than %d files (a loop?)", path,
                 CONF_MAX_DEPTH);
        return;
    }
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t st = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, pp->pool);
    if (st == APR_SUCCESS)
        st = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (st != APR_SUCCESS) {
        char buf[128];
        if (from_file)
            pp_error(pp, from_file, from_line, "include \"%s\": %s", path, apr_strerror(st, buf, sizeof buf));
        else
            pp_error(pp, path, 0, "cannot read: %s", apr_strerror(st, buf, sizeof buf));
        return;
    }
    apr_size_t size = (apr_size_t)fi.size;
    char *text = apr_palloc(pp->pool, size + 1);
    apr_size_t got = size;
    if (size)
        apr_file_read_full(f, text, size, &got);
    apr_file_close(f);
    text[got] = '\0';
    const char *file = apr_pstrdup(pp->conf->pool, path);

    int in_comment = 0;
    int line = 0;
    const char *p = text;
    const char *end = text + got;
    /* An included file's own XML declaration would be a syntax error mid-document. */
    int skip_decl = depth > 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (apr_size_t)(end - p));
        apr_size_t n = nl ? (apr_size_t)(nl - p) : (apr_size_t)(end - p);
        line++;
        if (n && p[n - 1] == '\r')
            n--;
        if (skip_decl && line == 1 && n >= 5 && memcmp(p, "<?xml", 5) == 0) {
            pp_emit_line(pp, "", 0, file, line);
        } else {
            pp_line(pp, p, n, file, line, depth, &in_comment);
        }
        p = nl ? nl + 1 : end;
    }
}

apr_status_t conf_preprocess(aorta_conf_t *conf, apr_table_t *fixed_vars, aorta_conf_errors_t *errs)
{
    preproc_t pp = {.conf = conf, .errs = errs, .pool = conf->pool};
    pp.fixed = fixed_vars ? fixed_vars : apr_table_make(conf->pool, 1);
    conf->origins = apr_array_make(conf->pool, 256, sizeof(conf_origin_t));
    conf->vars = apr_table_make(conf->pool, 32);
    pp_file(&pp, conf->root_file, 0, NULL, 0);
    /* the fixed variables are visible through aorta_conf_var() as well */
    const apr_array_header_t *arr = apr_table_elts(pp.fixed);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    for (int i = 0; i < arr->nelts; i++)
        apr_table_set(conf->vars, e[i].key, e[i].val);
    conf->text = pp.out ? pp.out : "";
    return pp.errors ? AORTA_ECONFIG : APR_SUCCESS;
}

apr_status_t aorta_conf_preprocess(const char *root_file, apr_table_t *vars, apr_pool_t *pool,
                                   aorta_conf_errors_t *errs, const char **text)
{
    aorta_conf_t *conf = apr_pcalloc(pool, sizeof *conf);
    conf->pool = pool;
    conf->root_file = apr_pstrdup(pool, root_file);
    apr_status_t st = conf_preprocess(conf, vars, errs);
    *text = conf->text;
    return st;
}
