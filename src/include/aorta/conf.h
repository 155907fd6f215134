/*
 * aorta/conf.h — the XML configuration: loading with the FreeSWITCH pre-processor, lookup,
 * file:line for every node, error collection, and declarative settings tables.
 *
 * A configuration is one immutable generation: aorta.xml after X-PRE-PROCESS includes and
 * $${var} substitution, parsed by libxml2, with a table that maps every line of the
 * expanded text back to the file and line it came from. Threads share it read-only. A
 * reload builds a new generation and swaps it in only when every module accepted it.
 *
 * Nodes are libxml2's xmlNode: modules read them with the helpers below and never keep a
 * node beyond the life of the configuration (they copy values into their own generation
 * pool through aorta_settings_apply()).
 */
#ifndef AORTA_CONF_H
#define AORTA_CONF_H

#include "aorta/types.h"
#include <apr_tables.h>
#include <libxml/tree.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors -------------------------------------------------------------------------- */

/** Create an error collector in @p pool. Errors are "file:line: message" strings. */
AORTA_DECLARE(aorta_conf_errors_t *) aorta_conf_errors_create(apr_pool_t *pool);
/** Add an error at @p file:@p line (line 0: no line). */
AORTA_DECLARE(void) aorta_conf_errors_add(aorta_conf_errors_t *errs, const char *file, int line, const char *fmt, ...)
    AORTA_PRINTF(4, 5);
/** Add an error located at @p node of @p conf. */
AORTA_DECLARE(void) aorta_conf_error(aorta_conf_errors_t *errs, const aorta_conf_t *conf, const xmlNode *node,
                                     const char *fmt, ...) AORTA_PRINTF(4, 5);
AORTA_DECLARE(int) aorta_conf_errors_count(const aorta_conf_errors_t *errs);
/** The @p i-th error, "file:line: message" (no trailing newline). */
AORTA_DECLARE(const char *) aorta_conf_errors_get(const aorta_conf_errors_t *errs, int i);

/* ---- loading ------------------------------------------------------------------------- */

/**
 * Read @p root_file (aorta.xml) with the pre-processor and parse it.
 * @p vars: pre-set variables (command-line --set, conf_dir, data_dir, ...), which win over
 * X-PRE-PROCESS set; may be NULL. Every problem found is added to @p errs, not just the first;
 * on any error *conf is NULL and AORTA_ECONFIG is returned. The configuration lives in
 * @p pool (its xmlDoc is freed by a cleanup on that pool).
 */
AORTA_DECLARE(apr_status_t) aorta_conf_load(aorta_conf_t **conf, const char *root_file, apr_table_t *vars,
                                            apr_pool_t *pool, aorta_conf_errors_t *errs);

/**
 * Pre-process only: expand @p root_file into one text buffer (includes, set, $${var}) and
 * report errors with file:line. Exposed for tests and `--check`. *text is NUL-terminated.
 */
AORTA_DECLARE(apr_status_t) aorta_conf_preprocess(const char *root_file, apr_table_t *vars, apr_pool_t *pool,
                                                  aorta_conf_errors_t *errs, const char **text);

/** The variables in force after pre-processing (name → value). */
AORTA_DECLARE(const apr_table_t *) aorta_conf_vars(const aorta_conf_t *conf);
/** The value of pre-processor variable @p name, or NULL. */
AORTA_DECLARE(const char *) aorta_conf_var(const aorta_conf_t *conf, const char *name);

/** The document's root element. */
AORTA_DECLARE(xmlNode *) aorta_conf_root(const aorta_conf_t *conf);
/** <section name="@p name"> under the root, or NULL. */
AORTA_DECLARE(xmlNode *) aorta_conf_section(const aorta_conf_t *conf, const char *name);
/** <configuration name="@p name"> inside <section name="configuration">, or NULL. */
AORTA_DECLARE(xmlNode *) aorta_conf_configuration(const aorta_conf_t *conf, const char *name);

