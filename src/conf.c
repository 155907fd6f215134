/*
 * conf.c — parsing the pre-processed configuration with libxml2, locating nodes in their
 * original files, lookup helpers and error collection.
 *
 * After parsing, <include> wrappers (the root element of included files) are dissolved so
 * that included elements sit where the include was, as FreeSWITCH users expect.
 */
#include "conf_internal.h"
#include <apr_strings.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <string.h>

struct aorta_conf_errors {
    apr_pool_t *pool;
    apr_array_header_t *list; /* const char * */
};

aorta_conf_errors_t *aorta_conf_errors_create(apr_pool_t *pool)
{
    aorta_conf_errors_t *e = apr_pcalloc(pool, sizeof *e);
    e->pool = pool;
    e->list = apr_array_make(pool, 8, sizeof(const char *));
    return e;
}

static void errors_vadd(aorta_conf_errors_t *errs, const char *file, int line, const char *fmt, va_list ap)
{
    char *msg = apr_pvsprintf(errs->pool, fmt, ap);
    const char *where = file ? (line > 0 ? apr_psprintf(errs->pool, "%s:%d: ", file, line)
                                         : apr_psprintf(errs->pool, "%s: ", file))
                             : "";
    *(const char **)apr_array_push(errs->list) = apr_pstrcat(errs->pool, where, msg, NULL);
}

void aorta_conf_errors_add(aorta_conf_errors_t *errs, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errors_vadd(errs, file, line, fmt, ap);
    va_end(ap);
}

void aorta_conf_error(aorta_conf_errors_t *errs, const aorta_conf_t *conf, const xmlNode *node, const char *fmt, ...)
{
    const char *file = NULL;
    int line = 0;
    if (conf && node)
        aorta_conf_where(conf, node, &file, &line);
    va_list ap;
    va_start(ap, fmt);
    errors_vadd(errs, file, line, fmt, ap);
    va_end(ap);
}

int aorta_conf_errors_count(const aorta_conf_errors_t *errs)
{
    return errs->list->nelts;
}

const char *aorta_conf_errors_get(const aorta_conf_errors_t *errs, int i)
{
    if (i < 0 || i >= errs->list->nelts)
        return NULL;
    return APR_ARRAY_IDX(errs->list, i, const char *);
}

void conf_origin_of(const aorta_conf_t *conf, long line, const char **file, int *out_line)
{
    if (line >= 1 && line <= conf->origins->nelts) {
        const conf_origin_t *o = &APR_ARRAY_IDX(conf->origins, line - 1, conf_origin_t);
        *file = o->file;
        *out_line = o->line;
        return;
    }
    *file = conf->root_file;
    *out_line = 0;
}

void aorta_conf_where(const aorta_conf_t *conf, const xmlNode *node, const char **file, int *line)
{
    conf_origin_of(conf, xmlGetLineNo(node), file, line);
}

typedef struct parse_ctx {
    aorta_conf_t *conf;
    aorta_conf_errors_t *errs;
    int count;
} parse_ctx_t;

static void conf_xml_error(void *ctx, xmlErrorPtr err)
{
    parse_ctx_t *pc = ctx;
    const char *file;
    int line;
    conf_origin_of(pc->conf, err->line, &file, &line);
    char *msg = apr_pstrdup(pc->errs->pool, err->message ? err->message : "XML error");
    apr_size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    /* libxml2 follows a fatal error with cascades that say nothing new: keep the first few */
    if (pc->count++ < 3)
        aorta_conf_errors_add(pc->errs, file, line, "XML: %s", msg);
}

static void conf_dissolve_includes(xmlNode *node)
{
    xmlNode *cur = node->children;
    while (cur) {
        xmlNode *next = cur->next;
        if (cur->type == XML_ELEMENT_NODE && xmlStrcmp(cur->name, BAD_CAST "include") == 0) {
            /* Move its children before it and drop it, then continue with the first moved
             * child (an include may hold includes). Text nodes may merge when moved, so
             * restart from the stable previous sibling rather than a moved pointer. */
            xmlNode *prev = cur->prev;
            while (cur->children) {
                xmlNode *c = cur->children;
                xmlUnlinkNode(c);
                xmlAddPrevSibling(cur, c);
            }
            xmlUnlinkNode(cur);
            xmlFreeNode(cur);
            cur = prev ? prev->next : node->children;
            continue;
        }
        if (cur->type == XML_ELEMENT_NODE)
            conf_dissolve_includes(cur);
        cur = next;
    }
}

