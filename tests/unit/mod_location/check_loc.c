/*
 * check_loc.c — mod_location's logic without the daemon: the contact order, expiry
 * arithmetic, dial-string legs, per-AOR edits with change notifications (memory store),
 * expiry sweeps, the SQLite store's write / purge / load cycle, and for the shared (pgsql)
 * store: the NOTIFY payload codec, per-batch verdicts of apply_group (skipped changes fire
 * no event, a refused batch reverts) and table resynchronisation.
 */
#include "../check_common.h"
#include "mod_location/loc_internal.h"

static loc_contact_t *mk(const char *uri, int q, apr_time_t registered, apr_time_t expires)
{
    loc_contact_t t;
    memset(&t, 0, sizeof t);
    t.aor = "5000";
    t.uri = uri;
    t.q = q;
    t.registered = registered;
    t.expires = expires;
    t.call_id = "cid";
    t.src_ip = "127.0.0.1";
    t.src_port = 5060;
    t.transport = "udp";
    return loc_contact_new(&t);
}

START_TEST(test_order)
{
    apr_time_t t0 = apr_time_from_sec(1000000);
    const loc_contact_t *v[5];
    v[0] = mk("sip:a@h", 500, t0 + 3, t0 + 100);              /* q 0.5, newest */
    v[1] = mk("sip:b@h", -1, t0 + 1, t0 + 100);               /* no q = 1.0, older */
    v[2] = loc_contact_static("5000", "internal", "sip:s@h"); /* static: after registered */
    v[3] = mk("sip:c@h", 1000, t0 + 2, t0 + 100);             /* q 1.0, newer than b */
    loc_contact_t *u = mk("sip:d@h", 1000, t0 + 9, t0 + 100);
    u->qualify = LOC_QUALIFY_UNREACHABLE;                     /* unreachable: last of all */
    v[4] = u;
    loc_contact_sort(v, 5);
    ck_assert_str_eq(v[0]->uri, "sip:c@h");
    ck_assert_str_eq(v[1]->uri, "sip:b@h");
    ck_assert_str_eq(v[2]->uri, "sip:a@h");
    ck_assert_str_eq(v[3]->uri, "sip:s@h");
    ck_assert_str_eq(v[4]->uri, "sip:d@h");
    for (int i = 0; i < 5; i++)
        loc_contact_unref(v[i]);
}
END_TEST

START_TEST(test_contact_copy_and_refs)
{
    char uri[32];
    strcpy(uri, "sip:x@h");
    loc_contact_t t;
    memset(&t, 0, sizeof t);
    t.uri = uri;
    t.aor = "a";
    t.user_agent = ""; /* empty means absent */
    loc_contact_t *c = loc_contact_new(&t);
    uri[4] = 'y';
    ck_assert_str_eq(c->uri, "sip:x@h");
    ck_assert_ptr_null(c->user_agent);
    ck_assert_ptr_null(c->path);
    loc_contact_ref(c);
    ck_assert_uint_eq(c->refs, 2);
    loc_contact_unref(c);
    loc_contact_unref(c);
}
END_TEST

START_TEST(test_expiry_arithmetic)
{
    apr_time_t now = apr_time_from_sec(5000);
    loc_contact_t *c = mk("sip:a@h", -1, now, now + apr_time_from_sec(60));
    ck_assert_int_eq(loc_expire_remaining(c, now), 60);
    ck_assert_int_eq(loc_expire_remaining(c, now + 1), 60);              /* rounded up */
    ck_assert_int_eq(loc_expire_remaining(c, now + apr_time_from_sec(59) + 1), 1);
    ck_assert_int_eq(loc_expire_remaining(c, now + apr_time_from_sec(60)), 0);
    ck_assert_int_eq(loc_expire_remaining(c, now + apr_time_from_sec(90)), 0);
    loc_contact_unref(c);
    loc_contact_t *s = loc_contact_static("a", "p", "sip:s@h");
    ck_assert_int_eq(loc_expire_remaining(s, now), 0);
    loc_contact_unref(s);
}
END_TEST

