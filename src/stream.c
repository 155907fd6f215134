/*
 * stream.c — growable output buffers for API commands.
 *
 * The buffer lives in the stream's pool and doubles when full; old buffers stay in the
 * pool until it is cleared (API calls run on short-lived pools, so that is cheap).
 */
#include "core_internal.h"
#include <apr_strings.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

struct aorta_stream {
    apr_pool_t *pool;
    char *data;
    apr_size_t len;
    apr_size_t cap;
};

aorta_stream_t *aorta_stream_create(apr_pool_t *pool)
{
    aorta_stream_t *s = apr_pcalloc(pool, sizeof *s);
    s->pool = pool;
    s->cap = 256;
    s->data = apr_palloc(pool, s->cap);
    s->data[0] = '\0';
    return s;
}

static void stream_reserve(aorta_stream_t *s, apr_size_t more)
{
    if (s->len + more + 1 <= s->cap)
        return;
    apr_size_t cap = s->cap * 2;
    while (cap < s->len + more + 1)
        cap *= 2;
    char *d = apr_palloc(s->pool, cap);
    memcpy(d, s->data, s->len + 1);
    s->data = d;
    s->cap = cap;
}

void aorta_stream_write(aorta_stream_t *s, const char *data, apr_size_t len)
{
    stream_reserve(s, len);
    memcpy(s->data + s->len, data, len);
    s->len += len;
    s->data[s->len] = '\0';
}

void aorta_stream_puts(aorta_stream_t *s, const char *str)
{
    aorta_stream_write(s, str, strlen(str));
}

void aorta_stream_vprintf(aorta_stream_t *s, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(s->data + s->len, s->cap - s->len, fmt, cp);
    va_end(cp);
    if (n < 0)
        return;
    if ((apr_size_t)n >= s->cap - s->len) {
        stream_reserve(s, (apr_size_t)n);
        vsnprintf(s->data + s->len, s->cap - s->len, fmt, ap);
    }
    s->len += (apr_size_t)n;
}

void aorta_stream_printf(aorta_stream_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    aorta_stream_vprintf(s, fmt, ap);
    va_end(ap);
}

const char *aorta_stream_data(const aorta_stream_t *s, apr_size_t *len)
{
    if (len)
        *len = s->len;
    return s->data;
}

void aorta_stream_reset(aorta_stream_t *s)
{
    s->len = 0;
    s->data[0] = '\0';
}

static int stream_json_dump(const char *buffer, size_t size, void *data)
{
    aorta_stream_write(data, buffer, size);
    return 0;
}

void aorta_stream_json(aorta_stream_t *s, void *json)
{
    json_t *doc = json;
    if (!doc)
        return;
    json_dump_callback(doc, stream_json_dump, s, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    aorta_stream_puts(s, "\n");
    json_decref(doc);
}
