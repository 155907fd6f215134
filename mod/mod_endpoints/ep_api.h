/*
 * ep_api.h — the `endpoints` interface that mod_endpoints publishes for other modules.
 *
 * Fetch it in load():
 *     const ep_api_t *ep;
 *     if (aorta_interface_require(mod, EP_API_NAME, (const void **)&ep) != APR_SUCCESS) ...
 *
 * Threads: every function here may be called from any thread. Requests reach method
 * services on a core worker (REGISTERs of one AOR and requests of one Call-ID serialized),
 * or, when everything on their path is EP_SERVICE_NONBLOCKING, on the SIP thread that
 * received them; nothing in an ep_request_t is touched by the SIP thread while a service
 * or a holder owns it.
 *
 * Lifetimes: an ep_request_t and everything it points to (its pool, its private copy of the
 * parsed message, its endpoint) stay valid until its final reply has been sent: inside the
 * handler by default, or — after ep->hold(req) — until the final ep->reply() from any thread.
 * After a hold, only one thread at a time may allocate from req->pool.
 *
 * ACK, and a CANCEL (which the transaction layer has already answered 200, and its INVITE
 * 487), also reach their method services; reply() on them sends nothing and only completes
 * them. Identifiers, services and the challenger run while mod_endpoints holds its registry
 * for reading: they must not call method_register, identifier_register, challenger_set,
 * option_tag_register or unregister_owner.
 */
#ifndef EP_API_H
#define EP_API_H

#include <aorta/aorta.h>
#include <apr_network_io.h> /* apr_port_t */
#include <sofia-sip/sip.h>
#include <sofia-sip/msg.h>

#define EP_API_NAME "endpoints"
#define EP_API_VERSION 1

/** Credentials of an <auth> block. Exactly one of password, ha1, ha1_sha256 is set. */
typedef struct ep_auth {
    const char *name;
    const char *username;
    const char *password;
    const char *ha1;        /**< MD5(username:realm:password), hex */
    const char *ha1_sha256; /**< SHA-256(username:realm:password), hex */
} ep_auth_t;

/** A configured endpoint. Immutable; belongs to a configuration generation. */
typedef struct ep_endpoint {
    const char *name;
    const char *profile;            /**< profile that defines it */
    apr_array_header_t *aors;       /**< const char *, in configured order; may be empty */
    const ep_auth_t *auth;          /**< NULL: no authentication */
    const char *context;            /**< dialplan context for its INVITEs */
    apr_array_header_t *allow;      /**< const char * codec names; empty: no restriction */
} ep_endpoint_t;

/** One incoming request, handed to a method service on a worker. */
typedef struct ep_request {
    apr_pool_t *pool;                /**< owned by the request */
    const char *profile;             /**< profile name */
    msg_t *msg;                      /**< private parsed copy; read-only */
    const sip_t *sip;                /**< sip_object(msg) */
    sip_method_t method;
    const char *method_name;
    const char *src_ip;              /**< packet source address, numeric */
    apr_port_t src_port;
    const char *transport;           /**< "udp", "tcp" or "tls" */
    const char *local_ip;            /**< the profile's sip-ip */
    apr_port_t local_port;           /**< port of the listener that received it */
    apr_time_t received;
    const ep_endpoint_t *endpoint;   /**< set before the method service runs */
    const char *identified_by;       /**< identifier name, or "dialog" */
    void *priv;                      /**< mod_endpoints' bookkeeping */
} ep_request_t;

/**
 * Flag for method_register_ex(), identifier_register_ex() and challenger_set_ex(): the
 * callback never waits — no network or disk I/O, no lock held by slow code, no API command,
 * nothing that needs another thread to make progress (queueing work and hold() are fine).
 * When a request's service, every identifier and the challenger all carry it, mod_endpoints
 * runs the request on the SIP thread that received it instead of handing it to a worker:
 * no thread hop, no copy of the message. The callback must then also not call
 * proxy_branch_start(). Without the flag a callback runs on a core worker.
 */
#define EP_SERVICE_NONBLOCKING 0x1u

/** A method service: must reply (or hold and reply later) exactly once with a final status. */
typedef void (*ep_method_fn)(ep_request_t *req, void *user);
/** An endpoint identifier: return the endpoint the request comes from, or NULL. */
typedef const ep_endpoint_t *(*ep_identify_fn)(ep_request_t *req, void *user);
/**
 * Answer a request that matched no endpoint exactly as a known user with wrong credentials
 * would be answered (401 challenge without credentials, 403 with them, 401 stale for an
 * expired nonce). Must reply.
 */
typedef void (*ep_challenge_fn)(ep_request_t *req, void *user);