START_TEST(test_dial_legs)
{
    ck_assert_str_eq(loc_dial_uri_with_user("sip:5000@10.0.0.1:5062;transport=tcp", "alice", pool),
                     "sip:alice@10.0.0.1:5062;transport=tcp");
    ck_assert_str_eq(loc_dial_uri_with_user("sip:10.0.0.1", "bob", pool), "sip:bob@10.0.0.1");
    ck_assert_str_eq(loc_dial_uri_with_user("sip:x@h", NULL, pool), "sip:x@h");
    const char *host;
    int port;
    loc_dial_uri_hostport("sips:u@[2001:db8::1]:5071;x=y", pool, &host, &port);
    ck_assert_str_eq(host, "2001:db8::1");
    ck_assert_int_eq(port, 5071);

    apr_time_t now = apr_time_now();
    /* Contact host:port equal to the source: no route needed */
    loc_contact_t *c = mk("sip:5000@127.0.0.1:5060", -1, now, now + apr_time_from_sec(60));
    ck_assert_ptr_null(loc_dial_route_reason(c));
    ck_assert_str_eq(loc_dial_leg("5000", c, NULL, pool), "sip/5000/sip:5000@127.0.0.1:5060");
    loc_contact_unref(c);
    /* default port 5060 counts as equal */
    c = mk("sip:5000@127.0.0.1", -1, now, now + apr_time_from_sec(60));
    ck_assert_ptr_null(loc_dial_route_reason(c));
    loc_contact_unref(c);
    /* NAT: Contact says a private address, the packet came from elsewhere */
    c = mk("sip:5000@192.168.1.20:5060", -1, now, now + apr_time_from_sec(60));
    ck_assert_str_eq(loc_dial_route_reason(c), "nat");
    ck_assert_str_eq(loc_dial_leg("5000", c, "9000", pool),
                     "[sip_network_destination=sip:127.0.0.1:5060;transport=udp]sip/5000/sip:9000@192.168.1.20:5060");
    loc_contact_unref(c);
    /* Path wins and its commas are escaped */
    loc_contact_t *base = mk("sip:5000@192.168.1.20:5060", -1, now, now + apr_time_from_sec(60));
    loc_contact_t t = *base;
    t.path = "<sip:p1.example;lr>,<sip:p2.example;lr>";
    c = loc_contact_new(&t);
    loc_contact_unref(base);
    ck_assert_str_eq(loc_dial_route_reason(c), "path");
    ck_assert_str_eq(loc_dial_leg("ep", c, NULL, pool),
                     "[sip_route=<sip:p1.example;lr>\\,<sip:p2.example;lr>]sip/ep/sip:5000@192.168.1.20:5060");
    loc_contact_unref(c);
}
END_TEST

/* ---- edits against the memory store ---------------------------------------------------- */

typedef struct seen {
    int n;
    loc_change_kind_t kind[16];
    loc_reason_t reason[16];
    char uri[16][64];
    int count[16];
} seen_t;

static void on_change(const loc_change_t *ch, void *user)
{
    seen_t *s = user;
    s->kind[s->n] = ch->kind;
    s->reason[s->n] = ch->reason;
    s->count[s->n] = ch->contact_count;
    snprintf(s->uri[s->n], 64, "%s", ch->contact->uri);
    s->n++;
}

static int done_n = -1;
static apr_status_t done_st = -1;
static void on_done(apr_status_t st, const loc_contact_t *const *v, int n, void *user)
{
    done_st = st;
    done_n = n;
}

static loc_t *make_loc(const loc_store_ops_t *ops, const char *dsn, seen_t *seen)
{
    loc_t *loc = apr_pcalloc(pool, sizeof *loc);
    loc->pool = pool;
    loc->store_ops = ops;
    ck_assert_int_eq(apr_thread_rwlock_create(&loc->sub_lock, pool), APR_SUCCESS);
    ck_assert_int_eq(loc_table_create(&loc->table, pool), APR_SUCCESS);
    ck_assert_int_eq(ops->open(&loc->store, dsn, 0, pool), APR_SUCCESS);
    loc_global = loc;
    ck_assert_int_eq(ops->load(loc->store, apr_time_now(), loc_table_load_row, loc), APR_SUCCESS);
    ck_assert_int_eq(loc_persist_start(&loc->persist, loc, pool), APR_SUCCESS);
    loc_sub_t *sub = apr_pcalloc(pool, sizeof *sub);
    sub->fn = on_change;
    sub->user = seen;
    loc->subs = sub;
    return loc;
}

static void close_loc(loc_t *loc)
{
    loc_persist_stop(loc->persist);
    loc->store_ops->close(loc->store);
    loc_table_destroy(loc->table);
    loc_global = NULL;
}

