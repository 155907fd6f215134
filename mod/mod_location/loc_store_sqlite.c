/*
 * loc_store_sqlite.c — the SQLite store through apr_dbd's sqlite3 driver.
 *
 * One table, `location`, one row per dynamic contact, keyed by (aor, uri). The database is
 * opened in WAL mode with synchronous=NORMAL: a commit is written to the WAL before the
 * REGISTER is answered, so it survives kill -9 of the process (not an OS crash; use
 * synchronous=FULL semantics via a pgsql store or a later option for that).
 *
 * Only the writer thread calls apply(); load() runs in load() before it starts. The driver
 * takes a process-global mutex per statement, so more threads would not help.
 */
#include "loc_internal.h"
#include <apr_dbd.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

struct loc_store {
    apr_pool_t *pool;
    apr_pool_t *scratch;
    const apr_dbd_driver_t *drv;
    apr_dbd_t *h;
    apr_dbd_prepared_t *put, *del;
};

#define COLS "aor, uri, params, path, user_agent, call_id, cseq, expires, registered, q, src_ip, src_port, " \
             "transport, instance, reg_id, endpoint, profile"

static apr_status_t sq_exec(loc_store_t *s, const char *sql)
{
    int nrows = 0;
    int rc = apr_dbd_query(s->drv, s->h, &nrows, sql);
    /* row-returning PRAGMAs report SQLITE_ROW (100) although they were applied */
    if (rc != 0 && rc != 100) {
        aorta_log(AORTA_LOG_ERR, "location: sqlite: %s: %s", sql, apr_dbd_error(s->drv, s->h, rc));
        return AORTA_ESTORE;
    }
    return APR_SUCCESS;
}

