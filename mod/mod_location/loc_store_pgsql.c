/*
 * loc_store_pgsql.c — the PostgreSQL store (apr_dbd's pgsql driver): one location shared by
 * several aorta nodes.
 *
 * Table aorta_location, one row per dynamic contact keyed by (aor, uri); aorta_schema holds
 * the schema version, created or migrated at start-up under an advisory lock so that nodes
 * starting together do not race.
 *
 * Each node keeps its memory table (authoritative for its reads) and one writer thread that
 * commits groups of AOR edits in one transaction (loc_persist.c). What makes several nodes one
 * registrar is decided here, inside that transaction:
 * - every AOR of the group is locked first (pg_advisory_xact_lock on a 64-bit hash of its
 *   name, in ascending key order so two nodes' writers never deadlock);
 * - an edit that adds a contact is first counted against the table: if the AOR would hold
 *   more live rows than max-contacts (another node added one meanwhile), that edit alone is
 *   not written and its REGISTER is answered 503 + Retry-After (memory is reverted; the
 *   winner's notification brings the AOR up to date);
 * - a removal for expiry deletes the row only if it is still expired, a removal that finds
 *   no row was made by another node first: either way its change is marked skip, so its
 *   event fires on the node that won the DELETE only (once for the cluster);
 * - every change that stays is announced with pg_notify() in the same transaction (one
 *   statement for the group): it is delivered to the other nodes at commit, never for an
 *   edit that did not commit (loc_cluster.c).
 * A failed statement or a lost connection fails the whole group (503 for each REGISTER); the
 * next group reconnects. Statements are unprepared (label NULL → PQexecParams), so nothing
 * server-side is lost with a connection. Transactions are plain BEGIN/COMMIT queries:
 * apr_dbd_transaction_start() of apr-util 1.6 dereferences NULL when BEGIN fails on a dead
 * connection (dbd_pgsql_start_transaction), which is exactly the case we must survive.
 *
 * Only the writer thread uses a loc_store_t after start-up; the listener has its own
 * connection (loc_pg_*).
 */
#include "loc_internal.h"
#include <apr_dbd.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION 1
#define SCHEMA_LOCK "7235000101" /* advisory lock key for migrations */

struct loc_store {
    apr_pool_t *pool;
    apr_pool_t *scratch;
    const char *dsn;
    loc_pg_t pg;
    apr_dbd_prepared_t *put, *del, *del_expired, *live, *lock, *notify;
    int down_logged;
};

/* ---- connections (shared with the listener) ------------------------------------------- */

const char *loc_pg_dsn(const char *dsn, const char *role, apr_pool_t *pool)
{
    /* key=value strings only (a URI takes no appended keys); a later key wins in libpq */
    if (!strncmp(dsn, "postgres", 8))
        return dsn;
    char *name = apr_pstrcat(pool, "aorta-", role, "-", aorta_core_switchname(), NULL), *q = name;
    for (; *q; q++)
        if (*q == '\'' || *q == '\\' || *q == ' ')
            *q = '_';
    return apr_pstrcat(pool, dsn, " application_name='", name, "'", NULL);
}

apr_status_t loc_pg_open(loc_pg_t *c, const char *dsn, apr_pool_t *parent, int quiet)
{
    const char *err = NULL;
    memset(c, 0, sizeof *c);
    apr_pool_create(&c->pool, parent);
    apr_dbd_init(c->pool);
    if (apr_dbd_get_driver(c->pool, "pgsql", &c->drv) != APR_SUCCESS) {
        aorta_log(AORTA_LOG_ERR, "location: apr_dbd pgsql driver not available (install libaprutil1-dbd-pgsql)");
        goto fail;
    }
    if (apr_dbd_open_ex(c->drv, c->pool, dsn, &c->h, &err) != APR_SUCCESS) {
        if (!quiet)
            aorta_log(AORTA_LOG_ERR, "location: cannot connect to PostgreSQL: %s", err ? err : "unknown error");
        c->h = NULL;
        goto fail;
    }
    return APR_SUCCESS;
fail:
    apr_pool_destroy(c->pool);
    memset(c, 0, sizeof *c);
    return AORTA_ESTORE;
}

void loc_pg_close(loc_pg_t *c)
{
    if (c->h)
        apr_dbd_close(c->drv, c->h);
    if (c->pool)
        apr_pool_destroy(c->pool);
    memset(c, 0, sizeof *c);
}

