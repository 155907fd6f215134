/*
 * ep_internal.h — mod_endpoints' private types shared by its files.
 *
 * Ownership map (see docs/endpoints.md for the prose):
 *   ep_mod_t          one per loaded module; module pool; holds the running profiles and
 *                     the service registry.
 *   ep_config_t       one per configuration generation (configure()); immutable; endpoints,
 *                     auths, identify rules, per-profile settings. Readers hold a generation
 *                     reference (aorta_module_config_acquire) for as long as they use it.
 *   ep_profile_t      one running SIP stack: su_root + nta agent owned by its own thread.
 *                     Only that thread touches nta/tport/msg objects of the agent.
 *   ep_req_priv_t     per request, allocated in the request's own pool with ep_request_t.
 *   ep_branch_t       per forwarded INVITE (ep_proxy.c): malloc'd, reference-counted by its
 *                     owner, the profile thread and pending cancel posts.
 *
 * The sofia magic types are fixed here, before any sofia header is seen, so every file
 * agrees on them.
 */
#ifndef EP_INTERNAL_H
#define EP_INTERNAL_H

struct ep_profile;
struct ep_sumsg;
struct ep_out;
#define SU_ROOT_MAGIC_T struct ep_profile
#define SU_MSG_ARG_T struct ep_sumsg
#define NTA_AGENT_MAGIC_T struct ep_profile
#define NTA_LEG_MAGIC_T struct ep_profile
#define NTA_OUTGOING_MAGIC_T struct ep_out
#define NTA_INCOMING_MAGIC_T struct ep_profile

#include <sofia-sip/su_wait.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>

#include "mod_endpoints/ep_api.h"
#include "ep_cidr.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <apr_hash.h>
#include <apr_thread_proc.h>
#include <apr_portable.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>
#include <apr_thread_rwlock.h>
#include <apr_atomic.h>

/* ---- configuration (ep_config.c) ------------------------------------------------------ */

enum { EP_UNIDENTIFIED_CHALLENGE = 0, EP_UNIDENTIFIED_403 = 1 };

/** <profile><settings>: what the profile's transports and pipeline use. */
typedef struct ep_profile_settings {
    const char *sip_ip;
    int sip_port;
    apr_array_header_t *transports; /* "udp", "tcp", "tls" */
    int tls_port;
    const char *tls_cert_dir;           /* NULL: <conf_dir>/tls */
    apr_array_header_t *identify_order; /* identifier names */
    int unidentified_response;          /* EP_UNIDENTIFIED_* */
    const char *user_agent;             /* Server / User-Agent header; "" leaves it out */
    int t1x64;                          /* ms: transaction linger (Timer J/F/B) */
    int dialog_ttl;                     /* s: Call-ID -> endpoint cache lifetime */
    int max_size;                       /* bytes: largest message accepted */
} ep_profile_settings_t;

/** An endpoint as configured: the public part first, so &ext->pub round-trips. */
typedef struct ep_endpoint_ext {
    ep_endpoint_t pub;
    const char *auth_name;
    const char *from_user;      /* outgoing From user; NULL: the endpoint name */
    const char *from_domain;    /* outgoing From host; NULL: the profile's sip-ip */
    const char *transport;      /* outgoing transport when the URI names none; NULL: URI's */
    const char *outbound_proxy; /* outgoing next hop; NULL: the URI */
    const char *file;           /* where it was defined */
    int line;
} ep_endpoint_ext_t;

typedef struct ep_header_rule {
    const char *endpoint_name;
    const ep_endpoint_t *endpoint;
    const char *header;
    const char *regex;
    pcre2_code *code; /* compiled + JIT at configure time; shared read-only */
} ep_header_rule_t;

typedef struct ep_profile_conf {
    const char *name;
    ep_profile_settings_t set;
    apr_hash_t *endpoints;             /* name -> ep_endpoint_ext_t*, this profile's */
    apr_array_header_t *endpoint_list; /* ep_endpoint_ext_t*, in configured order */
    ep_cidr_table_t *ip_rules;         /* value: ep_endpoint_ext_t* */
    apr_array_header_t *ip_rule_text;  /* const char* "cidr -> endpoint" for show */
    apr_array_header_t *header_rules;  /* ep_header_rule_t */
    apr_hash_t *by_auth_user;          /* digest username -> first endpoint whose auth has it */
    const ep_endpoint_ext_t *anonymous;
} ep_profile_conf_t;

