/*
 * loc_cluster.c — what keeps several nodes on one pgsql store coherent: a thread with its
 * own connection that LISTENs on LOC_CLUSTER_CHANNEL.
 *
 * Every committed change is NOTIFYed by the node that made it (loc_store_pgsql.c), inside its
 * transaction, with a JSON payload naming the origin node and the contact. For each batch of
 * notifications this thread:
 * 1. reloads the AORs they name from the table into memory (also for our own: a reload
 *    triggered by another node may have run before our commit), so memory follows the table
 *    whatever order notifications and local edits interleave in;
 * 2. hands every change made by another node to the subscribers (the registrar fires its
 *    events with origin-node = that node). Our own changes were notified by the writer.
 * On (re)connection it LISTENs first and then reloads the whole table: changes missed while
 * disconnected are applied to memory (their events are not replayed).
 *
 * libpq is used directly only for what apr_dbd lacks (the socket, PQconsumeInput,
 * PQnotifies), on the handle apr_dbd_native_handle() returns.
 */
#include "loc_internal.h"
#include <apr_dbd.h>
#include <apr_strings.h>
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

struct loc_cluster {
    loc_t *loc;
    const char *dsn;
    apr_pool_t *pool;
    apr_pool_t *scratch;
    apr_thread_t *thread;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    volatile int stop;
    loc_pg_t pg;
    int was_connected;
};

/* ---- payload ---------------------------------------------------------------------------- */

static const char *const kinds[] = {"new", "refresh", "remove"};

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

static json_t *encode_obj(const char *node, const loc_change_rec_t *ch, int count_after, int full)
{
    const loc_contact_t *c = ch->contact;
    json_t *o = json_object(), *jc = json_object();
    set_str(o, "o", node);
    json_object_set_new(o, "k", json_string(kinds[ch->kind]));
    json_object_set_new(o, "r", json_integer(ch->reason));
    json_object_set_new(o, "n", json_integer(count_after));
    set_str(jc, "aor", c->aor);
    set_str(jc, "uri", c->uri);
    if (full) {
        set_str(jc, "params", c->params);
        set_str(jc, "path", c->path);
        set_str(jc, "user_agent", c->user_agent);
        set_str(jc, "call_id", c->call_id);
    }
    set_str(jc, "instance", c->instance);
    set_str(jc, "reg_id", c->reg_id);
    set_str(jc, "endpoint", c->endpoint);
    set_str(jc, "profile", c->profile);
    set_str(jc, "src_ip", c->src_ip);
    set_str(jc, "transport", c->transport);
    json_object_set_new(jc, "src_port", json_integer(c->src_port));
    json_object_set_new(jc, "q", json_integer(c->q));
    json_object_set_new(jc, "cseq", json_integer(c->cseq));
    json_object_set_new(jc, "expires", json_integer(c->expires));
    json_object_set_new(jc, "registered", json_integer(c->registered));
    json_object_set_new(o, "c", jc);
    return o;
}

const char *loc_cluster_encode(const char *node, const loc_change_rec_t *ch, int count_after, apr_pool_t *pool)
{
    const char *out = NULL;
    for (int full = 1; full >= 0 && !out; full--) {
        json_t *o = encode_obj(node, ch, count_after, full);
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (s && (strlen(s) <= LOC_CLUSTER_PAYLOAD_MAX || !full))
            out = apr_pstrdup(pool, s);
        free(s);
    }
    return out;
}

static const char *get_str(json_t *o, const char *k, apr_pool_t *pool)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? apr_pstrdup(pool, v) : NULL;
}

static apr_int64_t get_int(json_t *o, const char *k, apr_int64_t dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (apr_int64_t)json_integer_value(v) : dflt;
}

apr_status_t loc_cluster_decode(const char *payload, apr_pool_t *pool, const char **node, loc_change_kind_t *kind,
                                loc_reason_t *reason, int *count_after, loc_contact_t *t)
{
    json_t *o = payload ? json_loads(payload, 0, NULL) : NULL;
    json_t *jc = o ? json_object_get(o, "c") : NULL;
    const char *k = o ? json_string_value(json_object_get(o, "k")) : NULL;
    apr_status_t rv = APR_EINVAL;
    memset(t, 0, sizeof *t);
    if (!json_is_object(jc) || !k)
        goto out;
    *kind = !strcmp(k, "new") ? LOC_CHANGE_NEW : !strcmp(k, "refresh") ? LOC_CHANGE_REFRESH : LOC_CHANGE_REMOVE;
    *reason = (loc_reason_t)get_int(o, "r", 0);
    *count_after = (int)get_int(o, "n", 0);
    *node = get_str(o, "o", pool);
    t->aor = get_str(jc, "aor", pool);
    t->uri = get_str(jc, "uri", pool);
    t->params = get_str(jc, "params", pool);
    t->path = get_str(jc, "path", pool);
    t->user_agent = get_str(jc, "user_agent", pool);
    t->call_id = get_str(jc, "call_id", pool);
    t->instance = get_str(jc, "instance", pool);
    t->reg_id = get_str(jc, "reg_id", pool);
    t->endpoint = get_str(jc, "endpoint", pool);
    t->profile = get_str(jc, "profile", pool);
    t->src_ip = get_str(jc, "src_ip", pool);
    t->transport = get_str(jc, "transport", pool);
    t->src_port = (apr_port_t)get_int(jc, "src_port", 0);
    t->q = (int)get_int(jc, "q", -1);
    t->cseq = (apr_uint32_t)get_int(jc, "cseq", 0);
    t->expires = (apr_time_t)get_int(jc, "expires", 0);
    t->registered = (apr_time_t)get_int(jc, "registered", 0);
    if (t->aor && t->uri && *node)
        rv = APR_SUCCESS;
out:
    if (o)
        json_decref(o);
    return rv;
}