static apr_status_t sq_open(loc_store_t **out, const char *dsn, int sync_full, apr_pool_t *pool)
{
    loc_store_t *s = apr_pcalloc(pool, sizeof *s);
    const char *err = NULL;
    apr_status_t rv;
    s->pool = pool;
    apr_pool_create(&s->scratch, pool);
    apr_dbd_init(pool);
    if ((rv = apr_dbd_get_driver(pool, "sqlite3", &s->drv)) != APR_SUCCESS) {
        aorta_log(AORTA_LOG_ERR, "location: apr_dbd sqlite3 driver not available (install libaprutil1-dbd-sqlite3)");
        return AORTA_ESTORE;
    }
    if ((rv = apr_dbd_open_ex(s->drv, pool, dsn, &s->h, &err)) != APR_SUCCESS) {
        aorta_log(AORTA_LOG_ERR, "location: cannot open sqlite database %s: %s", dsn, err ? err : "unknown error");
        return AORTA_ESTORE;
    }
    if ((rv = sq_exec(s, "PRAGMA journal_mode=WAL")) != APR_SUCCESS ||
        (rv = sq_exec(s, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")) != APR_SUCCESS ||
        (rv = sq_exec(s, "PRAGMA busy_timeout=200")) != APR_SUCCESS ||
        (rv = sq_exec(s, "CREATE TABLE IF NOT EXISTS location (aor TEXT NOT NULL, uri TEXT NOT NULL, params TEXT, "
                         "path TEXT, user_agent TEXT, call_id TEXT, cseq INTEGER, expires INTEGER, "
                         "registered INTEGER, q INTEGER, src_ip TEXT, src_port INTEGER, transport TEXT, "
                         "instance TEXT, reg_id TEXT, endpoint TEXT, profile TEXT, PRIMARY KEY (aor, uri))")) !=
            APR_SUCCESS)
        goto fail;
    if (apr_dbd_prepare(s->drv, pool, s->h,
                        "INSERT OR REPLACE INTO location (" COLS ") VALUES "
                        "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        NULL, &s->put) ||
        apr_dbd_prepare(s->drv, pool, s->h, "DELETE FROM location WHERE aor = %s AND uri = %s", NULL, &s->del)) {
        aorta_log(AORTA_LOG_ERR, "location: sqlite: cannot prepare statements: %s", apr_dbd_error(s->drv, s->h, 1));
        rv = AORTA_ESTORE;
        goto fail;
    }
    *out = s;
    return APR_SUCCESS;
fail:
    apr_dbd_close(s->drv, s->h);
    return rv;
}

static const char *i64(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

static apr_status_t sq_load(loc_store_t *s, apr_time_t now, loc_store_row_fn fn, void *user)
{
    apr_pool_t *p = s->scratch;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int n = 0;
    const char *purge = apr_psprintf(p, "DELETE FROM location WHERE expires <= %" APR_INT64_T_FMT, (apr_int64_t)now);
    int nrows = 0;
    int rc = apr_dbd_query(s->drv, s->h, &nrows, purge);
    if (rc) {
        aorta_log(AORTA_LOG_ERR, "location: sqlite: purge failed: %s", apr_dbd_error(s->drv, s->h, rc));
        return AORTA_ESTORE;
    }
    if (nrows)
        aorta_log(AORTA_LOG_INFO, "location: purged %d expired contacts from %s", nrows, "sqlite");
    if ((rc = apr_dbd_select(s->drv, p, s->h, &res, "SELECT " COLS " FROM location", 0))) {
        aorta_log(AORTA_LOG_ERR, "location: sqlite: load failed: %s", apr_dbd_error(s->drv, s->h, rc));
        return AORTA_ESTORE;
    }
    while (apr_dbd_get_row(s->drv, p, res, &row, -1) == 0) {
        loc_contact_t t;
        memset(&t, 0, sizeof t);
#define COL(i) apr_dbd_get_entry(s->drv, row, (i))
#define NUM(i) (COL(i) ? apr_atoi64(COL(i)) : 0)
        t.aor = COL(0);
        t.uri = COL(1);
        t.params = COL(2);
        t.path = COL(3);
        t.user_agent = COL(4);
        t.call_id = COL(5);
        t.cseq = (apr_uint32_t)NUM(6);
        t.expires = (apr_time_t)NUM(7);
        t.registered = (apr_time_t)NUM(8);
        t.q = (int)(COL(9) ? NUM(9) : -1);
        t.src_ip = COL(10);
        t.src_port = (apr_port_t)NUM(11);
        t.transport = COL(12);
        t.instance = COL(13);
        t.reg_id = COL(14);
        t.endpoint = COL(15);
        t.profile = COL(16);
#undef COL
#undef NUM
        if (t.aor && t.uri && t.expires > now) {
            fn(loc_contact_new(&t), user);
            n++;
        }
    }
    aorta_log(AORTA_LOG_INFO, "location: loaded %d contacts from sqlite", n);
    apr_pool_clear(p);
    return APR_SUCCESS;
}

static apr_status_t sq_apply(loc_store_t *s, const loc_op_t *ops, int n)
{
    apr_pool_t *p = s->scratch;
    apr_dbd_transaction_t *tx = NULL;
    apr_status_t rv = APR_SUCCESS;
    int rc, nrows;
    if ((rc = apr_dbd_transaction_start(s->drv, p, s->h, &tx))) {
        aorta_log(AORTA_LOG_ERR, "location: sqlite: BEGIN failed: %s", apr_dbd_error(s->drv, s->h, rc));
        apr_pool_clear(p);
        return AORTA_ESTORE;
    }
    for (int i = 0; i < n && rv == APR_SUCCESS; i++) {
        const loc_contact_t *c = ops[i].contact;
        if (ops[i].kind == LOC_OP_DEL) {
            rc = apr_dbd_pvquery(s->drv, p, s->h, &nrows, s->del, c->aor, c->uri);
        } else {
            rc = apr_dbd_pvquery(s->drv, p, s->h, &nrows, s->put, c->aor, c->uri, c->params, c->path, c->user_agent,
                                 c->call_id, i64(p, c->cseq), i64(p, c->expires), i64(p, c->registered),
                                 c->q < 0 ? NULL : i64(p, c->q), c->src_ip, i64(p, c->src_port), c->transport,
                                 c->instance, c->reg_id, c->endpoint, c->profile);
        }
        if (rc) {
            aorta_log(AORTA_LOG_ERR, "location: sqlite: write failed: %s", apr_dbd_error(s->drv, s->h, rc));
            apr_dbd_transaction_mode_set(s->drv, tx, APR_DBD_TRANSACTION_ROLLBACK);
            rv = AORTA_ESTORE;
        }
    }
    if ((rc = apr_dbd_transaction_end(s->drv, p, tx)) && rv == APR_SUCCESS) {
        aorta_log(AORTA_LOG_ERR, "location: sqlite: COMMIT failed: %s", apr_dbd_error(s->drv, s->h, rc));
        rv = AORTA_ESTORE;
    }
    apr_pool_clear(p);
    return rv;
}

static void sq_close(loc_store_t *s)
{
    if (s && s->h) {
        apr_dbd_close(s->drv, s->h);
        s->h = NULL;
    }
}

const loc_store_ops_t loc_store_sqlite = {"sqlite", 1, sq_open, sq_load, sq_apply, sq_close, NULL};
