/*
 * esl_proto.c — packet framing and header escaping for the event socket (see esl_proto.h).
 *
 * Pure functions over byte buffers: the connection thread owns the buffer and calls
 * esl_packet_parse() after every read until it answers APR_INCOMPLETE.
 */
#include "esl_proto.h"

#include <apr_strings.h>
#include <ctype.h>
#include <string.h>

/* Find "\n\n" allowing CRs: a line is blank when, with CRs removed, it is empty. Returns the
 * offset just after the blank line, or 0 if the header block is not complete yet. */
static apr_size_t esl_block_end(const char *buf, apr_size_t len)
{
    apr_size_t line_start = 0, i;
    for (i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        apr_size_t j = line_start;
        while (j < i && buf[j] == '\r')
            j++;
        if (j == i && line_start > 0)
            return i + 1;
        line_start = i + 1;
    }
    return 0;
}

apr_status_t esl_packet_parse(const char *buf, apr_size_t len, apr_pool_t *pool, esl_packet_t **pkt,
                              apr_size_t *consumed)
{
    apr_size_t skip = 0, end, hlen, clen = 0;
    esl_packet_t *p;
    char *block, *line, *next;
    const char *cl;

    *pkt = NULL;
    /* Blank lines between packets are noise (modesl sends stray "\n"s). */
    while (skip < len && (buf[skip] == '\n' || buf[skip] == '\r'))
        skip++;
    *consumed = skip;
    buf += skip;
    len -= skip;
    if (len == 0)
        return APR_INCOMPLETE;

    end = esl_block_end(buf, len);
    if (end == 0)
        return len > ESL_MAX_HEADER_BYTES ? AORTA_ESYNTAX : APR_INCOMPLETE;
    if (end > ESL_MAX_HEADER_BYTES)
        return AORTA_ESYNTAX;

    p = apr_pcalloc(pool, sizeof(*p));
    p->headers = apr_array_make(pool, 4, sizeof(esl_header_t));
    hlen = end;
    block = apr_pstrmemdup(pool, buf, hlen);

    for (line = block; line && *line; line = next) {
        char *nl = strchr(line, '\n'), *cr, *colon;
        next = NULL;
        if (nl) {
            *nl = '\0';
            next = nl + 1;
        }
        /* strip every CR (FreeSWITCH tolerates them anywhere in a line end) */
        while ((cr = strchr(line, '\r')) != NULL)
            memmove(cr, cr + 1, strlen(cr));
        if (!p->command) {
            if (*line == '\0')
                continue;
            p->command = line;
            continue;
        }
        if (*line == '\0')
            break;
        if (!(colon = strchr(line, ':')))
            continue;
        *colon = '\0';
        colon++;
        while (*colon == ' ' || *colon == '\t')
            colon++;
        esl_header_t *h = apr_array_push(p->headers);
        h->name = line;
        h->value = colon;
    }
    if (!p->command)
        p->command = "";

    if ((cl = esl_packet_header(p, "Content-Length")) != NULL) {
        char *endp = NULL;
        apr_int64_t v = apr_strtoi64(cl, &endp, 10);
        if (v < 0 || v > ESL_MAX_CONTENT_LENGTH || endp == cl)
            return AORTA_ESYNTAX;
        clen = (apr_size_t)v;
    }
    if (len - end < clen)
        return APR_INCOMPLETE;
    if (clen > 0) {
        p->body = apr_pstrmemdup(pool, buf + end, clen);
        p->body_len = clen;
    }
    *consumed = skip + end + clen;
    *pkt = p;
    return APR_SUCCESS;
}

const char *esl_packet_header(const esl_packet_t *pkt, const char *name)
{
    int i;
    for (i = 0; i < pkt->headers->nelts; i++) {
        const esl_header_t *h = &APR_ARRAY_IDX(pkt->headers, i, esl_header_t);
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    }
    return NULL;
}

const char *esl_header_escape(const char *in, apr_pool_t *pool)
{
    apr_size_t n = 0;
    const char *s;
    char *out, *o;

    if (!in)
        return "";
    for (s = in; *s; s++)
        if (*s == '%' || *s == '\r' || *s == '\n')
            n++;
    if (n == 0)
        return in;
    o = out = apr_palloc(pool, strlen(in) + 2 * n + 1);
    for (s = in; *s; s++) {
        if (*s == '%' || *s == '\r' || *s == '\n') {
            static const char hex[] = "0123456789ABCDEF";
            *o++ = '%';
            *o++ = hex[((unsigned char)*s) >> 4];
            *o++ = hex[((unsigned char)*s) & 15];
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

char *esl_word(const char *line, const char **rest, apr_pool_t *pool)
{
    const char *s = line, *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s;
    while (*e && *e != ' ' && *e != '\t')
        e++;
    if (rest) {
        const char *r = e;
        while (*r == ' ' || *r == '\t')
            r++;
        *rest = r;
    }
    return apr_pstrmemdup(pool, s, (apr_size_t)(e - s));
}

char *esl_trim(const char *s, apr_pool_t *pool)
{
    const char *e;
    while (*s && isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    return apr_pstrmemdup(pool, s, (apr_size_t)(e - s));
}
