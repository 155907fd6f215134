/*
 * loc_internal.h — mod_location's private types shared by its files.
 *
 * Ownership: the module state (loc_t) lives in the module pool from load() to shutdown().
 * AOR states and contacts are malloc'd (never a pool per contact): an AOR state is created
 * on first use and kept; a contact is freed with its last reference.
 */
#ifndef LOC_INTERNAL_H
#define LOC_INTERNAL_H

#include "loc_api.h"
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include <apr_thread_rwlock.h>
#include <apr_thread_proc.h>
#include <apr_hash.h>

/* ---- configuration (loc_conf.c) ------------------------------------------------------ */

typedef struct loc_conf {
    const char *store;       /**< "memory" | "sqlite" | "pgsql" */
    const char *dsn;
    const char *sqlite_sync; /**< "normal" | "full" */
    apr_hash_t *aors;        /**< name -> loc_aor_conf_t* */
    apr_array_header_t *aor_order; /**< loc_aor_conf_t*, configuration order */
    int qualify_any;         /**< some AOR has qualify-frequency */
} loc_conf_t;

apr_status_t loc_conf_parse(const aorta_conf_t *conf, apr_pool_t *pool, aorta_conf_errors_t *errs, loc_conf_t **out);

/* ---- contacts (loc_contact.c) -------------------------------------------------------- */

/** One malloc'd block holding the struct and a copy of every string of @p tmpl; refs = 1. */
loc_contact_t *loc_contact_new(const loc_contact_t *tmpl);
const loc_contact_t *loc_contact_ref(const loc_contact_t *c);
void loc_contact_unref(const loc_contact_t *c);
/** The canonical order (SPEC §8): <0 when @p a comes first. */
int loc_contact_cmp(const loc_contact_t *a, const loc_contact_t *b);
/** Sort @p v[0..n) into the canonical order (stable insertion sort: n is small). */
void loc_contact_sort(const loc_contact_t **v, int n);
/** Static contact object for @p uri of @p aor (refs = 1). */
loc_contact_t *loc_contact_static(const char *aor, const char *profile, const char *uri);

/* ---- long-lived objects (loc_mem.c) ------------------------------------------------- */

/** Set up / tear down the size-class blocks (module load / after the table is gone). */
apr_status_t loc_mem_init(apr_pool_t *pool);
void loc_mem_destroy(void);
/** For contacts, AOR states and contact arrays: packed apart from the SIP thread's short-lived
 * transaction memory. Out of memory aborts. Free with loc_mem_free() only. */
void *loc_mem_alloc(apr_size_t size);
void *loc_mem_calloc(apr_size_t size);
char *loc_mem_strdup(const char *s);
void loc_mem_free(void *ptr);

/* ---- AOR table (loc_aor.c) ----------------------------------------------------------- */

#define LOC_STRIPES 256

typedef struct loc_aor_state {
    char *name;
    const loc_contact_t **c;  /**< dynamic contacts, canonical order */
    int n, cap;
    apr_uint32_t version;     /**< bumped by every applied change */
} loc_aor_state_t;

typedef struct loc_stripe {
    apr_thread_mutex_t *lock;
    apr_hash_t *aors;         /**< name -> loc_aor_state_t* */
    apr_size_t contacts;
    apr_time_t next_expiry;   /**< no contact here expires before this (0: none expires); may be early */
} loc_stripe_t;

typedef struct loc_table {
    loc_stripe_t stripes[LOC_STRIPES];
} loc_table_t;

apr_status_t loc_table_create(loc_table_t **t, apr_pool_t *pool);
void loc_table_destroy(loc_table_t *t);
loc_stripe_t *loc_table_stripe(loc_table_t *t, const char *aor);
/** Caller holds the stripe. @p create: make the state if missing. */
loc_aor_state_t *loc_table_state(loc_stripe_t *s, const char *aor, int create);
/** Caller holds the stripe: replace the state's contacts by @p v (takes the references). */
void loc_state_set(loc_stripe_t *s, loc_aor_state_t *st, const loc_contact_t **v, int n);