static apr_status_t conf_doc_cleanup(void *data)
{
    xmlFreeDoc(data);
    return APR_SUCCESS;
}

/*
 * Shared by aorta_conf_load() and --check: with @p lenient, a document with errors is still
 * returned (libxml2 recovers what it can) so that every later check can run and report too.
 */
apr_status_t aorta_conf_load_ex(aorta_conf_t **out, const char *root_file, apr_table_t *vars, apr_pool_t *pool,
                                aorta_conf_errors_t *errs, int lenient)
{
    aorta_conf_t *conf = apr_pcalloc(pool, sizeof *conf);
    conf->pool = pool;
    conf->root_file = apr_pstrdup(pool, root_file);
    *out = NULL;

    int before = aorta_conf_errors_count(errs);
    conf_preprocess(conf, vars, errs);

    parse_ctx_t pc = {conf, errs, 0};
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return APR_ENOMEM;
    xmlSetStructuredErrorFunc(&pc, conf_xml_error);
    conf->doc = xmlCtxtReadMemory(ctxt, conf->text, (int)strlen(conf->text), conf->root_file, NULL,
                                  XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOBLANKS |
                                      (lenient ? XML_PARSE_RECOVER : 0));
    xmlSetStructuredErrorFunc(NULL, NULL);
    xmlFreeParserCtxt(ctxt);
    if (conf->doc) {
        apr_pool_cleanup_register(pool, conf->doc, conf_doc_cleanup, apr_pool_cleanup_null);
        conf_dissolve_includes((xmlNode *)conf->doc);
    } else if (pc.count == 0) {
        aorta_conf_errors_add(errs, conf->root_file, 0, "XML: cannot parse");
    }
    int failed = aorta_conf_errors_count(errs) > before || !conf->doc;
    if (!failed || (lenient && conf->doc))
        *out = conf;
    return failed ? AORTA_ECONFIG : APR_SUCCESS;
}

apr_status_t aorta_conf_load(aorta_conf_t **out, const char *root_file, apr_table_t *vars, apr_pool_t *pool,
                             aorta_conf_errors_t *errs)
{
    return aorta_conf_load_ex(out, root_file, vars, pool, errs, 0);
}

const apr_table_t *aorta_conf_vars(const aorta_conf_t *conf)
{
    return conf->vars;
}

const char *aorta_conf_var(const aorta_conf_t *conf, const char *name)
{
    return apr_table_get(conf->vars, name);
}

xmlNode *aorta_conf_root(const aorta_conf_t *conf)
{
    return conf->doc ? xmlDocGetRootElement(conf->doc) : NULL;
}

xmlNode *aorta_xml_child(const xmlNode *parent, const char *name)
{
    if (!parent)
        return NULL;
    for (xmlNode *c = parent->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && (!name || xmlStrcmp(c->name, BAD_CAST name) == 0))
            return c;
    return NULL;
}

xmlNode *aorta_xml_next(const xmlNode *node, const char *name)
{
    if (!node)
        return NULL;
    for (xmlNode *c = node->next; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && (!name || xmlStrcmp(c->name, BAD_CAST name) == 0))
            return c;
    return NULL;
}

const char *aorta_xml_attr(const xmlNode *node, const char *name)
{
    if (!node)
        return NULL;
    for (xmlAttr *a = node->properties; a; a = a->next) {
        if (xmlStrcmp(a->name, BAD_CAST name) == 0) {
            if (a->children && a->children->content)
                return (const char *)a->children->content;
            return "";
        }
    }
    return NULL;
}

xmlNode *aorta_conf_section(const aorta_conf_t *conf, const char *name)
{
    for (xmlNode *s = aorta_xml_child(aorta_conf_root(conf), "section"); s; s = aorta_xml_next(s, "section")) {
        const char *n = aorta_xml_attr(s, "name");
        if (n && strcmp(n, name) == 0)
            return s;
    }
    return NULL;
}

xmlNode *aorta_conf_configuration(const aorta_conf_t *conf, const char *name)
{
    xmlNode *sec = aorta_conf_section(conf, "configuration");
    for (xmlNode *c = aorta_xml_child(sec, "configuration"); c; c = aorta_xml_next(c, "configuration")) {
        const char *n = aorta_xml_attr(c, "name");
        if (n && strcmp(n, name) == 0)
            return c;
    }
    return NULL;
}

char *aorta_trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}
