/*
 * aorta/event.h — events: ordered headers and an optional body, fired to bindings.
 *
 * An event is created with FreeSWITCH's standard headers already in place (Event-Name,
 * Core-UUID, FreeSWITCH-Hostname, ..., Event-Sequence, Event-Subclass), gets its own headers
 * in the order they are added, and is fired. Firing never blocks: the event goes into a
 * bounded queue served by the dispatch thread; when the queue is full the event is dropped
 * and counted (logged once a second at most). Bindings run on the dispatch thread, one
 * event at a time, in binding order; they must not block.
 *
 * Once fired an event is immutable and reference-counted: a binding that wants to keep it
 * (the event socket queues it per subscriber) takes a reference. Serialized forms (plain,
 * json, xml) are computed once per event and shared by all subscribers.
 */
#ifndef AORTA_EVENT_H
#define AORTA_EVENT_H

#include "aorta/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** FreeSWITCH's event names, in FreeSWITCH's order (switch_event.c EVENT_NAMES). */
typedef enum aorta_event_id {
    AORTA_EVENT_CUSTOM,
    AORTA_EVENT_CLONE,
    AORTA_EVENT_CHANNEL_CREATE,
    AORTA_EVENT_CHANNEL_DESTROY,
    AORTA_EVENT_CHANNEL_STATE,
    AORTA_EVENT_CHANNEL_CALLSTATE,
    AORTA_EVENT_CHANNEL_ANSWER,
    AORTA_EVENT_CHANNEL_HANGUP,
    AORTA_EVENT_CHANNEL_HANGUP_COMPLETE,
    AORTA_EVENT_CHANNEL_EXECUTE,
    AORTA_EVENT_CHANNEL_EXECUTE_COMPLETE,
    AORTA_EVENT_CHANNEL_HOLD,
    AORTA_EVENT_CHANNEL_UNHOLD,
    AORTA_EVENT_CHANNEL_BRIDGE,
    AORTA_EVENT_CHANNEL_UNBRIDGE,
    AORTA_EVENT_CHANNEL_PROGRESS,
    AORTA_EVENT_CHANNEL_PROGRESS_MEDIA,
    AORTA_EVENT_CHANNEL_OUTGOING,
    AORTA_EVENT_CHANNEL_PARK,
    AORTA_EVENT_CHANNEL_UNPARK,
    AORTA_EVENT_CHANNEL_APPLICATION,
    AORTA_EVENT_CHANNEL_ORIGINATE,
    AORTA_EVENT_CHANNEL_UUID,
    AORTA_EVENT_API,
    AORTA_EVENT_LOG,
    AORTA_EVENT_INBOUND_CHAN,
    AORTA_EVENT_OUTBOUND_CHAN,
    AORTA_EVENT_STARTUP,
    AORTA_EVENT_SHUTDOWN,
    AORTA_EVENT_PUBLISH,
    AORTA_EVENT_UNPUBLISH,
    AORTA_EVENT_TALK,
    AORTA_EVENT_NOTALK,
    AORTA_EVENT_SESSION_CRASH,
    AORTA_EVENT_MODULE_LOAD,
    AORTA_EVENT_MODULE_UNLOAD,
    AORTA_EVENT_DTMF,
    AORTA_EVENT_MESSAGE,
    AORTA_EVENT_PRESENCE_IN,
    AORTA_EVENT_NOTIFY_IN,
    AORTA_EVENT_PRESENCE_OUT,
    AORTA_EVENT_PRESENCE_PROBE,
    AORTA_EVENT_MESSAGE_WAITING,
    AORTA_EVENT_MESSAGE_QUERY,
    AORTA_EVENT_ROSTER,
    AORTA_EVENT_CODEC,
    AORTA_EVENT_BACKGROUND_JOB,
    AORTA_EVENT_DETECTED_SPEECH,
    AORTA_EVENT_DETECTED_TONE,
    AORTA_EVENT_PRIVATE_COMMAND,
    AORTA_EVENT_HEARTBEAT,
    AORTA_EVENT_TRAP,
    AORTA_EVENT_ADD_SCHEDULE,
    AORTA_EVENT_DEL_SCHEDULE,
    AORTA_EVENT_EXE_SCHEDULE,
    AORTA_EVENT_RE_SCHEDULE,
    AORTA_EVENT_RELOADXML,
    AORTA_EVENT_NOTIFY,
    AORTA_EVENT_PHONE_FEATURE,
    AORTA_EVENT_PHONE_FEATURE_SUBSCRIBE,
    AORTA_EVENT_SEND_MESSAGE,
    AORTA_EVENT_RECV_MESSAGE,
    AORTA_EVENT_REQUEST_PARAMS,
    AORTA_EVENT_CHANNEL_DATA,
    AORTA_EVENT_GENERAL,
    AORTA_EVENT_COMMAND,
    AORTA_EVENT_SESSION_HEARTBEAT,
    AORTA_EVENT_CLIENT_DISCONNECTED,
    AORTA_EVENT_SERVER_DISCONNECTED,
    AORTA_EVENT_SEND_INFO,
    AORTA_EVENT_RECV_INFO,
    AORTA_EVENT_RECV_RTCP_MESSAGE,
    AORTA_EVENT_SEND_RTCP_MESSAGE,
    AORTA_EVENT_CALL_SECURE,
    AORTA_EVENT_NAT,
    AORTA_EVENT_RECORD_START,
    AORTA_EVENT_RECORD_STOP,
    AORTA_EVENT_PLAYBACK_START,
    AORTA_EVENT_PLAYBACK_STOP,
    AORTA_EVENT_CALL_UPDATE,
    AORTA_EVENT_FAILURE,
    AORTA_EVENT_SOCKET_DATA,
    AORTA_EVENT_MEDIA_BUG_START,
    AORTA_EVENT_MEDIA_BUG_STOP,
    AORTA_EVENT_CONFERENCE_DATA_QUERY,
    AORTA_EVENT_CONFERENCE_DATA,
    AORTA_EVENT_CALL_SETUP_REQ,
    AORTA_EVENT_CALL_SETUP_RESULT,
    AORTA_EVENT_CALL_DETAIL,
    AORTA_EVENT_DEVICE_STATE,
    AORTA_EVENT_TEXT,
    AORTA_EVENT_SHUTDOWN_REQUESTED,
    AORTA_EVENT_CERT_RELOAD,
    AORTA_EVENT_ALL,
    AORTA_EVENT_COUNT
} aorta_event_id_t;

