/*
 * loc_store.c — the store registry and the memory store.
 *
 * A store is a table of functions (loc_store_ops_t): open, load (purge expired rows and
 * return the rest), apply (a group of row operations in one transaction), close. The
 * writer thread is the only caller after start-up, so a store needs no locking of its own.
 * Adding pgsql means one more file with one more table listed here; the registrar never
 * sees the store.
 */
#include "loc_internal.h"
#include <string.h>

static apr_status_t mem_open(loc_store_t **s, const char *dsn, apr_pool_t *pool)
{
    *s = NULL;
    return APR_SUCCESS;
}

static apr_status_t mem_load(loc_store_t *s, apr_time_t now, loc_store_row_fn fn, void *user)
{
    return APR_SUCCESS;
}

static apr_status_t mem_apply(loc_store_t *s, const loc_op_t *ops, int n)
{
    return APR_SUCCESS;
}

static void mem_close(loc_store_t *s)
{
}

const loc_store_ops_t loc_store_memory = {"memory", 0, mem_open, mem_load, mem_apply, mem_close};

static const loc_store_ops_t *const loc_stores[] = {&loc_store_memory, &loc_store_sqlite, NULL};

const loc_store_ops_t *loc_store_find(const char *name)
{
    for (int i = 0; loc_stores[i]; i++)
        if (!strcmp(loc_stores[i]->name, name))
            return loc_stores[i];
    return NULL;
}
