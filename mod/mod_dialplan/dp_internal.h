/*
 * dp_internal.h — mod_dialplan's shared types: the parsed dialplan (one configuration
 * generation), the hunt that turns a call's variables into a list of actions, and the
 * execution of those actions by the applications; a bridge to sip/ legs suspends the run
 * until dp_bridge.c resumes it.
 *
 * Lifetimes: a dp_conf_t and everything in it (compiled pcre2 patterns included, freed by a
 * cleanup) belong to the generation pool; calls hold the generation for their whole run
 * (aorta_module_config_acquire). A dp_call_t and its variables live in the call's pool (the
 * INVITE's request pool, or the API command's pool).
 */
#ifndef DP_INTERNAL_H
#define DP_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <aorta/aorta.h>
#include <apr_hash.h>
#include <apr_tables.h>
#include <pcre2.h>
#include "dp_dialstring.h"
#include "dp_expand.h"

typedef enum dp_break {
    DP_BREAK_ON_FALSE = 0, /**< the default: a failed condition ends the extension */
    DP_BREAK_ON_TRUE,
    DP_BREAK_ALWAYS,
    DP_BREAK_NEVER
} dp_break_t;

typedef struct dp_app dp_app_t;

typedef struct dp_action {
    const dp_app_t *app;
    const char *data;  /**< as written ("" when absent) */
    int is_inline;     /**< inline="true": run while hunting (set only) */
    const char *where; /**< "file:line" */
} dp_action_t;

typedef struct dp_condition {
    const char *field;      /**< variable name or ${...} expression; NULL: always true */
    const char *expression; /**< pcre2 source; NULL with field NULL */
    pcre2_code *re;
    dp_break_t brk;
    apr_array_header_t *actions;      /**< dp_action_t * */
    apr_array_header_t *anti_actions; /**< dp_action_t * */
    const char *where;
} dp_condition_t;

typedef struct dp_extension {
    const char *name;
    int is_continue;                /**< continue="true": hunting goes on after a match */
    apr_array_header_t *conditions; /**< dp_condition_t * */
    const char *where;
} dp_extension_t;

typedef struct dp_context {
    const char *name;
    apr_array_header_t *extensions; /**< dp_extension_t *; same-named contexts are merged in order */
} dp_context_t;

typedef struct dp_conf {
    apr_hash_t *contexts; /**< name → dp_context_t * */
    int nextensions;
} dp_conf_t;

/** One action chosen by the hunt, its $N captures already substituted. */
typedef struct dp_step {
    const dp_action_t *action;
    const char *data;
    const char *extension;
    int anti;
} dp_step_t;

/* ---- dp_xml.c ---------------------------------------------------------------------------- */

/** Parse <section name="dialplan"> into *out (in @p pool). Every problem goes to @p errs with file:line. */
apr_status_t dp_conf_parse(const aorta_conf_t *conf, apr_pool_t *pool, aorta_conf_errors_t *errs, dp_conf_t **out);

/** One line per evaluated condition, for dialplan_test. */
typedef void (*dp_trace_fn)(void *user, const char *fmt, ...) AORTA_PRINTF(2, 3);

/**
 * Hunt @p context with the call variables @p vars: *steps gets the actions and anti-actions
 * to run (dp_step_t, in order), *matched the names of the extensions that matched (const
 * char *). inline set actions change @p vars as they are met. AORTA_ENOTFOUND: no such context.
 */
apr_status_t dp_hunt(const dp_conf_t *conf, const char *context, apr_table_t *vars, apr_pool_t *pool, dp_trace_fn trace,
                     void *trace_user, apr_array_header_t **steps, apr_array_header_t **matched);

/* ---- dp_exec.c --------------------------------------------------------------------------- */

typedef struct dp_call dp_call_t;

/** How a call leaves the dialplan: a SIP status to answer with. */
struct dp_call {
    apr_pool_t *pool;
    apr_table_t *vars;
    int dry_run;       /**< dialplan_test: decide, send nothing */
    dp_trace_fn trace; /**< dialplan_test's output, or NULL */
    void *trace_user;
    /** Send a provisional response now (INVITE only; NULL in a dry run). */
    void (*provisional)(dp_call_t *call, int status, const char *phrase);
    void *user;
    int status; /**< final decision; 0 while undecided */
    const char *phrase;
    const char *why; /**< one line for the log */

