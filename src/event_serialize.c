/*
 * event_serialize.c — the three wire forms of an event, as FreeSWITCH writes them
 * (ESL.md §10): plain (URL-encoded "Name: value" lines), json (one compact object, all
 * values strings) and xml (<event><headers>...). Results are malloc'd; event.c caches them.
 */
#include "core_internal.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    char *data;
    apr_size_t len, cap;
} buf_t;

static void buf_put(buf_t *b, const char *s, apr_size_t n)
{
    if (b->len + n + 1 > b->cap) {
        apr_size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            aorta_pool_abort(APR_ENOMEM);
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(buf_t *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

static int url_unsafe(unsigned char c)
{
    if (c < 0x20 || c >= 0x7f)
        return 1;
    return strchr(" \"#%&+:;<=>?@[\\]^`{|}", c) != NULL;
}

static int is_upper_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

apr_size_t aorta_url_encode(const char *in, char *out, apr_size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    apr_size_t need = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        /* an existing %XX escape is kept as it is (no double encoding) */
        int keep = *p == '%' && is_upper_hex((char)p[1]) && is_upper_hex((char)p[2]);
        if (!keep && url_unsafe(*p)) {
            if (out && need + 3 < outlen) {
                out[need] = '%';
                out[need + 1] = hex[*p >> 4];
                out[need + 2] = hex[*p & 15];
            }
            need += 3;
        } else {
            if (out && need + 1 < outlen)
                out[need] = (char)*p;
            need += 1;
        }
    }
    if (out && outlen)
        out[need < outlen ? need : outlen - 1] = '\0';
    return need;
}

static void buf_url_encoded(buf_t *b, const char *value)
{
    char small[512];
    apr_size_t need = aorta_url_encode(value, small, sizeof small);
    if (need < sizeof small) {
        buf_put(b, small, need);
        return;
    }
    char *big = malloc(need + 1);
    if (!big)
        aorta_pool_abort(APR_ENOMEM);
    aorta_url_encode(value, big, need + 1);
    buf_put(b, big, need);
    free(big);
}

static void serialize_plain(const aorta_event_t *ev, buf_t *b)
{
    const struct aorta_event_header *h = aorta_event_headers(ev);
    int n = aorta_event_nheaders(ev);
    for (int i = 0; i < n; i++) {
        buf_puts(b, h[i].name);
        buf_put(b, ": ", 2);
        if (*h[i].value)
            buf_url_encoded(b, h[i].value);
        else
            buf_puts(b, "_undef_");
        buf_put(b, "\n", 1);
    }
    apr_size_t blen;
    const char *body = aorta_event_get_body(ev, &blen);
    if (body) {
        char cl[64];
        int k = snprintf(cl, sizeof cl, "Content-Length: %zu\n\n", (size_t)blen);
        buf_put(b, cl, (apr_size_t)k);
        buf_put(b, body, blen);
    } else {
        buf_put(b, "\n", 1);
    }
}

static int json_dump_to_buf(const char *buffer, size_t size, void *data)
{
    buf_put(data, buffer, size);
    return 0;
}

static void serialize_json(const aorta_event_t *ev, buf_t *b)
{
    json_t *obj = json_object();
    const struct aorta_event_header *h = aorta_event_headers(ev);
    int n = aorta_event_nheaders(ev);
    for (int i = 0; i < n; i++)
        json_object_set_new_nocheck(obj, h[i].name, json_string_nocheck(h[i].value));
    apr_size_t blen;
    const char *body = aorta_event_get_body(ev, &blen);
    if (body) {
        char cl[32];
        snprintf(cl, sizeof cl, "%zu", (size_t)blen);
        json_object_set_new_nocheck(obj, "Content-Length", json_string_nocheck(cl));
        json_object_set_new_nocheck(obj, "_body", json_stringn_nocheck(body, blen));
    }
    json_dump_callback(obj, json_dump_to_buf, b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
}

static void buf_xml_escaped(buf_t *b, const char *s, apr_size_t n)
{
    for (apr_size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '"':
            buf_puts(b, "&quot;");
            break;
        case '\'':
            buf_puts(b, "&apos;");
            break;
        default:
            buf_put(b, s + i, 1);
        }
    }
}

static void serialize_xml(const aorta_event_t *ev, buf_t *b)
{
    const struct aorta_event_header *h = aorta_event_headers(ev);
    int n = aorta_event_nheaders(ev);
    buf_puts(b, "<event>\n  <headers>\n");
    for (int i = 0; i < n; i++) {
        buf_puts(b, "    <");
        buf_puts(b, h[i].name);
        buf_puts(b, ">");
        buf_url_encoded(b, h[i].value);
        buf_puts(b, "</");
        buf_puts(b, h[i].name);
        buf_puts(b, ">\n");
    }
    buf_puts(b, "  </headers>\n");
    apr_size_t blen;
    const char *body = aorta_event_get_body(ev, &blen);
    if (body) {
        char cl[64];
        snprintf(cl, sizeof cl, "  <Content-Length>%zu</Content-Length>\n", (size_t)blen);
        buf_puts(b, cl);
        buf_puts(b, "  <body>");
        buf_xml_escaped(b, body, blen);
        buf_puts(b, "</body>\n");
    }
    buf_puts(b, "</event>\n");
}

char *aorta_event_serialize_new(const aorta_event_t *ev, aorta_event_format_t fmt, apr_size_t *len)
{
    buf_t b = {0};
    buf_put(&b, "", 0);
    switch (fmt) {
    case AORTA_EVENT_FORMAT_PLAIN:
        serialize_plain(ev, &b);
        break;
    case AORTA_EVENT_FORMAT_JSON:
        serialize_json(ev, &b);
        break;
    case AORTA_EVENT_FORMAT_XML:
        serialize_xml(ev, &b);
        break;
    }
    *len = b.len;
    return b.data;
}