/* ---- stores (loc_store.c, loc_store_sqlite.c) ---------------------------------------- */

typedef struct loc_store loc_store_t;
struct loc_batch;

typedef enum loc_op_kind { LOC_OP_PUT, LOC_OP_DEL } loc_op_kind_t;

/** A row operation handed to a store. */
typedef struct loc_op {
    loc_op_kind_t kind;
    const loc_contact_t *contact; /**< PUT: the row; DEL: the row to delete (aor + uri) */
} loc_op_t;

/** Called by load for every unexpired row; takes the contact's reference. */
typedef void (*loc_store_row_fn)(loc_contact_t *c, void *user);

/**
 * A persistence back-end. All calls come from one thread at a time (the writer thread, or
 * load() before it starts). A pgsql store implements the same table.
 */
typedef struct loc_store_ops {
    const char *name;
    int durable; /**< 0: memory (no writer thread) */
    /** @p sync_full: every commit reaches the disk before it returns (sqlite; others ignore it). */
    apr_status_t (*open)(loc_store_t **s, const char *dsn, int sync_full, apr_pool_t *pool);
    /** Delete rows expired at @p now, then call @p fn for each remaining row. */
    apr_status_t (*load)(loc_store_t *s, apr_time_t now, loc_store_row_fn fn, void *user);
    /** Apply @p n operations in one transaction. */
    apr_status_t (*apply)(loc_store_t *s, const loc_op_t *ops, int n);
    void (*close)(loc_store_t *s);
    /**
     * Optional (shared stores): apply a group of batches (linked by next) in one transaction,
     * each batch on its own (a savepoint), setting each batch's st and marking the changes
     * that another node had already made (skip). Returns non-success when nothing committed.
     */
    apr_status_t (*apply_group)(loc_store_t *s, struct loc_batch *group);
} loc_store_ops_t;

const loc_store_ops_t *loc_store_find(const char *name);
extern const loc_store_ops_t loc_store_memory;
extern const loc_store_ops_t loc_store_sqlite;
extern const loc_store_ops_t loc_store_pgsql;

/* ---- persistence (loc_persist.c) ----------------------------------------------------- */

typedef struct loc_change_rec {
    loc_change_kind_t kind;
    loc_reason_t reason;
    const loc_contact_t *contact; /**< a reference */
    int skip;                     /**< another node made it first: no event from us */
} loc_change_rec_t;

/** One committed edit on its way to the store. */
typedef struct loc_batch {
    struct loc_batch *next;
    char *aor;
    apr_uint32_t version;         /**< the AOR's version after the edit */
    const loc_contact_t **before; /**< snapshot to restore on failure (references) */
    int nbefore;
    loc_op_t *ops;
    int nops;
    loc_change_rec_t *changes;
    int nchanges;
    int count_after;
    void *ctx;
    loc_done_fn done;
    void *user;
    apr_status_t st;              /**< apply_group's verdict for this batch */
} loc_batch_t;

typedef struct loc_persist loc_persist_t;

typedef struct loc_sub {
    struct loc_sub *next;
    aorta_module_t *owner;
    loc_change_fn fn;
    void *user;
} loc_sub_t;

/** The module's state. */
typedef struct loc {
    aorta_module_t *mod;
    apr_pool_t *pool;
    loc_table_t *table;
    const loc_store_ops_t *store_ops;
    int sync_full;                /**< sqlite-synchronous=full at load (changes need a module reload) */
    loc_store_t *store;
    loc_persist_t *persist;
    apr_thread_rwlock_t *sub_lock; /**< readers: notifications; writers: (un)subscribe */
    loc_sub_t *subs;
    apr_thread_t *expire_thread;
    apr_thread_mutex_t *expire_lock;
    apr_thread_cond_t *expire_cond;
    volatile int stopping;
    apr_hash_t *qualify_next;     /**< AOR name -> apr_time_t of its next qualify (expiry thread only) */
    apr_pool_t *qualify_pool;     /**< qualify_next's: the module pool is allocated from by other threads */
    const char *node;             /**< this node's name (core switchname): origin of our changes */
    struct loc_cluster *cluster;  /**< pgsql: the LISTEN thread (loc_cluster.c), else NULL */
} loc_t;