/**
 * An outgoing non-INVITE request (OPTIONS, NOTIFY, MESSAGE, ...), sent over the endpoint's
 * profile. Strings are copied by request_send(); the struct may live on the caller's stack.
 */
typedef struct ep_outgoing {
    const char *endpoint;     /**< required: the configured endpoint it is for (picks the profile, From) */
    const char *method;       /**< required: "OPTIONS", "NOTIFY", "MESSAGE"... (not INVITE) */
    const char *uri;          /**< required: Request-URI, sip: or sips: */
    const char *route;        /**< optional route set: "<sip:edge.example.com;lr>,<sip:p2;lr>" (e.g. a stored Path) */
    const char *destination;  /**< optional next hop that wins over URI and route, e.g. a NAT'd source address
                                   "sip:203.0.113.5:40001;transport=udp" */
    const char *to;           /**< optional To URI; default: uri */
    const char *headers;      /**< optional extra header lines "Name: value\r\n..." */
    const char *content_type; /**< with body */
    const char *body;
} ep_outgoing_t;

/**
 * The final outcome of an outgoing request, called once on a core worker: @p status is the
 * final response code, 408 when no response came in time, 503 when it could not be sent.
 * @p sip is the response (NULL when there was none); valid only during the call.
 */
typedef void (*ep_response_fn)(int status, const char *phrase, const sip_t *sip, void *user);

/* ---- proxying INVITEs (the dialplan's bridge) ---------------------------------------- */

/** One forwarded copy of a held INVITE (a client transaction in the profile's thread). */
typedef struct ep_branch ep_branch_t;

/** Where a branch goes. Strings are copied by proxy_branch_start(). */
typedef struct ep_target {
    const char *uri;         /**< required: the new Request-URI (sip: or sips:) */
    const char *route;       /**< optional route set put before the request's own, e.g. a stored Path */
    const char *destination; /**< optional next hop that wins over route and URI (a NAT'd source address) */
    int timeout_ms;          /**< >0: no final response by then cancels the branch, reported as 408 timed_out */
    aorta_module_t *owner;   /**< the module whose code the events run (unloading it waits for them), or NULL */
} ep_target_t;

/**
 * What happened on a branch: a provisional response (101..199), or the final outcome: the
 * response, 408 (no answer in time, or timeout_ms passed: timed_out set), 503 (could not be
 * sent, or the profile stopped). @p sip is the response or NULL. Valid during the callback.
 */
typedef struct ep_branch_event {
    int status;
    const char *phrase;
    const sip_t *sip;
    int timed_out;
    msg_t *msg;  /**< private: the response; proxy_relay() and proxy_ackbye() take it */
    void *priv;  /**< private: mod_endpoints' */
} ep_branch_event_t;

/**
 * Called on a core worker keyed by the INVITE's Call-ID (so in order with the INVITE's own
 * service, its CANCEL and the other branches of the call). After the callback for a final
 * status returns, @p b is gone.
 */
typedef void (*ep_branch_fn)(ep_branch_t *b, ep_branch_event_t *ev, void *user);