apr_status_t loc_pg_exec(loc_pg_t *c, const char *sql)
{
    int nrows = 0;
    int rc = apr_dbd_query(c->drv, c->h, &nrows, sql);
    if (rc) {
        aorta_log(AORTA_LOG_ERR, "location: pgsql: %s: %s", sql, apr_dbd_error(c->drv, c->h, rc));
        return AORTA_ESTORE;
    }
    return APR_SUCCESS;
}

apr_status_t loc_pg_contacts(loc_pg_t *c, const char *aor, apr_pool_t *p, loc_store_row_fn fn, void *user, int *n)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    apr_dbd_prepared_t *st = NULL;
    int rc;
    *n = 0;
    if (aor) {
        /* aor: one name, or a PostgreSQL array literal of names ("{...}") */
        if ((rc = apr_dbd_prepare(c->drv, p, c->h,
                                  *aor == '{' ? "SELECT " LOC_PG_COLS " FROM aorta_location WHERE aor = ANY(%s::text[])"
                                              : "SELECT " LOC_PG_COLS " FROM aorta_location WHERE aor = %s",
                                  NULL, &st)) == 0)
            rc = apr_dbd_pvselect(c->drv, p, c->h, &res, st, 1, aor);
    } else {
        rc = apr_dbd_select(c->drv, p, c->h, &res, "SELECT " LOC_PG_COLS " FROM aorta_location", 1);
    }
    if (rc) {
        aorta_log(AORTA_LOG_ERR, "location: pgsql: reading contacts failed: %s", apr_dbd_error(c->drv, c->h, rc));
        return AORTA_ESTORE;
    }
    while (apr_dbd_get_row(c->drv, p, res, &row, -1) == 0) {
        const char *col[17];
        for (int i = 0; i < 17; i++)
            col[i] = apr_dbd_get_entry(c->drv, row, i);
        loc_contact_t *ct = loc_store_row_contact(col);
        if (ct) {
            fn(ct, user);
            (*n)++;
        }
    }
    return APR_SUCCESS;
}

/* ---- schema ------------------------------------------------------------------------- */

static apr_status_t pg_migrate(loc_pg_t *c, apr_pool_t *p)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    apr_status_t rv;
    int version = 0, rc;
    if ((rv = loc_pg_exec(c, "BEGIN")) != APR_SUCCESS)
        return rv;
    if ((rv = loc_pg_exec(c, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ")")) != APR_SUCCESS ||
        (rv = loc_pg_exec(c, "CREATE TABLE IF NOT EXISTS aorta_schema (component text PRIMARY KEY, "
                             "version integer NOT NULL)")) != APR_SUCCESS)
        goto done;
    if ((rc = apr_dbd_select(c->drv, p, c->h, &res, "SELECT version FROM aorta_schema WHERE component = 'location'",
                             1))) {
        aorta_log(AORTA_LOG_ERR, "location: pgsql: reading the schema version: %s", apr_dbd_error(c->drv, c->h, rc));
        rv = AORTA_ESTORE;
        goto done;
    }
    while (apr_dbd_get_row(c->drv, p, res, &row, -1) == 0)
        version = atoi(apr_dbd_get_entry(c->drv, row, 0));
    if (version > SCHEMA_VERSION) {
        aorta_log(AORTA_LOG_ERR, "location: pgsql: schema version %d is newer than this build's (%d)", version,
                  SCHEMA_VERSION);
        rv = AORTA_ESTORE;
        goto done;
    }
    if (version < 1) {
        /* version 1: the table and its expiry index */
        if ((rv = loc_pg_exec(c, "CREATE TABLE IF NOT EXISTS aorta_location (aor text NOT NULL, uri text NOT NULL, "
                                 "params text, path text, user_agent text, call_id text, cseq bigint, "
                                 "expires bigint NOT NULL, registered bigint, q integer, src_ip text, "
                                 "src_port integer, transport text, instance text, reg_id text, endpoint text, "
                                 "profile text, node text, PRIMARY KEY (aor, uri))")) != APR_SUCCESS ||
            (rv = loc_pg_exec(c, "CREATE INDEX IF NOT EXISTS aorta_location_expires ON aorta_location (expires)")) !=
                APR_SUCCESS ||
            (rv = loc_pg_exec(c, "INSERT INTO aorta_schema (component, version) VALUES ('location', 1) "
                                 "ON CONFLICT (component) DO UPDATE SET version = 1")) != APR_SUCCESS)
            goto done;
        aorta_log(AORTA_LOG_NOTICE, "location: pgsql: created schema version %d", SCHEMA_VERSION);
    }
done:
    if (rv != APR_SUCCESS) {
        loc_pg_exec(c, "ROLLBACK");
        return rv;
    }
    return loc_pg_exec(c, "COMMIT");
}

/* ---- the writer's connection -------------------------------------------------------- */