extern loc_t *loc_global;

apr_status_t loc_persist_start(loc_persist_t **p, loc_t *loc, apr_pool_t *pool);
/** Queue @p b (ownership passes); for the memory store finishes it on the calling thread. */
void loc_persist_submit(loc_t *loc, loc_batch_t *b);
/** Write everything queued, then stop the writer. */
void loc_persist_stop(loc_persist_t *p);
void loc_batch_free(loc_batch_t *b);
/** Notify subscribers of a committed batch and call its done callback. */
void loc_batch_finish(loc_t *loc, loc_batch_t *b, apr_status_t st);
/** Tell every subscriber about @p ch (any thread). */
void loc_notify(loc_t *loc, const loc_change_t *ch);

/* ---- editing (loc_aor.c) ------------------------------------------------------------- */

apr_status_t loc_edit_begin(const char *aor, loc_editor_t **ed);
const loc_contact_t *const *loc_edit_contacts(loc_editor_t *ed, int *n);
apr_status_t loc_edit_put(loc_editor_t *ed, const loc_contact_t *tmpl, const loc_contact_t *old);
apr_status_t loc_edit_remove(loc_editor_t *ed, const loc_contact_t *old, loc_reason_t reason);
apr_status_t loc_edit_commit(loc_editor_t *ed, void *ctx, loc_done_fn done, void *user);
void loc_edit_abort(loc_editor_t *ed);
apr_status_t loc_contacts_get(const char *aor, apr_pool_t *pool, apr_array_header_t **out);
void loc_iterate(loc_each_fn fn, void *user);
apr_size_t loc_count(void);
/** Put a row loaded from the store into memory (start-up only). */
void loc_table_load_row(loc_contact_t *c, void *user);
/** Replace @p aor's dynamic contacts by @p v[0..n) (takes the references; any order). */
void loc_table_replace(loc_t *loc, const char *aor, const loc_contact_t **v, int n);
/**
 * Replace the whole table by @p rows (AOR name -> apr_array_header_t of loc_contact_t*, whose
 * references it takes): AORs missing from @p rows become empty. For a resynchronisation.
 */
void loc_table_resync(loc_t *loc, apr_hash_t *rows);

/* ---- expiry (loc_expire.c) ----------------------------------------------------------- */

/** Remaining seconds of @p c at @p now (rounded up, ≥ 0); 0 for static contacts. */
int loc_expire_remaining(const loc_contact_t *c, apr_time_t now);
/** Expire every contact whose time has come (@p now); returns how many. */
int loc_expire_sweep(loc_t *loc, apr_time_t now);
apr_status_t loc_expire_start(loc_t *loc);
void loc_expire_stop(loc_t *loc);

/* ---- qualify (loc_qualify.c) --------------------------------------------------------- */

/** Send OPTIONS to the contacts of AORs whose qualify-frequency has come (expiry thread). */
void loc_qualify_tick(loc_t *loc, apr_time_t now);
/** Wait (bounded) for qualify requests still in flight. */
void loc_qualify_drain(void);

/* ---- cluster (loc_cluster.c): LISTEN/NOTIFY between nodes sharing a pgsql store ------- */

#define LOC_CLUSTER_CHANNEL "aorta_location"
/** NOTIFY payloads must stay below 8000 bytes; longer ones drop the optional fields. */
#define LOC_CLUSTER_PAYLOAD_MAX 7900

typedef struct loc_cluster loc_cluster_t;