typedef struct ep_config {
    apr_pool_t *pool;
    apr_array_header_t *profiles; /* ep_profile_conf_t* in configured order */
    apr_hash_t *endpoints;        /* name -> ep_endpoint_ext_t*, all profiles (names are unique) */
    apr_hash_t *auths;            /* name -> ep_auth_t* */
} ep_config_t;

extern const aorta_setting_t ep_profile_settings_table[];
extern const aorta_setting_t ep_endpoint_settings_table[];
extern const aorta_setting_t ep_auth_settings_table[];

apr_status_t ep_config_parse(const aorta_conf_t *conf, apr_pool_t *pool, aorta_conf_errors_t *errs, ep_config_t **out);
const ep_profile_conf_t *ep_config_profile(const ep_config_t *cfg, const char *name);
/** 1 if the two settings need different listeners (a transport change). */
int ep_settings_transport_differs(const ep_profile_settings_t *a, const ep_profile_settings_t *b);
int ep_list_has(const apr_array_header_t *list, const char *word);

/* ---- service registry (ep_registry.c) ------------------------------------------------- */

typedef struct ep_identifier {
    const char *name;
    ep_identify_fn fn;
    void *user;
    aorta_module_t *owner;
    unsigned flags; /* EP_SERVICE_* */
} ep_identifier_t;

typedef struct ep_registry ep_registry_t;

apr_status_t ep_registry_create(ep_registry_t **reg, apr_pool_t *pool);
void ep_registry_destroy(ep_registry_t *reg);
/* Readers bracket a whole request's use (identify + dispatch) with these. */
void ep_registry_rdlock(ep_registry_t *reg);
void ep_registry_unlock(ep_registry_t *reg);
apr_status_t ep_registry_method_add(ep_registry_t *reg, aorta_module_t *owner, const char *method, ep_method_fn fn,
                                    void *user, unsigned flags);
apr_status_t ep_registry_identifier_add(ep_registry_t *reg, aorta_module_t *owner, const char *name, ep_identify_fn fn,
                                        void *user, unsigned flags);
apr_status_t ep_registry_challenger_set(ep_registry_t *reg, aorta_module_t *owner, ep_challenge_fn fn, void *user,
                                        unsigned flags);
apr_status_t ep_registry_option_tag_add(ep_registry_t *reg, aorta_module_t *owner, const char *tag);
void ep_registry_unregister_owner(ep_registry_t *reg, aorta_module_t *owner);
/* Read side (rdlock held): */
int ep_registry_method_find(ep_registry_t *reg, const char *method, ep_method_fn *fn, void **user);
int ep_registry_challenger(ep_registry_t *reg, ep_challenge_fn *fn, void **user);
/**
 * 1 when @p method's service, every identifier and the challenger are all
 * EP_SERVICE_NONBLOCKING: the whole pipeline may then run on the profile's thread.
 */
int ep_registry_nonblocking(ep_registry_t *reg, const char *method);
/** Identifiers in the order @p order dictates (see ep_identify_order); fills up to max; returns count. */
int ep_registry_identifiers(ep_registry_t *reg, const apr_array_header_t *order, const ep_identifier_t **out, int max);
/** "INVITE, ACK, ..." and "path, ..." for OPTIONS answers, into @p pool. */
const char *ep_registry_allow(ep_registry_t *reg, apr_pool_t *pool);
const char *ep_registry_supported(ep_registry_t *reg, apr_pool_t *pool);

/**
 * Pure ordering rule, unit-tested: @p order names first (those that exist, in that order,
 * each once), then every other name in registration order. Writes indexes into @p names
 * to @p out and returns how many.
 */
int ep_identify_order(const char *const *order, int norder, const char *const *names, int nnames, int *out);