START_TEST(test_edit_memory)
{
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    loc_t *loc = make_loc(&loc_store_memory, NULL, &seen);
    apr_time_t now = apr_time_now();
    loc_editor_t *ed;
    int n;

    ck_assert_int_eq(loc_edit_begin("5000", &ed), APR_SUCCESS);
    loc_edit_contacts(ed, &n);
    ck_assert_int_eq(n, 0);
    loc_contact_t *a = mk("sip:a@h", 500, now, now + apr_time_from_sec(60));
    loc_contact_t *b = mk("sip:b@h", 900, now, now + apr_time_from_sec(60));
    loc_edit_put(ed, a, NULL);
    loc_edit_put(ed, b, NULL);
    ck_assert_int_eq(loc_edit_commit(ed, NULL, on_done, NULL), APR_SUCCESS);
    ck_assert_int_eq(done_st, APR_SUCCESS);
    ck_assert_int_eq(done_n, 2);
    ck_assert_int_eq(seen.n, 2);
    ck_assert_int_eq(seen.kind[0], LOC_CHANGE_NEW);
    ck_assert_int_eq(seen.count[1], 2);
    ck_assert_uint_eq(loc_count(), 2);

    apr_array_header_t *cs;
    loc_contacts_get("5000", pool, &cs);
    ck_assert_int_eq(cs->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(cs, 0, const loc_contact_t *)->uri, "sip:b@h"); /* higher q first */

    /* refresh a, remove b */
    ck_assert_int_eq(loc_edit_begin("5000", &ed), APR_SUCCESS);
    const loc_contact_t *const *cur = loc_edit_contacts(ed, &n);
    ck_assert_int_eq(n, 2);
    loc_edit_put(ed, a, cur[1]);
    loc_edit_remove(ed, cur[0], LOC_REASON_CLIENT);
    loc_edit_commit(ed, NULL, on_done, NULL);
    ck_assert_int_eq(seen.n, 4);
    ck_assert_int_eq(seen.kind[2], LOC_CHANGE_REFRESH);
    ck_assert_int_eq(seen.kind[3], LOC_CHANGE_REMOVE);
    ck_assert_int_eq(seen.reason[3], LOC_REASON_CLIENT);
    ck_assert_str_eq(seen.uri[3], "sip:b@h");
    ck_assert_int_eq(seen.count[3], 1);
    ck_assert_int_eq(done_n, 1);

    /* an aborted edit changes nothing */
    ck_assert_int_eq(loc_edit_begin("5000", &ed), APR_SUCCESS);
    cur = loc_edit_contacts(ed, &n);
    loc_edit_remove(ed, cur[0], LOC_REASON_ADMIN);
    loc_edit_abort(ed);
    ck_assert_uint_eq(loc_count(), 1);
    ck_assert_int_eq(seen.n, 4);

    /* expiry: a contact already past its time is invisible and swept once */
    ck_assert_int_eq(loc_edit_begin("6000", &ed), APR_SUCCESS);
    loc_contact_t *old = mk("sip:old@h", -1, now - apr_time_from_sec(120), now - apr_time_from_sec(1));
    loc_edit_put(ed, old, NULL);
    loc_edit_commit(ed, NULL, NULL, NULL);
    loc_contacts_get("6000", pool, &cs);
    ck_assert_int_eq(cs->nelts, 0);
    ck_assert_int_eq(loc_expire_sweep(loc, apr_time_now()), 1);
    ck_assert_int_eq(seen.kind[seen.n - 1], LOC_CHANGE_REMOVE);
    ck_assert_int_eq(seen.reason[seen.n - 1], LOC_REASON_EXPIRED);
    ck_assert_int_eq(loc_expire_sweep(loc, apr_time_now()), 0);
    ck_assert_uint_eq(loc_count(), 1);

    loc_contact_unref(a);
    loc_contact_unref(b);
    loc_contact_unref(old);
    close_loc(loc);
}
END_TEST