/* ---- the listener ----------------------------------------------------------------------- */

static void collect_row_by_aor(loc_contact_t *c, void *user)
{
    apr_hash_t *h = user;
    apr_array_header_t *a = apr_hash_get(h, c->aor, APR_HASH_KEY_STRING);
    if (!a) {
        a = apr_array_make(apr_hash_pool_get(h), 4, sizeof(const loc_contact_t *));
        apr_hash_set(h, apr_pstrdup(apr_hash_pool_get(h), c->aor), APR_HASH_KEY_STRING, a);
    }
    APR_ARRAY_PUSH(a, const loc_contact_t *) = c;
}

static apr_status_t resync(loc_cluster_t *cl)
{
    apr_pool_t *p = cl->scratch;
    apr_hash_t *rows = apr_hash_make(p);
    int n = 0;
    apr_status_t rv = loc_pg_contacts(&cl->pg, NULL, p, collect_row_by_aor, rows, &n);
    if (rv == APR_SUCCESS) {
        loc_table_resync(cl->loc, rows);
        aorta_log(AORTA_LOG_INFO, "location: cluster: listening on %s; memory resynchronised (%d contacts)",
                  LOC_CLUSTER_CHANNEL, n);
    } else {
        for (apr_hash_index_t *hi = apr_hash_first(p, rows); hi; hi = apr_hash_next(hi)) {
            apr_array_header_t *a = apr_hash_this_val(hi);
            for (int i = 0; i < a->nelts; i++)
                loc_contact_unref(APR_ARRAY_IDX(a, i, const loc_contact_t *));
        }
    }
    apr_pool_clear(p);
    return rv;
}

typedef struct remote_change {
    const char *node;
    loc_change_kind_t kind;
    loc_reason_t reason;
    int count;
    loc_contact_t *c;
} remote_change_t;

/* Drain the notifications libpq holds; returns how many, -1 when the connection failed. */
static int drain(loc_cluster_t *cl)
{
    PGconn *pc = apr_dbd_native_handle(cl->pg.drv, cl->pg.h);
    apr_pool_t *p = cl->scratch;
    apr_array_header_t *changes = apr_array_make(p, 16, sizeof(remote_change_t));
    apr_hash_t *aors = apr_hash_make(p);
    PGnotify *nf;
    int failed = 0;
    while ((nf = PQnotifies(pc))) {
        remote_change_t rc;
        loc_contact_t t;
        if (loc_cluster_decode(nf->extra, p, &rc.node, &rc.kind, &rc.reason, &rc.count, &t) == APR_SUCCESS) {
            rc.c = loc_contact_new(&t);
            APR_ARRAY_PUSH(changes, remote_change_t) = rc;
            apr_hash_set(aors, rc.c->aor, APR_HASH_KEY_STRING, rc.c->aor);
        } else {
            aorta_log(AORTA_LOG_WARNING, "location: cluster: ignoring a malformed notification");
        }
        PQfreemem(nf);
    }
    if (changes->nelts)
        aorta_log(AORTA_LOG_DEBUG, "location: cluster: %d notifications, %u AORs to reload", changes->nelts,
                  apr_hash_count(aors));
    /* memory first, so that a subscriber reacting to the change reads the new state; one
     * SELECT for every AOR named (an AOR without rows any more gets an empty array) */
    if (apr_hash_count(aors)) {
        const char **names = apr_palloc(p, sizeof *names * apr_hash_count(aors));
        int nn = 0, n = 0;
        apr_hash_t *rows = apr_hash_make(p);
        for (apr_hash_index_t *hi = apr_hash_first(p, aors); hi; hi = apr_hash_next(hi)) {
            names[nn] = apr_hash_this_key(hi);
            apr_hash_set(rows, names[nn], APR_HASH_KEY_STRING, apr_array_make(p, 4, sizeof(const loc_contact_t *)));
            nn++;
        }
        if (loc_pg_contacts(&cl->pg, loc_pg_array(names, nn, p), p, collect_row_by_aor, rows, &n) != APR_SUCCESS)
            failed = 1; /* the reconnection resynchronises everything */
        for (apr_hash_index_t *hi = apr_hash_first(p, rows); hi; hi = apr_hash_next(hi)) {
            apr_array_header_t *a = apr_hash_this_val(hi);
            if (failed) {
                for (int i = 0; i < a->nelts; i++)
                    loc_contact_unref(APR_ARRAY_IDX(a, i, const loc_contact_t *));
            } else {
                loc_table_replace(cl->loc, apr_hash_this_key(hi), (const loc_contact_t **)a->elts, a->nelts);
            }
        }
    }
    for (int i = 0; i < changes->nelts; i++) {
        remote_change_t *rc = &APR_ARRAY_IDX(changes, i, remote_change_t);
        if (strcmp(rc->node, cl->loc->node)) {
            loc_change_t ch = {rc->kind, rc->reason, rc->c, rc->count, NULL, rc->node};
            loc_notify(cl->loc, &ch);
        }
        loc_contact_unref(rc->c);
    }
    int n = changes->nelts;
    apr_pool_clear(p);
    return failed ? -1 : n;
}