/* ---- running profiles (ep_profile.c) -------------------------------------------------- */

typedef struct ep_source_count {
    char ip[48];
    apr_uint64_t count;
    apr_time_t last;
} ep_source_count_t;

typedef struct ep_profile {
    const char *name;
    ep_profile_settings_t set;      /* copy of the settings it was started with (module pool) */
    const char *contact_url;        /* "sip:ip:port;transport=udp,tcp" (for show) or NULL */
    apr_array_header_t *plain_urls; /* one "sip:ip:port;transport=X" per udp/tcp listener */
    const char *tls_url;            /* "sips:ip:tlsport" or NULL */
    struct ep_mod *mod;

    /* root thread only */
    apr_os_thread_t root_thread; /* set before the agent exists; see ep_profile_on_root() */
    su_root_t *root;
    nta_agent_t *agent;
    nta_leg_t *leg;

    apr_thread_mutex_t *post_lock; /* ep_profile_post against the root's destruction */

    /* start-up hand-shake */
    apr_thread_t *thread;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    int state; /* 0 starting, 1 running, -1 failed, 2 stopped */
    char error[256];
    int error_code; /* errno of a bind failure, 0 otherwise */

    /* counters: requests is written by the root thread only; others atomically */
    volatile apr_uint64_t requests;
    volatile apr_uint64_t on_root;   /* requests run on this thread (the fast path) */
    volatile apr_uint64_t to_workers; /* requests handed to the workers */
    volatile apr_uint32_t inflight; /* requests handed to workers, not yet finished */
    volatile apr_uint32_t accepting;
    volatile apr_uint32_t unidentified;
    volatile apr_uint32_t rejected; /* refused before a worker (shutdown, queue full) */
    volatile apr_uint32_t outgoing; /* requests sent whose callback has not run yet */
    struct ep_out *pending;         /* root thread only: transactions still open */
    struct ep_branch *branches;     /* root thread only: proxied INVITE branches still open */
    struct ep_relay *relays;        /* root thread only: in-dialog requests being relayed */
    apr_hash_t *bridged;            /* root thread only: Call-ID (and Call-ID\x01callee-tag) -> ep_bridged_e */
    apr_pool_t *bridged_pool;       /* root thread only: rebuilt when the table is swept */
    unsigned bridged_adds;
    apr_pool_t *pool_cache[256];    /* root thread only: cleared request pools */
    int pool_cache_n;

    /* unidentified sources: small bounded table under its own lock (not the hot path) */
    apr_thread_mutex_t *src_lock;
    apr_hash_t *sources; /* ip -> ep_source_count_t* */
    apr_pool_t *src_pool;
} ep_profile_t;

apr_status_t ep_profile_start(struct ep_mod *m, const ep_profile_conf_t *pc, ep_profile_t **out);
/** 1 when the caller is @p p's own thread (where nta objects may be touched directly). */
int ep_profile_on_root(const ep_profile_t *p);
void ep_profile_stop(ep_profile_t *p);
/** nta counters, read in the profile's thread. */
typedef struct ep_nta_stats {
    apr_size_t recv_msg, recv_request, bad_message, bad_request, drop_request, server_tr, client_tr;
} ep_nta_stats_t;
void ep_profile_nta_stats(ep_profile_t *p, ep_nta_stats_t *st);
void ep_profile_count_source(ep_profile_t *p, const char *ip);

/* ---- requests (ep_pipeline.c) --------------------------------------------------------- */

/** A reply to send: one malloc'd block (the strings follow it); the root thread frees it. */
typedef struct ep_reply_rec {
    int status; /* 0: send nothing (ACK) */
    const char *phrase, *headers, *content_type, *body;
} ep_reply_rec_t;

