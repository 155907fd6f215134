/*
 * esl_sub.c — event subscriptions of one connection (see esl_sub.h for the rules).
 */
#include "esl_sub.h"

#include <apr_strings.h>
#include <string.h>

esl_sub_t *esl_sub_create(apr_pool_t *pool)
{
    esl_sub_t *sub = apr_pcalloc(pool, sizeof(*sub));
    aorta_pool_create(&sub->pool, pool);
    sub->subclasses = apr_hash_make(sub->pool);
    return sub;
}

/* Call fn for each space-separated token of args (empty tokens skipped). */
typedef void (*esl_token_fn)(const char *tok, int index, void *ctx);

static void esl_tokens(const char *args, esl_token_fn fn, void *ctx)
{
    const char *s = args;
    int index = 0;
    char tok[512];

    while (s && *s) {
        const char *e;
        apr_size_t n;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        e = s;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        n = (apr_size_t)(e - s);
        /* A token longer than any event or subclass name cannot match; skip it whole. */
        if (n < sizeof(tok)) {
            memcpy(tok, s, n);
            tok[n] = '\0';
            fn(tok, index, ctx);
        }
        index++;
        s = e;
    }
}

typedef struct {
    esl_sub_t *sub;
    aorta_event_format_t *format;
    int custom;
    int keys;
} esl_parse_ctx_t;

static void esl_event_token(const char *tok, int index, void *vctx)
{
    esl_parse_ctx_t *c = vctx;
    aorta_event_id_t id;

    if (index == 0 && c->format) {
        if (strcasecmp(tok, "plain") == 0) {
            *c->format = AORTA_EVENT_FORMAT_PLAIN;
            return;
        }
        if (strcasecmp(tok, "json") == 0) {
            *c->format = AORTA_EVENT_FORMAT_JSON;
            return;
        }
        if (strcasecmp(tok, "xml") == 0) {
            *c->format = AORTA_EVENT_FORMAT_XML;
            return;
        }
    }
    if (c->custom) {
        apr_hash_set(c->sub->subclasses, apr_pstrdup(c->sub->pool, tok), APR_HASH_KEY_STRING, "1");
        return;
    }
    if (aorta_event_name_parse(tok, &id) != APR_SUCCESS || (int)id < 0 || id >= AORTA_EVENT_COUNT)
        return;
    c->keys++;
    if (id == AORTA_EVENT_ALL)
        memset(c->sub->ids, 1, sizeof(c->sub->ids));
    c->sub->ids[id] = 1;
    if (id == AORTA_EVENT_CUSTOM)
        c->custom = 1;
}

int esl_sub_event(esl_sub_t *sub, const char *args, aorta_event_format_t *format)
{
    esl_parse_ctx_t c = {sub, format, 0, 0};
    esl_tokens(args, esl_event_token, &c);
    if (c.keys > 0)
        sub->active = 1;
    return c.keys;
}

static void esl_nix_token(const char *tok, int index, void *vctx)
{
    esl_parse_ctx_t *c = vctx;
    aorta_event_id_t id;
    int x;

    (void)index;
    if (c->custom) {
        apr_hash_set(c->sub->subclasses, tok, APR_HASH_KEY_STRING, NULL);
        return;
    }
    if (aorta_event_name_parse(tok, &id) != APR_SUCCESS || (int)id < 0 || id >= AORTA_EVENT_COUNT)
        return;
    c->keys++;
    if (id == AORTA_EVENT_CUSTOM) {
        c->custom = 1;
    } else if (id == AORTA_EVENT_ALL) {
        memset(c->sub->ids, 0, sizeof(c->sub->ids));
    } else {
        /* "everything except X": ALL turns into the explicit list minus X */
        if (c->sub->ids[AORTA_EVENT_ALL]) {
            c->sub->ids[AORTA_EVENT_ALL] = 0;
            for (x = 0; x < AORTA_EVENT_ALL; x++)
                c->sub->ids[x] = 1;
        }
        c->sub->ids[id] = 0;
    }
}

int esl_sub_nix(esl_sub_t *sub, const char *args)
{
    esl_parse_ctx_t c = {sub, NULL, 0, 0};
    esl_tokens(args, esl_nix_token, &c);
    if (c.keys > 0)
        sub->active = 1;
    return c.keys;
}

int esl_sub_clear(esl_sub_t *sub)
{
    int was = sub->active;
    memset(sub->ids, 0, sizeof(sub->ids));
    apr_pool_clear(sub->pool);
    sub->subclasses = apr_hash_make(sub->pool);
    sub->active = 0;
    return was;
}

int esl_sub_match(const esl_sub_t *sub, aorta_event_id_t id, const char *subclass)
{
    if (!sub->active)
        return 0;
    if (sub->ids[AORTA_EVENT_ALL])
        return 1;
    if ((int)id < 0 || id >= AORTA_EVENT_COUNT || !sub->ids[id])
        return 0;
    if (id != AORTA_EVENT_CUSTOM || !subclass)
        return 1;
    return apr_hash_get(sub->subclasses, subclass, APR_HASH_KEY_STRING) != NULL;
}