/** Original file and line of @p node (after includes). *file is valid for the conf's life. */
AORTA_DECLARE(void) aorta_conf_where(const aorta_conf_t *conf, const xmlNode *node, const char **file, int *line);

/* ---- node helpers -------------------------------------------------------------------- */

/** First element child of @p parent named @p name (NULL name: any element), or NULL. */
AORTA_DECLARE(xmlNode *) aorta_xml_child(const xmlNode *parent, const char *name);
/** Next element sibling after @p node named @p name (NULL name: any element), or NULL. */
AORTA_DECLARE(xmlNode *) aorta_xml_next(const xmlNode *node, const char *name);
/** Attribute value (pointer into the document, valid for the conf's life), or NULL. */
AORTA_DECLARE(const char *) aorta_xml_attr(const xmlNode *node, const char *name);
/** Element name as a C string. */
#define aorta_xml_name(node) ((const char *)(node)->name)

/* ---- settings tables ----------------------------------------------------------------- */

typedef enum aorta_setting_type {
    AORTA_SETTING_STRING, /**< const char * */
    AORTA_SETTING_INT,    /**< int, within [min, max] unless both are 0 */
    AORTA_SETTING_BOOL,   /**< int 0/1; accepts true/false/yes/no/on/off/1/0 */
    AORTA_SETTING_ENUM,   /**< int: index into choices "a|b|c" */
    AORTA_SETTING_LIST,   /**< apr_array_header_t * of const char *: comma-separated, trimmed */
    AORTA_SETTING_MULTI   /**< apr_array_header_t * of const char *: the param may repeat */
} aorta_setting_type_t;

/**
 * Optional extra check of a value already converted to its type. Return NULL if fine, or a
 * message (allocated in @p pool) that becomes "file:line: <param>: <message>".
 */
typedef const char *(*aorta_setting_validate_fn)(const aorta_setting_t *setting, const char *value, apr_pool_t *pool);

/** One row of a module's settings table. Tables end with a row whose name is NULL. */
struct aorta_setting {
    const char *name;
    aorta_setting_type_t type;
    const char *def;    /**< default, in configuration syntax; NULL: none (0 / NULL / empty) */
    apr_size_t offset;  /**< offsetof() the field in the target struct */
    const char *choices;/**< ENUM: "a|b|c" */
    long min, max;      /**< INT bounds; both 0: unbounded */
    aorta_setting_validate_fn validate;
    int reloadable;     /**< 1: reloadxml applies it; 0: needs a module reload (documented) */
    const char *doc;    /**< one line for the generated reference */
};

/** A settings table with the place in the XML where it applies, for the reference. */
typedef struct aorta_settings_section {
    const char *where;                /**< e.g. "sip.conf: profile/settings" */
    const aorta_setting_t *table;
} aorta_settings_section_t;

/**
 * Fill @p target from the <param name="" value=""/> children of @p parent according to
 * @p table: defaults first, then each param converted and validated. Unknown names,
 * malformed values and params without name or value are errors (with file:line) added to
 * @p errs; all of them are collected. Strings are copied into @p pool.
 * @p parent may be NULL: defaults only. Returns AORTA_ECONFIG if any error was added.
 */
AORTA_DECLARE(apr_status_t) aorta_settings_apply(const aorta_setting_t *table, void *target, const aorta_conf_t *conf,
                                                 const xmlNode *parent, apr_pool_t *pool, aorta_conf_errors_t *errs);

/** Write a Markdown table documenting @p table (name, type, default, reloadable, doc). */
AORTA_DECLARE(void) aorta_settings_document(const aorta_setting_t *table, aorta_stream_t *out);

/** Convert a boolean word; APR_EINVAL if it is none of true/false/yes/no/on/off/1/0. */
AORTA_DECLARE(apr_status_t) aorta_parse_bool(const char *s, int *out);

#ifdef __cplusplus
}
#endif
#endif