static void pg_disconnect(loc_store_t *s)
{
    loc_pg_close(&s->pg);
}

static apr_status_t pg_connect(loc_store_t *s)
{
    apr_pool_t *p;
    if (loc_pg_open(&s->pg, s->dsn, s->pool, s->down_logged) != APR_SUCCESS)
        return AORTA_ESTORE;
    p = s->pg.pool;
    /* apr_dbd_prepare reuses a non-NULL *statement: the old ones died with the old pool */
    s->put = s->del = s->del_expired = s->live = s->lock = s->notify = NULL;
#define PREP(sql, st) apr_dbd_prepare(s->pg.drv, p, s->pg.h, sql, NULL, st)
    if (PREP("INSERT INTO aorta_location (" LOC_PG_COLS ", node) VALUES (%s, %s, %s, %s, %s, %s, %s::bigint, "
             "%s::bigint, %s::bigint, %s::integer, %s, %s::integer, %s, %s, %s, %s, %s, %s) "
             "ON CONFLICT (aor, uri) DO UPDATE SET params = EXCLUDED.params, path = EXCLUDED.path, "
             "user_agent = EXCLUDED.user_agent, call_id = EXCLUDED.call_id, cseq = EXCLUDED.cseq, "
             "expires = EXCLUDED.expires, registered = EXCLUDED.registered, q = EXCLUDED.q, "
             "src_ip = EXCLUDED.src_ip, src_port = EXCLUDED.src_port, transport = EXCLUDED.transport, "
             "instance = EXCLUDED.instance, reg_id = EXCLUDED.reg_id, endpoint = EXCLUDED.endpoint, "
             "profile = EXCLUDED.profile, node = EXCLUDED.node",
             &s->put) ||
        PREP("DELETE FROM aorta_location WHERE aor = %s AND uri = %s", &s->del) ||
        PREP("DELETE FROM aorta_location WHERE aor = %s AND uri = %s AND expires <= %s::bigint", &s->del_expired) ||
        PREP("SELECT uri FROM aorta_location WHERE aor = %s AND expires > %s::bigint", &s->live) ||
        /* OFFSET 0 keeps the sorted subquery apart: the locks are taken in key order */
        PREP("SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT k FROM unnest(%s::bigint[]) AS k ORDER BY k "
             "OFFSET 0) AS s", &s->lock) ||
        PREP("SELECT count(pg_notify('" LOC_CLUSTER_CHANNEL "', n)) FROM unnest(%s::text[]) WITH ORDINALITY "
             "AS t(n, i)", &s->notify)) {
        aorta_log(AORTA_LOG_ERR, "location: pgsql: cannot prepare statements");
        pg_disconnect(s);
        return AORTA_ESTORE;
    }
#undef PREP
    if (s->down_logged)
        aorta_log(AORTA_LOG_NOTICE, "location: pgsql: connected again; REGISTERs are accepted");
    s->down_logged = 0;
    return APR_SUCCESS;
}

static apr_status_t pg_open(loc_store_t **out, const char *dsn, int sync_full, apr_pool_t *pool)
{
    (void)sync_full; /* PostgreSQL's own synchronous_commit decides */
    loc_store_t *s = apr_pcalloc(pool, sizeof *s);
    apr_status_t rv;
    s->pool = pool;
    s->dsn = loc_pg_dsn(dsn, "writer", pool);
    apr_pool_create(&s->scratch, pool);
    if ((rv = pg_connect(s)) != APR_SUCCESS)
        return rv;
    if ((rv = pg_migrate(&s->pg, s->scratch)) != APR_SUCCESS) {
        pg_disconnect(s);
        return rv;
    }
    apr_pool_clear(s->scratch);
    *out = s;
    return APR_SUCCESS;
}

static apr_status_t pg_load(loc_store_t *s, apr_time_t now, loc_store_row_fn fn, void *user)
{
    /* expired rows are loaded too (readers never see them): the sweeper expires them through
     * the ordinary path, so their events fire once for the cluster */
    int n = 0;
    apr_status_t rv = loc_pg_contacts(&s->pg, NULL, s->scratch, fn, user, &n);
    apr_pool_clear(s->scratch);
    if (rv == APR_SUCCESS)
        aorta_log(AORTA_LOG_INFO, "location: loaded %d contacts from pgsql", n);
    return rv;
}

/* ---- writing -------------------------------------------------------------------------- */

static const char *i64(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

/* The advisory lock key of an AOR: FNV-1a 64 (the same on every node). */
static apr_int64_t aor_key(const char *aor)
{
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);
    for (const unsigned char *p = (const unsigned char *)aor; *p; p++)
        h = (h ^ *p) * APR_UINT64_C(1099511628211);
    return (apr_int64_t)h;
}