/** The NOTIFY payload (JSON) for one change made by @p node, into @p pool. */
const char *loc_cluster_encode(const char *node, const loc_change_rec_t *ch, int count_after, apr_pool_t *pool);
/** Parse a payload: *tmpl's strings point into @p pool. APR_EINVAL when malformed. */
apr_status_t loc_cluster_decode(const char *payload, apr_pool_t *pool, const char **node, loc_change_kind_t *kind,
                                loc_reason_t *reason, int *count_after, loc_contact_t *tmpl);
/** Start the thread that LISTENs on @p dsn, fires remote changes and keeps memory coherent. */
apr_status_t loc_cluster_start(loc_t *loc, const char *dsn);
void loc_cluster_stop(loc_t *loc);

/** pgsql helpers shared by the store and the listener (loc_store_pgsql.c). */
#define LOC_PG_COLS "aor, uri, params, path, user_agent, call_id, cseq, expires, registered, q, src_ip, src_port, " \
                    "transport, instance, reg_id, endpoint, profile"
/** A contact from a row selected with LOC_PG_COLS (or the sqlite COLS: same order); NULL if no aor/uri. */
loc_contact_t *loc_store_row_contact(const char *const *col);

/** One PostgreSQL connection through apr_dbd (its pool owns the handle). */
typedef struct loc_pg {
    apr_pool_t *pool;
    const struct apr_dbd_driver_t *drv;
    struct apr_dbd_t *h;
} loc_pg_t;

/** @p dsn with application_name=aorta-<role>-<node> appended (for pg_stat_activity). */
const char *loc_pg_dsn(const char *dsn, const char *role, apr_pool_t *pool);
/** Connect (logs the failure unless @p quiet); on failure *c is zeroed. */
apr_status_t loc_pg_open(loc_pg_t *c, const char *dsn, apr_pool_t *parent, int quiet);
void loc_pg_close(loc_pg_t *c);
apr_status_t loc_pg_exec(loc_pg_t *c, const char *sql);
/** A PostgreSQL array literal ({"a","b\\"c"}) of @p n strings, into @p p. */
const char *loc_pg_array(const char *const *v, int n, apr_pool_t *p);
/** Call @p fn for each row of @p aor (an AOR name, an array literal of names from loc_pg_array,
 * or NULL: every row; expired ones included); *n = rows. */
apr_status_t loc_pg_contacts(loc_pg_t *c, const char *aor, apr_pool_t *p, loc_store_row_fn fn, void *user, int *n);

/* ---- dial strings (loc_dial.c) ------------------------------------------------------- */

/** Replace the user part of @p uri by @p user (into @p pool); @p uri unchanged if it has no host. */
const char *loc_dial_uri_with_user(const char *uri, const char *user, apr_pool_t *pool);
/** One leg: "[vars]sip/<endpoint>/<uri>" with the route variables @p c needs. */
const char *loc_dial_leg(const char *endpoint, const loc_contact_t *c, const char *request_user, apr_pool_t *pool);
/** Why @p c needs a route: "path", "nat" or NULL. */
const char *loc_dial_route_reason(const loc_contact_t *c);
/** Host and port of a SIP URI (numeric port, 0 when absent) into @p pool. */
void loc_dial_uri_hostport(const char *uri, apr_pool_t *pool, const char **host, int *port);

apr_status_t loc_cmd_dial_contacts(const char *args, aorta_stream_t *out, apr_pool_t *pool);
apr_status_t loc_cmd_resolve(const char *args, aorta_stream_t *out, apr_pool_t *pool);

/* ---- API commands (loc_cmd.c) -------------------------------------------------------- */

apr_status_t loc_cmd_show_aors(const char *args, aorta_stream_t *out, apr_pool_t *pool);
apr_status_t loc_cmd_show_contacts(const char *args, aorta_stream_t *out, apr_pool_t *pool);
apr_status_t loc_cmd_show_registrations(const char *args, aorta_stream_t *out, apr_pool_t *pool);

/** mod_location's current configuration with a reference (release with aorta_module_config_release). */
const loc_conf_t *loc_conf_acquire(aorta_config_gen_t **gen);

#endif