START_TEST(test_sqlite_store)
{
    char *dir = tmpdir_make();
    const char *dsn = apr_pstrcat(pool, dir, "/location.db", NULL);
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    loc_t *loc = make_loc(&loc_store_sqlite, dsn, &seen);
    apr_time_t now = apr_time_now();
    loc_editor_t *ed;

    ck_assert_int_eq(loc_edit_begin("5000", &ed), APR_SUCCESS);
    loc_contact_t *base = mk("sip:a@h", 700, now, now + apr_time_from_sec(600));
    loc_contact_t t = *base;
    t.path = "<sip:p;lr>";
    t.instance = "<urn:uuid:1>";
    t.reg_id = "1";
    t.user_agent = "UA 1";
    t.cseq = 42;
    loc_edit_put(ed, &t, NULL);
    loc_contact_unref(base);
    loc_contact_t *b = mk("sip:b@h", -1, now, now + apr_time_from_sec(600));
    loc_edit_put(ed, b, NULL);
    loc_contact_unref(b);
    done_st = -1;
    loc_edit_commit(ed, NULL, on_done, NULL);
    /* the writer thread answers after its commit */
    for (int i = 0; i < 500 && done_st == -1; i++)
        apr_sleep(10000);
    ck_assert_int_eq(done_st, APR_SUCCESS);
    ck_assert_int_eq(seen.n, 2);
    /* a row that is already expired when the store is next opened */
    loc_contact_t *dead = mk("sip:dead@h", -1, now - apr_time_from_sec(100), now - apr_time_from_sec(10));
    loc_op_t op = {LOC_OP_PUT, dead};
    ck_assert_int_eq(loc_store_sqlite.apply(loc->store, &op, 1), APR_SUCCESS);
    loc_contact_unref(dead);
    close_loc(loc);

    /* reopen: both live rows are back, the expired one is not */
    memset(&seen, 0, sizeof seen);
    loc = make_loc(&loc_store_sqlite, dsn, &seen);
    ck_assert_uint_eq(loc_count(), 2);
    apr_array_header_t *cs;
    loc_contacts_get("5000", pool, &cs);
    const loc_contact_t *c = APR_ARRAY_IDX(cs, 1, const loc_contact_t *);
    ck_assert_str_eq(c->uri, "sip:a@h");
    ck_assert_str_eq(c->path, "<sip:p;lr>");
    ck_assert_str_eq(c->instance, "<urn:uuid:1>");
    ck_assert_str_eq(c->user_agent, "UA 1");
    ck_assert_int_eq(c->q, 700);
    ck_assert_uint_eq(c->cseq, 42);
    ck_assert(c->expires == now + apr_time_from_sec(600));

    /* a removal is durable too */
    ck_assert_int_eq(loc_edit_begin("5000", &ed), APR_SUCCESS);
    int n;
    const loc_contact_t *const *cur = loc_edit_contacts(ed, &n);
    ck_assert_int_eq(n, 2);
    loc_edit_remove(ed, cur[0], LOC_REASON_ADMIN);
    done_st = -1;
    loc_edit_commit(ed, NULL, on_done, NULL);
    for (int i = 0; i < 500 && done_st == -1; i++)
        apr_sleep(10000);
    ck_assert_int_eq(done_st, APR_SUCCESS);
    close_loc(loc);
    loc = make_loc(&loc_store_sqlite, dsn, &seen);
    ck_assert_uint_eq(loc_count(), 1);
    close_loc(loc);
    free(dir);
}
END_TEST

/* A store whose commits fail, to check that nothing is reported done or notified. */
static apr_status_t failing_open(loc_store_t **s, const char *dsn, int sync_full, apr_pool_t *p)
{
    *s = NULL;
    return APR_SUCCESS;
}
static apr_status_t failing_load(loc_store_t *s, apr_time_t now, loc_store_row_fn fn, void *user)
{
    return APR_SUCCESS;
}
static apr_status_t failing_apply(loc_store_t *s, const loc_op_t *ops, int n)
{
    return AORTA_ESTORE;
}
static void failing_close(loc_store_t *s)
{
}
static const loc_store_ops_t failing_store = {"failing", 1,           failing_open, failing_load,
                                             failing_apply, failing_close, NULL};