typedef struct ep_api {
    int version; /**< EP_API_VERSION */

    /** Handle @p method ("REGISTER", "INVITE"...) for @p owner; AORTA_EEXIST if taken. */
    apr_status_t (*method_register)(aorta_module_t *owner, const char *method, ep_method_fn fn, void *user);
    /**
     * Remove all services and identifiers and the challenger of @p owner (and its option tags),
     * and cancel the callbacks of its pending request_send_owned() requests. Returns when no
     * worker is inside any of them any more.
     */
    void (*unregister_owner)(aorta_module_t *owner);
    /** Add an identifier; names listed in identify-order run in that order, others after, in registration order. */
    apr_status_t (*identifier_register)(aorta_module_t *owner, const char *name, ep_identify_fn fn, void *user);
    /** Set the challenger used for unidentified-response=challenge (one at a time). */
    apr_status_t (*challenger_set)(aorta_module_t *owner, ep_challenge_fn fn, void *user);

    /**
     * Send a response. @p headers: extra header lines "Name: value\r\n..." or NULL; @p body
     * with @p content_type or NULL. A provisional status keeps the request; a final one
     * completes it (after a hold, @p req is freed and must not be used again).
     */
    apr_status_t (*reply)(ep_request_t *req, int status, const char *phrase, const char *headers,
                          const char *content_type, const char *body);
    /** The handler will reply after it returns, possibly from another thread. */
    void (*hold)(ep_request_t *req);

    /**
     * Find an endpoint by name. The result stays valid until aorta_module_config_release(*gen);
     * NULL (and *gen NULL) if there is none.
     */
    const ep_endpoint_t *(*endpoint_find)(const char *name, aorta_config_gen_t **gen);
    /** Find an <auth> by name, with the same lifetime rule. */
    const ep_auth_t *(*auth_find)(const char *name, aorta_config_gen_t **gen);

    /* ---- added after version 1's first members (append only) ---- */

    /**
     * Send @p out; @p fn gets the final status on a worker. APR_SUCCESS means @p fn will be
     * called exactly once; an error (unknown endpoint, bad URI, shutting down) means it will not.
     * The caller must stay loaded until then: use request_send_owned() if it may unload first.
     */
    apr_status_t (*request_send)(const ep_outgoing_t *out, ep_response_fn fn, void *user);
    /** Announce an option tag (e.g. "path") in Supported of OPTIONS answers; removed with the owner. */
    apr_status_t (*option_tag_register)(aorta_module_t *owner, const char *tag);
    /**
     * For identifiers and services: the endpoint @p name of @p req's profile in the
     * configuration generation @p req already holds, so the result lives exactly as long as
     * the request (no generation reference to manage). NULL if there is none.
     */
    const ep_endpoint_t *(*request_endpoint_find)(const ep_request_t *req, const char *name);
    /**
     * As request_send(), on behalf of module @p owner: unregister_owner(@p owner) cancels the
     * callbacks of its requests still pending (they are then never called) and returns when
     * none of them is running, so a module may unload before its requests finish.
     */
    apr_status_t (*request_send_owned)(aorta_module_t *owner, const ep_outgoing_t *out, ep_response_fn fn,
                                       void *user);

    /* ---- proxying (append only) ---- */

    /**
     * Forward the held INVITE @p req to @p t (RFC 3261 §16.6): new Request-URI, the route
     * set and destination of @p t, Max-Forwards decremented (the caller answers 483 when it
     * is 0), a Record-Route with ;lr so the dialog's requests come back through this
     * profile, and nta's own Via. @p fn gets each provisional response and then exactly one
     * final event. APR_SUCCESS: *out is the branch (valid until its final event returned).
     */
    apr_status_t (*proxy_branch_start)(ep_request_t *req, const ep_target_t *t, ep_branch_fn fn, void *user,
                                       ep_branch_t **out);
    /** CANCEL a branch that has no final response yet (the final event follows, usually 487). */
    void (*proxy_branch_cancel)(ep_branch_t *b);
    /**
     * Relay a branch's response to the caller of @p req as received (Via of this proxy
     * removed; To tag, Contact, Record-Route and body kept). A final status (2xx included)
     * is @p req's final reply. Takes ev->msg; APR_EINVAL when there is none or req was
     * already answered.
     */
    apr_status_t (*proxy_relay)(ep_request_t *req, ep_branch_event_t *ev);
    /**
     * A 2xx that can no longer be relayed: ACK it and send BYE to its callee, so no call is
     * left half set up. Takes ev->msg. (A proxy forwards such a 2xx: proxy_forward_2xx.)
     */
    apr_status_t (*proxy_ackbye)(ep_branch_event_t *ev);
    /**
     * A 2xx that arrives after @p req got its final answer (another branch answered first, or
     * the caller cancelled): forward it to the caller statelessly, as RFC 3261 §16.7 step 5
     * wants every 2xx of an INVITE forwarded. The caller acknowledges it and ends that extra
     * dialog itself, through our Record-Route. Takes ev->msg.
     */
    apr_status_t (*proxy_forward_2xx)(ep_branch_event_t *ev);
    /**
     * Add every WWW-Authenticate and Proxy-Authenticate of the response @p from to the
     * response @p into, unchanged (RFC 3261 §16.7 step 7: a relayed 401/407 carries the
     * challenges of every 401/407 of the fork). Both must still hold their msg.
     */
    apr_status_t (*proxy_challenges_add)(ep_branch_event_t *into, const ep_branch_event_t *from);

    /* ---- services that may run on the SIP thread (append only) ---- */

    /** method_register() with EP_SERVICE_* @p flags. */
    apr_status_t (*method_register_ex)(aorta_module_t *owner, const char *method, ep_method_fn fn, void *user,
                                       unsigned flags);
    /** identifier_register() with EP_SERVICE_* @p flags. */
    apr_status_t (*identifier_register_ex)(aorta_module_t *owner, const char *name, ep_identify_fn fn, void *user,
                                           unsigned flags);
    /** challenger_set() with EP_SERVICE_* @p flags. */
    apr_status_t (*challenger_set_ex)(aorta_module_t *owner, ep_challenge_fn fn, void *user, unsigned flags);
} ep_api_t;

#endif