/** mod_endpoints' bookkeeping of one request (ep_request_t.priv). */
typedef struct ep_req_priv {
    ep_profile_t *profile;
    nta_incoming_t *irq;     /* root thread only; NULL: nothing to answer (CANCEL) */
    aorta_config_gen_t *gen; /* held while the request lives */
    const ep_config_t *cfg;
    const ep_profile_conf_t *pconf;
    const char *server;         /* Server header value or NULL (in the generation) */
    volatile apr_uint32_t refs; /* the pipeline's + the pending final reply's */
    volatile apr_uint32_t held;
    volatile apr_uint32_t final; /* a final reply was given */
    ep_reply_rec_t *final_rec;
    msg_t *final_msg; /* proxy_relay(): a response to send as received instead of final_rec */
    int irq_present; /* copy of irq != NULL that workers may read */
    char src_ip_buf[SU_ADDRSIZE];
} ep_req_priv_t;

/** Message from any thread to a profile's root thread. */
typedef struct ep_sumsg {
    int kind; /* EP_SUMSG_* */
    void *ptr;
    void *ptr2;
} ep_sumsg_t;

enum {
    EP_SUMSG_FINAL = 1,
    EP_SUMSG_PROVISIONAL,
    EP_SUMSG_BREAK,
    EP_SUMSG_OUTGOING,
    EP_SUMSG_OUTGOING_DONE,
    EP_SUMSG_BRANCH_START,  /* ptr: ep_branch_t */
    EP_SUMSG_BRANCH_CANCEL, /* ptr: ep_branch_t */
    EP_SUMSG_RELAY,         /* ptr: ep_request_t, ptr2: msg_t (a provisional response) */
    EP_SUMSG_ACKBYE,        /* ptr: msg_t (a 2xx nobody takes) */
    EP_SUMSG_FORWARD_2XX    /* ptr: msg_t (a 2xx after the INVITE's final answer, for the caller) */
};

apr_status_t ep_profile_post(ep_profile_t *p, int kind, void *ptr, void *ptr2);
void ep_profile_request_done(ep_profile_t *p);

/** Root thread: a request arrived on the default leg. */
int ep_pipeline_incoming(ep_profile_t *p, nta_incoming_t *irq, const sip_t *sip);
/** Root thread: send the stored final reply and free the request. */
void ep_pipeline_send_final(ep_profile_t *p, ep_request_t *req);
void ep_pipeline_send_provisional(ep_profile_t *p, ep_request_t *req, ep_reply_rec_t *rec);
/** A queued provisional reply: send it, then drop the reference it held. */
void ep_pipeline_provisional_run(ep_profile_t *p, ep_request_t *req, ep_reply_rec_t *rec);
/** Root thread, at stop: destroy the cached request pools. */
void ep_pipeline_pools_free(ep_profile_t *p);
/** Copy a reply into one malloc'd block; NULL on out-of-memory. */
ep_reply_rec_t *ep_reply_rec_make(int status, const char *phrase, const char *headers, const char *content_type,
                                  const char *body);
/** mod_endpoints' own OPTIONS service. */
void ep_options_service(ep_request_t *req, void *user);

apr_status_t ep_reply(ep_request_t *req, int status, const char *phrase, const char *headers, const char *content_type,
                      const char *body);
void ep_hold(ep_request_t *req);

/* ---- identification (ep_identify.c) --------------------------------------------------- */

void ep_identify_register_builtins(struct ep_mod *m);
/** Run identifiers; NULL if none matched. Sets req->identified_by. Registry rdlock held. */
const ep_endpoint_t *ep_identify_run(struct ep_mod *m, ep_request_t *req);
/** Answer an unidentified request per the profile's unidentified-response; fires the event. */
void ep_identify_reject(struct ep_mod *m, ep_request_t *req);
/** The header value of @p name in @p sip (case-insensitive), into @p pool, or NULL. */
const char *ep_sip_header_value(const sip_t *sip, const char *name, apr_pool_t *pool);

/* ---- dialog cache (ep_dialog.c) ------------------------------------------------------- */

typedef struct ep_dialogs ep_dialogs_t;
apr_status_t ep_dialogs_create(ep_dialogs_t **d, apr_pool_t *pool);
void ep_dialogs_put(ep_dialogs_t *d, const char *call_id, const char *profile, const char *endpoint, int ttl);
/** Copies the endpoint name into @p buf; 1 if found and not expired. */
int ep_dialogs_get(ep_dialogs_t *d, const char *call_id, const char *profile, char *buf, apr_size_t len);
void ep_dialogs_remove(ep_dialogs_t *d, const char *call_id);
apr_size_t ep_dialogs_count(ep_dialogs_t *d);

