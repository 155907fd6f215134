/*
 * esl_filter.c — per-connection event filters (see esl_filter.h).
 *
 * Evaluation follows FreeSWITCH's event_handler: filters are tried in the order added; once
 * a positive filter has matched, further positives are skipped; any matching negative filter
 * rejects the event at once.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "esl_filter.h"

#include <apr_strings.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

typedef struct esl_filter {
    struct esl_filter *next;
    char *name;
    char *value;       /* as the client gave it, for `filter delete` */
    const char *cmp;   /* value without its +/- prefix */
    int positive;
    pcre2_code *re;    /* NULL: equality */
    pcre2_match_data *md;
} esl_filter_t;

struct esl_filters {
    esl_filter_t *head;
    int count;
};

static void esl_filter_free(esl_filter_t *f)
{
    if (f->md)
        pcre2_match_data_free(f->md);
    if (f->re)
        pcre2_code_free(f->re);
    free(f->name);
    free(f->value);
    free(f);
}

void esl_filters_clear(esl_filters_t *fs)
{
    while (fs->head) {
        esl_filter_t *f = fs->head;
        fs->head = f->next;
        esl_filter_free(f);
    }
    fs->count = 0;
}

static apr_status_t esl_filters_cleanup(void *data)
{
    esl_filters_clear(data);
    return APR_SUCCESS;
}

esl_filters_t *esl_filters_create(apr_pool_t *pool)
{
    esl_filters_t *fs = apr_pcalloc(pool, sizeof(*fs));
    apr_pool_cleanup_register(pool, fs, esl_filters_cleanup, apr_pool_cleanup_null);
    return fs;
}

apr_status_t esl_filters_add(esl_filters_t *fs, const char *name, const char *value, const char **err,
                             apr_pool_t *pool)
{
    esl_filter_t *f, **tail;
    const char *c = value;

    f = calloc(1, sizeof(*f));
    if (!f)
        return APR_ENOMEM;
    f->positive = 1;
    /* FreeSWITCH reads any run of '+', '-' and spaces; the last sign wins */
    while (*c == '+' || *c == '-' || *c == ' ') {
        if (*c == '+')
            f->positive = 1;
        else if (*c == '-')
            f->positive = 0;
        c++;
    }
    f->name = strdup(name);
    f->value = strdup(value);
    if (!f->name || !f->value) {
        esl_filter_free(f);
        return APR_ENOMEM;
    }
    f->cmp = f->value + (c - value);

    if (*f->cmp == '/') {
        /* "/pattern/flags" as switch_regex_perform reads it; no closing slash: all pattern */
        const char *pat = f->cmp + 1, *close = strrchr(pat, '/');
        apr_size_t plen = close ? (apr_size_t)(close - pat) : strlen(pat);
        uint32_t opts = 0;
        int ec;
        PCRE2_SIZE eo;
        if (close) {
            const char *fl;
            for (fl = close + 1; *fl; fl++)
                if (*fl == 'i')
                    opts |= PCRE2_CASELESS;
        }
        f->re = pcre2_compile((PCRE2_SPTR)pat, plen, opts, &ec, &eo, NULL);
        if (!f->re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof(msg));
            if (err)
                *err = apr_psprintf(pool, "%s at offset %u", (const char *)msg, (unsigned)eo);
            esl_filter_free(f);
            return AORTA_ESYNTAX;
        }
        f->md = pcre2_match_data_create_from_pattern(f->re, NULL);
    }

    for (tail = &fs->head; *tail; tail = &(*tail)->next)
        ;
    *tail = f;
    fs->count++;
    return APR_SUCCESS;
}

int esl_filters_delete(esl_filters_t *fs, const char *name, const char *value)
{
    esl_filter_t **pp = &fs->head;
    int removed = 0;

    while (*pp) {
        esl_filter_t *f = *pp;
        if (strcasecmp(f->name, name) == 0 && (!value || strcmp(f->value, value) == 0)) {
            *pp = f->next;
            esl_filter_free(f);
            removed++;
            fs->count--;
        } else {
            pp = &f->next;
        }
    }
    return removed;
}

int esl_filters_count(const esl_filters_t *fs)
{
    return fs->count;
}

int esl_filters_match(esl_filters_t *fs, esl_header_get_fn get, void *ctx)
{
    const esl_filter_t *f;
    int send = 0;

    if (!fs->head)
        return 1;
    for (f = fs->head; f; f = f->next) {
        const char *hval = get(ctx, f->name);
        int cmp;
        if (!hval)
            continue;
        if (send && f->positive)
            continue;
        if (f->re)
            cmp = pcre2_match(f->re, (PCRE2_SPTR)hval, PCRE2_ZERO_TERMINATED, 0, 0, f->md, NULL) >= 0;
        else
            cmp = strcasecmp(hval, f->cmp) == 0;
        if (cmp) {
            if (!f->positive)
                return 0;
            send = 1;
        }
    }
    return send;
}