/** "CUSTOM", "BACKGROUND_JOB", ...; NULL for an id out of range. */
AORTA_DECLARE(const char *) aorta_event_name(aorta_event_id_t id);
/** Case-insensitive lookup, "SWITCH_EVENT_" prefix accepted; APR_EINVAL if unknown. */
AORTA_DECLARE(apr_status_t) aorta_event_name_parse(const char *name, aorta_event_id_t *id);

/**
 * Create an event with the standard headers. @p subclass only for CUSTOM (copied).
 * Use the macros, which record the calling file, function and line.
 */
AORTA_DECLARE(apr_status_t) aorta_event_create_detailed(aorta_event_t **ev, aorta_event_id_t id, const char *subclass,
                                                        const char *file, const char *func, int line);
#define aorta_event_create(ev, id) aorta_event_create_detailed((ev), (id), NULL, __FILE__, __func__, __LINE__)
#define aorta_event_create_subclass(ev, subclass) \
    aorta_event_create_detailed((ev), AORTA_EVENT_CUSTOM, (subclass), __FILE__, __func__, __LINE__)

/** Append a header (both strings copied). A NULL or empty value adds nothing (FreeSWITCH rule). */
AORTA_DECLARE(void) aorta_event_add_header(aorta_event_t *ev, const char *name, const char *value);
AORTA_DECLARE(void) aorta_event_add_header_printf(aorta_event_t *ev, const char *name, const char *fmt, ...)
    AORTA_PRINTF(3, 4);
