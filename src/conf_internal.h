/*
 * conf_internal.h — the configuration object shared by conf.c (parse, lookup) and
 * conf_preproc.c (X-PRE-PROCESS expansion with a line map).
 */
#ifndef AORTA_CONF_INTERNAL_H
#define AORTA_CONF_INTERNAL_H

#include "core_internal.h"
#include <apr_tables.h>

/** Where one line of the expanded text came from. */
typedef struct conf_origin {
    const char *file;
    int line;
} conf_origin_t;

struct aorta_conf {
    apr_pool_t *pool;
    const char *root_file;
    const char *text;            /* expanded text */
    apr_array_header_t *origins; /* conf_origin_t per expanded line (index = line - 1) */
    apr_table_t *vars;           /* variables after pre-processing */
    xmlDoc *doc;
};

/** Expand @p root_file into conf->text / origins / vars. Errors go to @p errs. */
apr_status_t conf_preprocess(aorta_conf_t *conf, apr_table_t *fixed_vars, aorta_conf_errors_t *errs);

/** Map a line of the expanded text back to its origin (file may be the root file, line 0). */
void conf_origin_of(const aorta_conf_t *conf, long line, const char **file, int *out_line);

#endif