START_TEST(test_store_failure_reverts)
{
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    loc_t *loc = make_loc(&failing_store, NULL, &seen);
    apr_time_t now = apr_time_now();
    loc_editor_t *ed;
    ck_assert_int_eq(loc_edit_begin("5000", &ed), APR_SUCCESS);
    loc_contact_t *a = mk("sip:a@h", -1, now, now + apr_time_from_sec(60));
    loc_edit_put(ed, a, NULL);
    done_st = -1;
    done_n = -1;
    loc_edit_commit(ed, NULL, on_done, NULL);
    for (int i = 0; i < 500 && done_st == -1; i++)
        apr_sleep(10000);
    ck_assert_int_eq(done_st, AORTA_ESTORE);
    ck_assert_int_eq(done_n, 0);   /* the bindings after the revert */
    ck_assert_int_eq(seen.n, 0);   /* no event for a change that is not durable */
    ck_assert_uint_eq(loc_count(), 0);
    apr_array_header_t *cs;
    loc_contacts_get("5000", pool, &cs);
    ck_assert_int_eq(cs->nelts, 0);
    loc_contact_unref(a);
    close_loc(loc);
}
END_TEST

START_TEST(test_cluster_payload)
{
    loc_contact_t t;
    memset(&t, 0, sizeof t);
    t.aor = "5000";
    t.uri = "sip:5000@192.0.2.1:5060;transport=tcp";
    t.params = "q=0.5;+sip.instance=\"<urn:uuid:1>\"";
    t.path = "<sip:p1;lr>";
    t.user_agent = "phone \"x\" \xc3\xa9";
    t.call_id = "cid@h";
    t.instance = "<urn:uuid:1>";
    t.reg_id = "1";
    t.endpoint = "5000";
    t.profile = "internal";
    t.src_ip = "192.0.2.1";
    t.transport = "tcp";
    t.src_port = 5060;
    t.q = 500;
    t.cseq = 42;
    t.expires = APR_INT64_C(1790000000123456);
    t.registered = APR_INT64_C(1789999000000001);
    loc_contact_t *c = loc_contact_new(&t);
    loc_change_rec_t ch = {LOC_CHANGE_REMOVE, LOC_REASON_EXPIRED, c, 0};
    const char *pl = loc_cluster_encode("node-a", &ch, 3, pool);
    ck_assert_ptr_nonnull(pl);

    const char *node;
    loc_change_kind_t kind;
    loc_reason_t reason;
    int count;
    loc_contact_t d;
    ck_assert_int_eq(loc_cluster_decode(pl, pool, &node, &kind, &reason, &count, &d), APR_SUCCESS);
    ck_assert_str_eq(node, "node-a");
    ck_assert_int_eq(kind, LOC_CHANGE_REMOVE);
    ck_assert_int_eq(reason, LOC_REASON_EXPIRED);
    ck_assert_int_eq(count, 3);
    ck_assert_str_eq(d.aor, t.aor);
    ck_assert_str_eq(d.uri, t.uri);
    ck_assert_str_eq(d.params, t.params);
    ck_assert_str_eq(d.path, t.path);
    ck_assert_str_eq(d.user_agent, t.user_agent);
    ck_assert_str_eq(d.instance, t.instance);
    ck_assert_str_eq(d.transport, "tcp");
    ck_assert_int_eq(d.src_port, 5060);
    ck_assert_int_eq(d.q, 500);
    ck_assert_uint_eq(d.cseq, 42);
    ck_assert(d.expires == t.expires && d.registered == t.registered);
    loc_contact_unref(c);

    /* absent fields stay absent; q -1 survives */
    memset(&t, 0, sizeof t);
    t.aor = "a";
    t.uri = "sip:a@h";
    t.q = -1;
    c = loc_contact_new(&t);
    ch.contact = c;
    ch.kind = LOC_CHANGE_NEW;
    ck_assert_int_eq(loc_cluster_decode(loc_cluster_encode("n", &ch, 1, pool), pool, &node, &kind, &reason, &count, &d),
                     APR_SUCCESS);
    ck_assert_int_eq(kind, LOC_CHANGE_NEW);
    ck_assert_ptr_null(d.params);
    ck_assert_ptr_null(d.user_agent);
    ck_assert_int_eq(d.q, -1);
    loc_contact_unref(c);

    /* a payload too long for NOTIFY drops the optional fields, not the identity */
    char *big = apr_palloc(pool, 9000);
    memset(big, 'x', 8999);
    big[8999] = 0;
    memset(&t, 0, sizeof t);
    t.aor = "a";
    t.uri = "sip:a@h";
    t.user_agent = big;
    c = loc_contact_new(&t);
    ch.contact = c;
    pl = loc_cluster_encode("n", &ch, 1, pool);
    ck_assert_int_le((int)strlen(pl), LOC_CLUSTER_PAYLOAD_MAX);
    ck_assert_int_eq(loc_cluster_decode(pl, pool, &node, &kind, &reason, &count, &d), APR_SUCCESS);
    ck_assert_str_eq(d.uri, "sip:a@h");
    ck_assert_ptr_null(d.user_agent);
    loc_contact_unref(c);

    ck_assert_int_eq(loc_cluster_decode("{\"o\":\"n\"}", pool, &node, &kind, &reason, &count, &d), APR_EINVAL);
    ck_assert_int_eq(loc_cluster_decode("not json", pool, &node, &kind, &reason, &count, &d), APR_EINVAL);

    /* array literals for ANY()/unnest(): quotes and backslashes escaped */
    const char *v[3] = {"5000", "a\"b", "c\\d,{e}"};
    ck_assert_str_eq(loc_pg_array(v, 3, pool), "{\"5000\",\"a\\\"b\",\"c\\\\d,{e}\"}");
    ck_assert_str_eq(loc_pg_array(v, 0, pool), "{}");
}
END_TEST

