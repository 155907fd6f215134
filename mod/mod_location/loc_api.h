/*
 * loc_api.h — the `location` interface that mod_location publishes: AORs, their contacts,
 * atomic per-AOR edits that become durable in the configured store, and change
 * notifications fired after that.
 *
 * Fetch it in load():
 *     const loc_api_t *loc;
 *     if (aorta_interface_require(mod, LOC_API_NAME, (const void **)&loc) != APR_SUCCESS) ...
 *
 * Threads: every function may be called from any thread. AORs are kept in lock stripes
 * (a stripe = a mutex over a slice of the AOR table): there is no global lock. An editor
 * (edit_begin .. edit_commit/abort) holds its AOR's stripe: compute, never block, while
 * holding one, and never open a second editor from the same thread.
 *
 * Memory: a contact is an immutable, reference-counted, single malloc'd block. Everything a
 * function hands out is either a reference tied to a pool given by the caller (released by
 * that pool's cleanup) or valid only during a callback, as each declaration says.
 *
 * Durability: memory is authoritative for reads; edit_commit() applies the change in memory
 * at once and queues it for the store's single writer thread, which commits changes in
 * groups. The done callback and the change subscribers run after the commit (on the writer
 * thread; on the committing thread for the memory store). A failed commit reverts the
 * in-memory change (if nothing changed the AOR since) and reports AORTA_ESTORE.
 */
#ifndef LOC_API_H
#define LOC_API_H

#include <aorta/aorta.h>
#include <apr_network_io.h>
#include <apr_tables.h>

#define LOC_API_NAME "location"
#define LOC_API_VERSION 1

/** Reachability as qualify last saw it. */
typedef enum loc_qualify {
    LOC_QUALIFY_UNKNOWN = 0,
    LOC_QUALIFY_REACHABLE,
    LOC_QUALIFY_UNREACHABLE
} loc_qualify_t;

/**
 * One contact (binding). Immutable once created; every string is NUL-terminated or NULL
 * (NULL = absent, never ""). Times are apr_time_t (µs since the epoch).
 */
typedef struct loc_contact {
    const char *aor;
    const char *uri;        /**< the Contact URI, without angle brackets */
    const char *params;     /**< Contact header params to echo, without expires ("q=0.5;+sip.instance=..."), or NULL */
    const char *path;       /**< Path header values joined with "," ("<sip:p1;lr>,<sip:p2;lr>"), or NULL */
    const char *user_agent;
    const char *call_id;
    const char *instance;   /**< +sip.instance value, quotes removed ("<urn:uuid:...>") */
    const char *reg_id;
    const char *endpoint;   /**< endpoint that registered it (NULL for static contacts) */
    const char *profile;
    const char *src_ip;     /**< where the REGISTER came from (`received`) */
    const char *transport;  /**< "udp", "tcp", "tls" */
    apr_port_t src_port;
    int q;                  /**< q × 1000; -1 when the contact had no q (ordered as 1.0) */
    apr_uint32_t cseq;
    apr_time_t expires;     /**< absolute expiry; 0 for a static contact (never expires) */
    apr_time_t registered;  /**< when the last REGISTER that created or refreshed it was accepted */
    loc_qualify_t qualify;
    int is_static;
    volatile apr_uint32_t refs; /**< private to mod_location */
} loc_contact_t;

/** An AOR's configuration (immutable; belongs to mod_location's configuration generation). */
typedef struct loc_aor_conf {
    const char *name;
    const char *profile;
    int max_contacts;       /**< 0: no external manipulation (REGISTER refused) */
    int remove_existing;
    int min_expires;        /**< 0: the profile's */
    int max_expires;        /**< 0: the profile's */
    int default_expires;    /**< 0: the profile's */
    int qualify_frequency;
    int qualify_timeout;
    int support_path;
    apr_array_header_t *static_contacts; /**< const char * URIs */
} loc_aor_conf_t;

typedef enum loc_change_kind {
    LOC_CHANGE_NEW,      /**< a contact was added */
    LOC_CHANGE_REFRESH,  /**< an existing binding was re-registered (possibly new expiry / fields) */
    LOC_CHANGE_REMOVE    /**< a contact was removed (see reason) */
} loc_change_kind_t;