static void wait_a_second(loc_cluster_t *cl)
{
    apr_thread_mutex_lock(cl->lock);
    if (!cl->stop)
        apr_thread_cond_timedwait(cl->cond, cl->lock, apr_time_from_sec(1));
    apr_thread_mutex_unlock(cl->lock);
}

static void *APR_THREAD_FUNC cluster_main(apr_thread_t *thr, void *data)
{
    aorta_thread_name("loc-cluster");
    loc_cluster_t *cl = data;
    while (!cl->stop) {
        if (!cl->pg.h) {
            if (loc_pg_open(&cl->pg, cl->dsn, cl->pool, cl->was_connected) != APR_SUCCESS) {
                wait_a_second(cl);
                continue;
            }
            if (loc_pg_exec(&cl->pg, "LISTEN " LOC_CLUSTER_CHANNEL) != APR_SUCCESS || resync(cl) != APR_SUCCESS) {
                loc_pg_close(&cl->pg);
                wait_a_second(cl);
                continue;
            }
            cl->was_connected = 1;
        }
        PGconn *pc = apr_dbd_native_handle(cl->pg.drv, cl->pg.h);
        int n;
        while ((n = drain(cl)) > 0)
            ;
        if (n < 0) {
            loc_pg_close(&cl->pg);
            continue;
        }
        struct pollfd pfd = {PQsocket(pc), POLLIN, 0};
        int r = poll(&pfd, 1, 200);
        if (r < 0 && errno != EINTR) {
            aorta_log(AORTA_LOG_ERR, "location: cluster: poll: %s", strerror(errno));
            loc_pg_close(&cl->pg);
            continue;
        }
        if (r > 0 && (!PQconsumeInput(pc) || PQstatus(pc) != CONNECTION_OK)) {
            aorta_log(AORTA_LOG_WARNING, "location: cluster: lost the database connection (%s); memory will be "
                                         "resynchronised when it returns", PQerrorMessage(pc));
            loc_pg_close(&cl->pg);
        }
    }
    loc_pg_close(&cl->pg);
    return NULL;
}

apr_status_t loc_cluster_start(loc_t *loc, const char *dsn)
{
    loc_cluster_t *cl = apr_pcalloc(loc->pool, sizeof *cl);
    apr_status_t rv;
    cl->loc = loc;
    cl->dsn = loc_pg_dsn(dsn, "listener", loc->pool);
    apr_pool_create(&cl->pool, loc->pool);
    apr_pool_create(&cl->scratch, loc->pool);
    if ((rv = apr_thread_mutex_create(&cl->lock, APR_THREAD_MUTEX_DEFAULT, loc->pool)) != APR_SUCCESS ||
        (rv = apr_thread_cond_create(&cl->cond, loc->pool)) != APR_SUCCESS ||
        (rv = apr_thread_create(&cl->thread, NULL, cluster_main, cl, loc->pool)) != APR_SUCCESS)
        return rv;
    loc->cluster = cl;
    return APR_SUCCESS;
}

void loc_cluster_stop(loc_t *loc)
{
    loc_cluster_t *cl = loc->cluster;
    apr_status_t rv;
    if (!cl || !cl->thread)
        return;
    apr_thread_mutex_lock(cl->lock);
    cl->stop = 1;
    apr_thread_cond_signal(cl->cond);
    apr_thread_mutex_unlock(cl->lock);
    apr_thread_join(&rv, cl->thread);
    cl->thread = NULL;
    loc->cluster = NULL;
}