/* A shared store's verdicts: batch 1 commits but its removal was another node's (skip),
 * batch 2 is refused (max-contacts filled elsewhere). */
static int group_calls;
static apr_status_t group_apply(loc_store_t *s, loc_batch_t *group)
{
    group_calls++;
    for (loc_batch_t *b = group; b; b = b->next) {
        if (!strcmp(b->aor, "skip")) {
            for (int i = 0; i < b->nchanges; i++)
                if (b->changes[i].kind == LOC_CHANGE_REMOVE)
                    b->changes[i].skip = 1;
        } else if (!strcmp(b->aor, "refuse")) {
            b->st = AORTA_ESTORE;
        }
    }
    return APR_SUCCESS;
}
static const loc_store_ops_t group_store = {"group", 1, failing_open, failing_load, failing_apply, failing_close,
                                            group_apply};

static apr_status_t wait_done(void)
{
    for (int i = 0; i < 500 && done_st == (apr_status_t)-1; i++)
        apr_sleep(10000);
    return done_st;
}

START_TEST(test_apply_group_verdicts)
{
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    loc_t *loc = make_loc(&group_store, NULL, &seen);
    apr_time_t now = apr_time_now();
    loc_contact_t *a = mk("sip:a@h", -1, now, now + apr_time_from_sec(60));
    loc_contact_t *b = mk("sip:b@h", -1, now, now + apr_time_from_sec(60));
    loc_editor_t *ed;
    int n;

    /* "skip": add a, then remove it; the removal was already made elsewhere */
    ck_assert_int_eq(loc_edit_begin("skip", &ed), APR_SUCCESS);
    loc_edit_put(ed, a, NULL);
    done_st = -1;
    loc_edit_commit(ed, NULL, on_done, NULL);
    ck_assert_int_eq(wait_done(), APR_SUCCESS);
    ck_assert_int_eq(seen.n, 1);
    ck_assert_int_eq(loc_edit_begin("skip", &ed), APR_SUCCESS);
    const loc_contact_t *const *cur = loc_edit_contacts(ed, &n);
    ck_assert_int_eq(n, 1);
    loc_edit_remove(ed, cur[0], LOC_REASON_EXPIRED);
    done_st = -1;
    loc_edit_commit(ed, NULL, on_done, NULL);
    ck_assert_int_eq(wait_done(), APR_SUCCESS);
    ck_assert_int_eq(seen.n, 1); /* no second event from this node */

    /* "refuse": the edit is reverted and reported as a store failure, no event */
    ck_assert_int_eq(loc_edit_begin("refuse", &ed), APR_SUCCESS);
    loc_edit_put(ed, b, NULL);
    done_st = -1;
    done_n = -1;
    loc_edit_commit(ed, NULL, on_done, NULL);
    ck_assert_int_eq(wait_done(), AORTA_ESTORE);
    ck_assert_int_eq(done_n, 0);
    ck_assert_int_eq(seen.n, 1);
    ck_assert_uint_eq(loc_count(), 0);
    ck_assert_int_ge(group_calls, 3);
    loc_contact_unref(a);
    loc_contact_unref(b);
    close_loc(loc);
}
END_TEST