typedef enum loc_reason {
    LOC_REASON_NONE = 0,
    LOC_REASON_CLIENT,   /**< expires 0 or Contact: * from its owner */
    LOC_REASON_REPLACED, /**< remove-existing or same +sip.instance */
    LOC_REASON_ADMIN,    /**< `registrar unregister` */
    LOC_REASON_EXPIRED   /**< the expiry timer */
} loc_reason_t;

/** One committed change, as subscribers see it. Valid only during the callback. */
typedef struct loc_change {
    loc_change_kind_t kind;
    loc_reason_t reason;
    const loc_contact_t *contact;  /**< the new contact (NEW/REFRESH) or the removed one */
    int contact_count;             /**< dynamic contacts on the AOR after the whole edit */
    void *ctx;                     /**< the edit's context (edit_commit), NULL for expiry/admin and remote changes */
    const char *origin;            /**< the node that made the change (its core switchname); with a
                                        shared store (pgsql) changes made on other nodes arrive too */
} loc_change_t;

/** Called after a change is durable, once per contact change, in commit order. Must not block. */
typedef void (*loc_change_fn)(const loc_change_t *change, void *user);

/**
 * Called once after an edit was committed (st == APR_SUCCESS) or failed (AORTA_ESTORE).
 * @p contacts: the AOR's dynamic contacts after the edit, in the canonical order, valid
 * during the call only (on failure: after the revert).
 */
typedef void (*loc_done_fn)(apr_status_t st, const loc_contact_t *const *contacts, int n, void *user);

/** Callback for iterate(); valid only during the call. Return non-zero to stop. */
typedef int (*loc_each_fn)(const loc_contact_t *c, void *user);

typedef struct loc_editor loc_editor_t;

typedef struct loc_api {
    int version; /**< LOC_API_VERSION */

    /**
     * The AOR's configuration, or NULL. The result stays valid until
     * aorta_module_config_release(*gen).
     */
    const loc_aor_conf_t *(*aor_find)(const char *name, aorta_config_gen_t **gen);

    /**
     * The AOR's live contacts (dynamic unexpired ones, then static ones), in the canonical
     * order, as an array of const loc_contact_t* whose references @p pool releases.
     */
    apr_status_t (*contacts_get)(const char *aor, apr_pool_t *pool, apr_array_header_t **out);

    /** Every live dynamic contact, AOR by AOR (each AOR under its stripe: @p fn must not block). */
    void (*iterate)(loc_each_fn fn, void *user);
    /** Number of live dynamic contacts in total. */
    apr_size_t (*count)(void);

    /**
     * Open an edit of @p aor: *ed holds the AOR's stripe until commit or abort. The AOR's
     * current dynamic contacts (unexpired, canonical order) are edit_contacts().
     */
    apr_status_t (*edit_begin)(const char *aor, loc_editor_t **ed);
    const loc_contact_t *const *(*edit_contacts)(loc_editor_t *ed, int *n);
    /**
     * Add a contact, or replace @p old (one of edit_contacts(), or NULL) by it. The fields of
     * @p tmpl are copied (refs ignored); tmpl->aor is set to the editor's AOR.
     */
    apr_status_t (*edit_put)(loc_editor_t *ed, const loc_contact_t *tmpl, const loc_contact_t *old);
    /** Remove @p old (one of edit_contacts()) for @p reason. */
    apr_status_t (*edit_remove)(loc_editor_t *ed, const loc_contact_t *old, loc_reason_t reason);
    /**
     * Apply the edit, release the stripe, and make it durable; @p done (may be NULL) runs
     * afterwards, subscribers see @p ctx. An edit without changes calls @p done at once.
     */
    apr_status_t (*edit_commit)(loc_editor_t *ed, void *ctx, loc_done_fn done, void *user);
    /** Drop the edit and release the stripe. */
    void (*edit_abort)(loc_editor_t *ed);

    /** Subscribe to committed changes; removed automatically when @p owner unloads. */
    apr_status_t (*subscribe)(aorta_module_t *owner, loc_change_fn fn, void *user);
    void (*unsubscribe)(aorta_module_t *owner);

    /** Contact references for holders outside mod_location. */
    const loc_contact_t *(*contact_ref)(const loc_contact_t *c);
    void (*contact_unref)(const loc_contact_t *c);
} loc_api_t;

#endif