    /* asynchronous bridge (INVITE only; NULL/0 in a dry run): */
    /**
     * Ring the sip/ legs of @p ds. Either it failed at once (it called dp_bridge_fail) or it
     * set call->suspended and calls dp_bridge_resume() when the bridge ends.
     */
    void (*bridge_start)(dp_call_t *call, const dp_dialstring_t *ds, const char *dialstring);
    /** A suspended run ended (status decided): answer and clean up. Called by dp_bridge only. */
    void (*done)(dp_call_t *call);
    /** dialplan_test: shows where each sip/ leg goes (dp_leg_resolve), or NULL. */
    int (*leg_resolve)(const dp_leg_t *leg, apr_pool_t *pool, const char **uri, const char **route,
                       const char **destination, const char **why);
    const apr_array_header_t *steps; /**< what dp_exec_run runs */
    int next;                        /**< index of the next step */
    int suspended;                   /**< a bridge is ringing */
    void *relay;                     /**< ep_branch_event_t *: a callee's response to relay as the final answer */
};

typedef apr_status_t (*dp_app_fn)(dp_call_t *call, const char *data);
/** Configure-time check of literal data; NULL if fine, else a message in @p pool. */
typedef const char *(*dp_app_check_fn)(const char *data, apr_pool_t *pool);

struct dp_app {
    const char *name;
    const char *syntax;
    const char *doc;
    dp_app_fn run;
    dp_app_check_fn check;
};

/** The application named @p name, or NULL. */
const dp_app_t *dp_app_find(const char *name);

/**
 * Run @p steps until one decides the final status (respond, hangup, a failed bridge): each
 * step's data is ${}-expanded first. When the steps run out undecided, the call gets 480.
 */
void dp_exec_run(dp_call_t *call, const apr_array_header_t *steps);

/** The set application's effect: "name=value" sets, "name" or "name=" unsets. */
void dp_set_apply(apr_table_t *vars, const char *data, apr_pool_t *pool);

/**
 * Hunt @p context of @p conf with call->vars and run what it found; call->status is then the
 * final answer (404 when the context does not exist or nothing matched). *extension: the
 * matched extensions' names joined with ',' (NULL: none).
 */
void dp_route(dp_call_t *call, const dp_conf_t *conf, const char *context, const char **extension);

/** Evaluate a bridge dial string (shared by the app and dialplan_test). */
apr_status_t dp_bridge(dp_call_t *call, const char *dialstring);
/** Set the final decision. */
void dp_decide(dp_call_t *call, int status, const char *phrase, const char *why);
/** A bridge failed with @p cause / @p status: decide, unless continue_on_fail lets the run go on. */
void dp_bridge_fail(dp_call_t *call, const char *cause, int status, const char *why);
/** Run the steps from call->next (after a suspended bridge ended, call->suspended cleared). */
void dp_exec_continue(dp_call_t *call);

/* ---- dp_bridge.c ------------------------------------------------------------------------- */

struct ep_request;
/** Start ringing @p ds for the held INVITE @p req (see dp_call_t.bridge_start). */
void dp_bridge_ring(dp_call_t *call, struct ep_request *req, const dp_dialstring_t *ds, const char *dialstring);
/** The caller CANCELled the INVITE of @p call_id: cancel its branches; the call ends 487. */
void dp_bridge_caller_cancel(const char *call_id);
apr_status_t dp_bridge_init(apr_pool_t *pool);
/** At unload: cancel every ringing bridge and wait (bounded) until their branches are over. */
void dp_bridge_shutdown(void);

/**
 * Where a sip/ leg goes (SPEC §8): *uri, *route, *destination (NULL when absent), or a
 * status (404 unknown endpoint, 480 no contact) and *why. Needs the endpoints and location
 * interfaces. Leg variables sip_route / sip_network_destination win.
 */
int dp_leg_resolve(const dp_leg_t *leg, apr_pool_t *pool, const char **uri, const char **route,
                   const char **destination, const char **why);

/* ---- dp_invite.c ------------------------------------------------------------------------- */

/** Take the INVITE method service of the endpoints interface. */
apr_status_t dp_invite_start(aorta_module_t *mod);
void dp_invite_stop(aorta_module_t *mod);

/* ---- dp_outgoing.c ----------------------------------------------------------------------- */

/** `sip_notify <dialstring> <event> [<content-type> <body>]` */
apr_status_t dp_cmd_sip_notify(const char *args, aorta_stream_t *out, apr_pool_t *pool);
/** `sip_message <dialstring> <text>` */
apr_status_t dp_cmd_sip_message(const char *args, aorta_stream_t *out, apr_pool_t *pool);

/** The module (set in load) whose configuration generations calls acquire. */
extern aorta_module_t *dp_module;

#endif