START_TEST(test_table_resync)
{
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    loc_t *loc = make_loc(&loc_store_memory, NULL, &seen);
    apr_time_t now = apr_time_now(), later = now + apr_time_from_sec(60);
    const loc_contact_t *v[2] = {mk("sip:a@h", 100, now, later), mk("sip:b@h", 900, now, later)};
    loc_table_replace(loc, "5000", v, 2);
    ck_assert_uint_eq(loc_count(), 2);
    apr_array_header_t *cs;
    loc_contacts_get("5000", pool, &cs);
    ck_assert_int_eq(cs->nelts, 2);
    ck_assert_str_eq(APR_ARRAY_IDX(cs, 0, const loc_contact_t *)->uri, "sip:b@h"); /* canonical order: q */

    /* the table says: 5000 has only c, 6000 has d */
    apr_hash_t *rows = apr_hash_make(pool);
    apr_array_header_t *r5 = apr_array_make(pool, 1, sizeof(const loc_contact_t *));
    apr_array_header_t *r6 = apr_array_make(pool, 1, sizeof(const loc_contact_t *));
    APR_ARRAY_PUSH(r5, const loc_contact_t *) = mk("sip:c@h", -1, now, later);
    loc_contact_t *d = mk("sip:d@h", -1, now, later);
    APR_ARRAY_PUSH(r6, const loc_contact_t *) = d;
    apr_hash_set(rows, "5000", APR_HASH_KEY_STRING, r5);
    apr_hash_set(rows, "6000", APR_HASH_KEY_STRING, r6);
    loc_table_resync(loc, rows);
    ck_assert_uint_eq(loc_count(), 2);
    loc_contacts_get("5000", pool, &cs);
    ck_assert_int_eq(cs->nelts, 1);
    ck_assert_str_eq(APR_ARRAY_IDX(cs, 0, const loc_contact_t *)->uri, "sip:c@h");
    loc_contacts_get("6000", pool, &cs);
    ck_assert_int_eq(cs->nelts, 1);

    /* an empty table empties memory */
    loc_table_resync(loc, apr_hash_make(pool));
    ck_assert_uint_eq(loc_count(), 0);
    ck_assert_int_eq(seen.n, 0); /* resynchronisation fires nothing */
    close_loc(loc);
}
END_TEST

/* The long-lived objects' allocator: aligned, zeroed by calloc, reused by size class, big
 * objects through malloc, both kinds freed by the same call. */
START_TEST(test_mem_classes)
{
    ck_assert_int_eq(loc_mem_init(pool), APR_SUCCESS);
    apr_size_t sizes[] = {1, 16, 17, 500, 1008, 1009, 5000};
    void *p[7];
    for (int i = 0; i < 7; i++) {
        p[i] = loc_mem_alloc(sizes[i]);
        ck_assert_uint_eq((apr_uintptr_t)p[i] % 16, 0);
        memset(p[i], 0xab, sizes[i]);
    }
    for (int i = 0; i < 7; i++)
        for (int j = i + 1; j < 7; j++)
            ck_assert_ptr_ne(p[i], p[j]);
#if !defined(__SANITIZE_ADDRESS__)
    /* a freed object is the next one of its class; another class does not take it */
    void *again = p[3];
    loc_mem_free(p[3]);
    ck_assert_ptr_eq(loc_mem_alloc(sizes[3] - 1), again);
    loc_mem_free(p[1]);
    ck_assert_ptr_ne(loc_mem_alloc(900), p[1]);
#endif
    unsigned char *z = loc_mem_calloc(300);
    for (int i = 0; i < 300; i++)
        ck_assert_int_eq(z[i], 0);
    char *s = loc_mem_strdup("sip:5000@192.0.2.1");
    ck_assert_str_eq(s, "sip:5000@192.0.2.1");
    loc_mem_free(s);
    loc_mem_free(z);
    loc_mem_free(p[6]); /* through malloc */
    loc_mem_free(NULL);
    loc_mem_destroy();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mod_location");
    TCase *tc = tcase_create("location");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_contact_copy_and_refs);
    tcase_add_test(tc, test_expiry_arithmetic);
    tcase_add_test(tc, test_dial_legs);
    tcase_add_test(tc, test_edit_memory);
    tcase_add_test(tc, test_sqlite_store);
    tcase_add_test(tc, test_store_failure_reverts);
    tcase_add_test(tc, test_cluster_payload);
    tcase_add_test(tc, test_apply_group_verdicts);
    tcase_add_test(tc, test_table_resync);
    tcase_add_test(tc, test_mem_classes);
    suite_add_tcase(s, tc);
    return run_suite(s) ? 1 : 0;
}