static int key_cmp(const void *a, const void *b)
{
    apr_int64_t x = *(const apr_int64_t *)a, y = *(const apr_int64_t *)b;
    return x < y ? -1 : x > y;
}

static int batch_adds(const loc_batch_t *b)
{
    for (int i = 0; i < b->nchanges; i++)
        if (b->changes[i].kind == LOC_CHANGE_NEW)
            return 1;
    return 0;
}

/* The reason the batch removes @p c for (REMOVE change with the same contact), or NONE. */
static loc_reason_t batch_remove_reason(const loc_batch_t *b, const loc_contact_t *c)
{
    for (int i = 0; i < b->nchanges; i++)
        if (b->changes[i].kind == LOC_CHANGE_REMOVE && b->changes[i].contact == c)
            return b->changes[i].reason;
    return LOC_REASON_NONE;
}

static void batch_skip_remove(loc_batch_t *b, const loc_contact_t *c)
{
    for (int i = 0; i < b->nchanges; i++)
        if (b->changes[i].kind == LOC_CHANGE_REMOVE && b->changes[i].contact == c)
            b->changes[i].skip = 1;
}

/* A PostgreSQL array literal of @p n strings (for unnest / ANY). */
const char *loc_pg_array(const char *const *v, int n, apr_pool_t *p)
{
    apr_size_t len = 3;
    for (int i = 0; i < n; i++)
        len += 2 * strlen(v[i]) + 3;
    char *out = apr_palloc(p, len), *o = out;
    *o++ = '{';
    for (int i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '"';
        for (const char *c = v[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                *o++ = '\\';
            *o++ = *c;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = 0;
    return out;
}

/*
 * Would @p b leave its AOR above max-contacts? Counted in the table (every node's rows, and
 * this group's earlier edits: the AOR is locked) before writing, so a refused edit writes
 * nothing and needs no savepoint. Only an edit that adds a contact can be refused.
 */
static int batch_conflicts(loc_store_t *s, apr_pool_t *p, loc_batch_t *b, const loc_conf_t *conf,
                           const char *snow, int *rc)
{
    const loc_aor_conf_t *ac = conf ? apr_hash_get(conf->aors, b->aor, APR_HASH_KEY_STRING) : NULL;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    *rc = 0;
    if (!ac || ac->max_contacts <= 0 || !batch_adds(b))
        return 0;
    if ((*rc = apr_dbd_pvselect(s->pg.drv, p, s->pg.h, &res, s->live, 1, b->aor, snow)))
        return 0;
    apr_hash_t *uris = apr_hash_make(p);
    while (apr_dbd_get_row(s->pg.drv, p, res, &row, -1) == 0) {
        const char *u = apr_dbd_get_entry(s->pg.drv, row, 0);
        if (u)
            apr_hash_set(uris, apr_pstrdup(p, u), APR_HASH_KEY_STRING, "");
    }
    for (int i = 0; i < b->nops; i++)
        apr_hash_set(uris, b->ops[i].contact->uri, APR_HASH_KEY_STRING, b->ops[i].kind == LOC_OP_PUT ? "" : NULL);
    return (int)apr_hash_count(uris) > ac->max_contacts;
}

/* One batch inside the transaction: its row operations; the payloads of its changes that
 * stay go to @p notes. Returns non-zero on an SQL error (the group fails). */
static int batch_write(loc_store_t *s, apr_pool_t *p, loc_batch_t *b, const char *snow, const char *node,
                       apr_array_header_t *notes)
{
    const apr_dbd_driver_t *drv = s->pg.drv;
    apr_dbd_t *h = s->pg.h;
    int rc = 0, nrows;
    for (int i = 0; i < b->nops && !rc; i++) {
        const loc_contact_t *c = b->ops[i].contact;
        if (b->ops[i].kind == LOC_OP_DEL) {
            loc_reason_t why = batch_remove_reason(b, c);
            nrows = 0;
            if (why == LOC_REASON_EXPIRED)
                rc = apr_dbd_pvquery(drv, p, h, &nrows, s->del_expired, c->aor, c->uri, snow);
            else
                rc = apr_dbd_pvquery(drv, p, h, &nrows, s->del, c->aor, c->uri);
            if (!rc && nrows == 0)
                batch_skip_remove(b, c); /* refreshed or removed by another node first */
        } else {
            rc = apr_dbd_pvquery(drv, p, h, &nrows, s->put, c->aor, c->uri, c->params, c->path, c->user_agent,
                                 c->call_id, i64(p, c->cseq), i64(p, c->expires), i64(p, c->registered),
                                 c->q < 0 ? NULL : i64(p, c->q), c->src_ip, i64(p, c->src_port), c->transport,
                                 c->instance, c->reg_id, c->endpoint, c->profile, node);
        }
    }
    for (int i = 0; i < b->nchanges && !rc; i++)
        if (!b->changes[i].skip)
            APR_ARRAY_PUSH(notes, const char *) = loc_cluster_encode(node, &b->changes[i], b->count_after, p);
    return rc;
}

static apr_status_t pg_apply_group(loc_store_t *s, loc_batch_t *group)
{
    apr_pool_t *p = s->scratch;
    apr_status_t rv = APR_SUCCESS;
    const char *node = aorta_core_switchname();
    apr_time_t now = apr_time_now();
    int rc = 0, nrows, nkeys = 0, nb = 0;

    if (s->pg.h && apr_dbd_check_conn(s->pg.drv, p, s->pg.h) != APR_SUCCESS)
        pg_disconnect(s);
    if (!s->pg.h && pg_connect(s) != APR_SUCCESS) {
        if (!s->down_logged)
            aorta_log(AORTA_LOG_ERR, "location: pgsql: database unreachable; REGISTERs are answered 503 until it "
                                     "returns");
        s->down_logged = 1;
        return AORTA_ESTORE;
    }
    const apr_dbd_driver_t *drv = s->pg.drv;
    apr_dbd_t *h = s->pg.h;
    const char *snow = i64(p, now);

    for (loc_batch_t *b = group; b; b = b->next)
        nb++;
    apr_int64_t *keys = apr_palloc(p, sizeof *keys * (apr_size_t)nb);
    for (loc_batch_t *b = group; b; b = b->next)
        keys[nkeys++] = aor_key(b->aor);
    qsort(keys, (size_t)nkeys, sizeof *keys, key_cmp);
    const char **skeys = apr_palloc(p, sizeof *skeys * (apr_size_t)nkeys);
    int nskeys = 0;
    for (int i = 0; i < nkeys; i++)
        if (i == 0 || keys[i] != keys[i - 1])
            skeys[nskeys++] = i64(p, keys[i]);
    apr_array_header_t *notes = apr_array_make(p, nb * 2, sizeof(const char *));

    aorta_config_gen_t *gen = NULL;
    const loc_conf_t *conf = loc_conf_acquire(&gen);

    /* every AOR of the group locked at once, in ascending key order (see the header) */
    rc = apr_dbd_query(drv, h, &nrows, "BEGIN");
    if (!rc)
        rc = apr_dbd_pvquery(drv, p, h, &nrows, s->lock, loc_pg_array(skeys, nskeys, p));
    for (loc_batch_t *b = group; b && !rc; b = b->next) {
        if (batch_conflicts(s, p, b, conf, snow, &rc)) {
            aorta_log(AORTA_LOG_NOTICE, "location: pgsql: AOR %s: another node filled max-contacts first; the "
                                        "edit is refused (503)", b->aor);
            b->st = AORTA_ESTORE;
            continue;
        }
        if (!rc)
            rc = batch_write(s, p, b, snow, node, notes);
    }
    /* delivered to the other nodes at COMMIT, in this order */
    if (!rc && notes->nelts)
        rc = apr_dbd_pvquery(drv, p, h, &nrows, s->notify,
                             loc_pg_array((const char *const *)notes->elts, notes->nelts, p));
    if (!rc)
        rc = apr_dbd_query(drv, h, &nrows, "COMMIT");
    if (rc) {
        aorta_log(AORTA_LOG_ERR, "location: pgsql: write failed: %s", apr_dbd_error(drv, h, rc));
        apr_dbd_query(drv, h, &nrows, "ROLLBACK");
        rv = AORTA_ESTORE;
    }
    if (gen)
        aorta_module_config_release(gen);
    apr_pool_clear(p);
    if (rv != APR_SUCCESS && apr_dbd_check_conn(drv, p, h) != APR_SUCCESS)
        pg_disconnect(s); /* the next group reconnects */
    apr_pool_clear(p);
    return rv;
}

static apr_status_t pg_apply(loc_store_t *s, const loc_op_t *ops, int n)
{
    /* the writer uses apply_group; this is never reached for pgsql */
    return APR_ENOTIMPL;
}

static void pg_close(loc_store_t *s)
{
    if (s)
        pg_disconnect(s);
}

const loc_store_ops_t loc_store_pgsql = {"pgsql", 1, pg_open, pg_load, pg_apply, pg_close, pg_apply_group};