/** Replace the value of the first header named @p name (case-insensitive), or append it. */
AORTA_DECLARE(void) aorta_event_set_header(aorta_event_t *ev, const char *name, const char *value);
/** Remove every header named @p name (case-insensitive). */
AORTA_DECLARE(void) aorta_event_del_header(aorta_event_t *ev, const char *name);
/** Set (copy) the body; NULL clears it. */
AORTA_DECLARE(void) aorta_event_set_body(aorta_event_t *ev, const char *body, apr_size_t len);

/** First value of header @p name (case-insensitive), or NULL. Valid while a reference is held. */
AORTA_DECLARE(const char *) aorta_event_get_header(const aorta_event_t *ev, const char *name);
AORTA_DECLARE(int) aorta_event_header_count(const aorta_event_t *ev);
AORTA_DECLARE(void) aorta_event_header_at(const aorta_event_t *ev, int i, const char **name, const char **value);
AORTA_DECLARE(const char *) aorta_event_get_body(const aorta_event_t *ev, apr_size_t *len);
AORTA_DECLARE(aorta_event_id_t) aorta_event_get_id(const aorta_event_t *ev);
/** Subclass of a CUSTOM event, or NULL. */
AORTA_DECLARE(const char *) aorta_event_get_subclass(const aorta_event_t *ev);

AORTA_DECLARE(aorta_event_t *) aorta_event_ref(aorta_event_t *ev);
/** Drop a reference; the event is freed with the last one. */
AORTA_DECLARE(void) aorta_event_unref(aorta_event_t *ev);

/**
 * Fire: hand the event to the dispatch thread. Takes the caller's reference and sets *ev to
 * NULL in every case. Never blocks. AORTA_EFULL if the queue was full (event dropped and
 * counted), AORTA_ESHUTDOWN after shutdown began.
 */
AORTA_DECLARE(apr_status_t) aorta_event_fire(aorta_event_t **ev);

/**
 * 1 when some binding would receive an event of @p id (a binding to @p id or to
 * AORTA_EVENT_ALL; subclasses are not told apart). A hot path may skip building an event
 * nobody listens for; such an event is then not counted as fired.
 */
AORTA_DECLARE(int) aorta_event_wanted(aorta_event_id_t id);

typedef enum aorta_event_format {
    AORTA_EVENT_FORMAT_PLAIN,
    AORTA_EVENT_FORMAT_JSON,
    AORTA_EVENT_FORMAT_XML
} aorta_event_format_t;

/**
 * The event serialized as ESL.md §10 describes (plain: URL-encoded "Name: value\n" lines;
 * json: one object, all values strings; xml: <event><headers>...). Computed once per format
 * and cached in the event; thread-safe. *data stays valid while a reference is held.
 */
AORTA_DECLARE(apr_status_t) aorta_event_serialize(aorta_event_t *ev, aorta_event_format_t format, const char **data,
                                                  apr_size_t *len);

/**
 * FreeSWITCH's URL encoding of @p in (ESL.md §10): writes at most @p outlen-1 bytes plus NUL
 * to @p out and returns the length the full encoding needs (excluding the NUL).
 */
AORTA_DECLARE(apr_size_t) aorta_url_encode(const char *in, char *out, apr_size_t outlen);

/** Called on the dispatch thread for each matching event; take a ref to keep it. */
typedef void (*aorta_event_fn)(aorta_event_t *ev, void *user);

/**
 * Bind @p fn to events named @p id (AORTA_EVENT_ALL: every event). For CUSTOM, @p subclass
 * selects one subclass (exact, case-sensitive); NULL: every CUSTOM event.
 */
AORTA_DECLARE(apr_status_t) aorta_event_bind(aorta_event_id_t id, const char *subclass, aorta_event_fn fn, void *user,
                                             aorta_event_binding_t **binding);
/** Remove a binding; when it returns no callback of it is running or will run. */
AORTA_DECLARE(void) aorta_event_unbind(aorta_event_binding_t *binding);

/** Counters since start: events fired and events dropped because the queue was full. */
AORTA_DECLARE(void) aorta_event_stats(apr_uint64_t *fired, apr_uint64_t *dropped);

#ifdef __cplusplus
}
#endif
#endif
