/*
 * loc_store.c — the store registry and the memory store.
 *
 * A store is a table of functions (loc_store_ops_t): open, load (purge expired rows and
 * return the rest), apply (a group of row operations in one transaction), close. The
 * writer thread is the only caller after start-up, so a store needs no locking of its own.
 * pgsql (loc_store_pgsql.c) adds apply_group: a store shared by several nodes decides each
 * AOR edit on its own. The registrar never sees the store.
 */
#include "loc_internal.h"
#include <apr_strings.h>
#include <string.h>

static apr_status_t mem_open(loc_store_t **s, const char *dsn, int sync_full, apr_pool_t *pool)
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

const loc_store_ops_t loc_store_memory = {"memory", 0, mem_open, mem_load, mem_apply, mem_close, NULL};

static const loc_store_ops_t *const loc_stores[] = {&loc_store_memory, &loc_store_sqlite, &loc_store_pgsql, NULL};

const loc_store_ops_t *loc_store_find(const char *name)
{
    for (int i = 0; loc_stores[i]; i++)
        if (!strcmp(loc_stores[i]->name, name))
            return loc_stores[i];
    return NULL;
}

loc_contact_t *loc_store_row_contact(const char *const *col)
{
    loc_contact_t t;
    memset(&t, 0, sizeof t);
#define NUM(i) (col[i] ? apr_atoi64(col[i]) : 0)
    t.aor = col[0];
    t.uri = col[1];
    t.params = col[2];
    t.path = col[3];
    t.user_agent = col[4];
    t.call_id = col[5];
    t.cseq = (apr_uint32_t)NUM(6);
    t.expires = (apr_time_t)NUM(7);
    t.registered = (apr_time_t)NUM(8);
    t.q = (int)(col[9] ? NUM(9) : -1);
    t.src_ip = col[10];
    t.src_port = (apr_port_t)NUM(11);
    t.transport = col[12];
    t.instance = col[13];
    t.reg_id = col[14];
    t.endpoint = col[15];
    t.profile = col[16];
#undef NUM
    if (!t.aor || !t.uri)
        return NULL;
    return loc_contact_new(&t);
}