/* ---- outgoing requests (ep_outgoing.c) ------------------------------------------------ */

apr_status_t ep_request_send(const ep_outgoing_t *o, ep_response_fn fn, void *user);
apr_status_t ep_request_send_owned(aorta_module_t *owner, const ep_outgoing_t *o, ep_response_fn fn, void *user);
/** Never call the callbacks of @p owner's pending requests; wait until none is running. */
void ep_outgoing_cancel_owner(struct ep_mod *m, aorta_module_t *owner);
void ep_outgoing_start(ep_profile_t *p, struct ep_out *out); /* root thread */
/** Root thread, at stop: finish every open outgoing transaction with 503 before nta goes. */
void ep_outgoing_abort_all(ep_profile_t *p);

/* ---- proxy (ep_proxy.c) ------------------------------------------------------------- */

apr_status_t ep_proxy_branch_start(ep_request_t *req, const ep_target_t *t, ep_branch_fn fn, void *user,
                                   ep_branch_t **out);
void ep_proxy_branch_cancel(ep_branch_t *b);
apr_status_t ep_proxy_relay(ep_request_t *req, ep_branch_event_t *ev);
/* root thread: */
void ep_proxy_branch_run(ep_profile_t *p, ep_branch_t *b);
void ep_proxy_branch_cancel_run(ep_profile_t *p, ep_branch_t *b);
void ep_proxy_relay_run(ep_profile_t *p, ep_request_t *req, msg_t *msg);
apr_status_t ep_proxy_ackbye(ep_branch_event_t *ev);
void ep_proxy_ackbye_run(ep_profile_t *p, msg_t *msg);
apr_status_t ep_proxy_forward_2xx(ep_branch_event_t *ev);
/** Root thread: send a 2xx statelessly by the Via below ours (ACK and BYE it when there is none). */
void ep_proxy_forward_2xx_run(ep_profile_t *p, msg_t *msg);
apr_status_t ep_proxy_challenges_add(ep_branch_event_t *into, const ep_branch_event_t *from);
/** A response no transaction matched: forward an INVITE 2xx of a bridged call (a callee's
 * retransmission) statelessly toward the caller. 1: taken; 0: the caller drops it. */
int ep_proxy_stray_response(ep_profile_t *p, msg_t *msg, sip_t *sip);
/** An in-dialog request routed through us (top Route is this profile, Call-ID of a bridged
 * call): relay it and return the status for the leg callback (0: kept); -1: not ours. */
int ep_proxy_in_dialog(ep_profile_t *p, nta_incoming_t *irq, const sip_t *sip);
/** At stop, before nta goes: finish every branch (503) and relayed request. */
void ep_proxy_abort_all(ep_profile_t *p);

/* ---- API commands (ep_show.c) --------------------------------------------------------- */

apr_status_t ep_cmd_show_profiles(const char *args, aorta_stream_t *out, apr_pool_t *pool);
apr_status_t ep_cmd_show_endpoints(const char *args, aorta_stream_t *out, apr_pool_t *pool);
apr_status_t ep_cmd_sip_options(const char *args, aorta_stream_t *out, apr_pool_t *pool);

/* ---- the module ----------------------------------------------------------------------- */

typedef struct ep_mod {
    aorta_module_t *mod;
    apr_pool_t *pool;
    ep_registry_t *registry;
    ep_dialogs_t *dialogs;
    apr_array_header_t *profiles; /* ep_profile_t*, fixed after load */
    volatile apr_uint32_t unidentified_total;
    /* every outgoing request from request_send() until its callback has returned */
    apr_thread_mutex_t *out_lock;
    apr_thread_cond_t *out_cond;
    struct ep_out *live;
} ep_mod_t;

/** The loaded module (API commands and the interface table have no other way to reach it). */
extern ep_mod_t *ep_g;

ep_profile_t *ep_profile_find(ep_mod_t *m, const char *name);

#endif
