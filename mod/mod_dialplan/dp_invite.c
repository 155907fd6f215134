/*
 * dp_invite.c — the INVITE method service: an INVITE from an identified endpoint runs the
 * dialplan of the endpoint's context (SPEC §12) and is answered with the decision.
 *
 * Runs on a core worker (mod_endpoints serializes requests of one Call-ID). The request's
 * parsed message is a private, read-only copy, so reading it here is safe; every variable is
 * copied into the request pool. The configuration generation is held for the whole call, so
 * a reloadxml in the middle does not pull the dialplan from under it.
 *
 * A bridge to sip/ legs suspends the run (the request is held) until dp_bridge.c resumes it.
 * BYE and a re-INVITE (To tag) that reach this service did not come back through our
 * Record-Route (mod_endpoints routes those): 481. CANCEL stops the call's bridge.
 */
#include "dp_internal.h"
#include "mod_endpoints/ep_api.h"
#include "mod_location/loc_api.h"
#include <apr_strings.h>

static const ep_api_t *dp_ep;

static void set_url(apr_table_t *vars, const char *prefix, const url_t *url, apr_pool_t *pool)
{
    if (!url)
        return;
    if (url->url_user)
        apr_table_set(vars, apr_pstrcat(pool, prefix, "_user", NULL), url->url_user);
    if (url->url_host)
        apr_table_set(vars, apr_pstrcat(pool, prefix, "_host", NULL), url->url_host);
    if (url->url_port)
        apr_table_set(vars, apr_pstrcat(pool, prefix, "_port", NULL), url->url_port);
}

/* The call variables FreeSWITCH administrators know, from the request. */
static apr_table_t *invite_vars(const ep_request_t *req)
{
    apr_pool_t *pool = req->pool;
    const sip_t *sip = req->sip;
    apr_table_t *v = apr_table_make(pool, 24);
    const url_t *ruri = sip->sip_request ? sip->sip_request->rq_url : NULL;
    apr_table_set(v, "destination_number", ruri && ruri->url_user ? ruri->url_user : "");
    set_url(v, "sip_req", ruri, pool);
    if (sip->sip_from) {
        set_url(v, "sip_from", sip->sip_from->a_url, pool);
        apr_table_set(v, "caller_id_number", sip->sip_from->a_url->url_user ? sip->sip_from->a_url->url_user : "");
        if (sip->sip_from->a_display)
            apr_table_set(v, "caller_id_name", sip->sip_from->a_display);
    }
    if (sip->sip_to)
        set_url(v, "sip_to", sip->sip_to->a_url, pool);
    if (sip->sip_contact)
        set_url(v, "sip_contact", sip->sip_contact->m_url, pool);
    if (sip->sip_call_id)
        apr_table_set(v, "sip_call_id", sip->sip_call_id->i_id);
    if (sip->sip_user_agent)
        apr_table_set(v, "sip_user_agent", sip->sip_user_agent->g_string);
    const char *port = apr_itoa(pool, req->src_port);
    apr_table_set(v, "network_ip", req->src_ip);
    apr_table_set(v, "network_port", port);
    apr_table_set(v, "network_addr", req->src_ip);
    apr_table_set(v, "sip_network_ip", req->src_ip);
    apr_table_set(v, "sip_network_port", port);
    apr_table_set(v, "sip_via_protocol", req->transport);
    apr_table_set(v, "profile", req->profile);
    apr_table_set(v, "sip_profile_name", req->profile);
    apr_table_set(v, "endpoint", req->endpoint->name);
    apr_table_set(v, "sip_local_ip", req->local_ip);
    return v;
}

static void invite_provisional(dp_call_t *call, int status, const char *phrase)
{
    dp_ep->reply(call->user, status, phrase, NULL, NULL, NULL);
}

/* One INVITE's run, in its request pool (held until the final answer). */
typedef struct invite_run {
    dp_call_t call;
    ep_request_t *req;
    aorta_config_gen_t *gen;
    const char *context, *ext;
} invite_run_t;

/* The run ended: answer (unless a callee's response was relayed), log the decision, let go. */
static void invite_done(dp_call_t *call)
{
    invite_run_t *r = (invite_run_t *)call;
    ep_request_t *req = r->req;
    aorta_log(AORTA_LOG_INFO, "INVITE %s from endpoint %s (%s:%u) to '%s': context %s, extension %s -> %d %s (%s)",
              req->sip->sip_call_id ? req->sip->sip_call_id->i_id : "-", req->endpoint->name, req->src_ip,
              req->src_port, apr_table_get(call->vars, "destination_number"), r->context, r->ext ? r->ext : "none",
              call->status, call->phrase, call->why);
    aorta_module_config_release(r->gen);
    /* last: the final answer frees req, r and call */
    /* a 2xx that could not be relayed is not answered 200 without the callee's SDP */
    int relay_2xx = call->relay && ((const ep_branch_event_t *)call->relay)->status < 300;
    if (!call->relay || dp_ep->proxy_relay(req, call->relay) != APR_SUCCESS)
        dp_ep->reply(req, relay_2xx ? 500 : call->status, relay_2xx ? dp_sip_phrase(500) : call->phrase, NULL, NULL, NULL);
}

static void invite_bridge_start(dp_call_t *call, const dp_dialstring_t *ds, const char *dialstring)
{
    dp_bridge_ring(call, ((invite_run_t *)call)->req, ds, dialstring);
}

static void invite_handle(ep_request_t *req, void *user)
{
    (void)user;
    if (req->sip->sip_to && req->sip->sip_to->a_tag) {
        /* a re-INVITE that did not come back through our Record-Route (mod_endpoints routes those) */
        dp_ep->reply(req, 481, "Call/Transaction Does Not Exist", NULL, NULL, NULL);
        return;
    }
    /* a bridge answers later, from a branch event: the request stays ours until then */
    dp_ep->hold(req);
    invite_run_t *r = apr_pcalloc(req->pool, sizeof *r);
    r->req = req;
    const dp_conf_t *conf = aorta_module_config_acquire(dp_module, &r->gen);
    r->context = req->endpoint->context && *req->endpoint->context ? req->endpoint->context : "default";
    dp_call_t *call = &r->call;
    call->pool = req->pool;
    call->vars = invite_vars(req);
    call->provisional = invite_provisional;
    call->user = req;
    call->bridge_start = invite_bridge_start;
    call->done = invite_done;
    dp_route(call, conf, r->context, &r->ext);
    if (!call->suspended)
        invite_done(call);
}

static void bye_handle(ep_request_t *req, void *user)
{
    (void)user;
    dp_ep->reply(req, 481, "Call/Transaction Does Not Exist", NULL, NULL, NULL);
}

/* The caller's CANCEL (nta has answered it 200, and the INVITE 487): stop the bridge. */
static void cancel_handle(ep_request_t *req, void *user)
{
    (void)user;
    if (req->sip->sip_call_id)
        dp_bridge_caller_cancel(req->sip->sip_call_id->i_id);
    dp_ep->reply(req, 200, "OK", NULL, NULL, NULL); /* completes it; nothing is sent */
}

apr_status_t dp_invite_start(aorta_module_t *mod)
{
    apr_status_t rv;
    if ((rv = aorta_interface_require(mod, EP_API_NAME, (const void **)&dp_ep)) != APR_SUCCESS)
        return rv;
    /* Legs and outgoing requests look the location up when they run; when it is loaded now,
     * record the dependency too, so mod_location cannot be unloaded under them. Without it,
     * sip/... legs fail with 503 (a later `module load mod_location` needs `module reload
     * mod_dialplan` for the same guarantee). */
    const void *loc;
    if (aorta_interface_get(LOC_API_NAME) && (rv = aorta_interface_require(mod, LOC_API_NAME, &loc)) != APR_SUCCESS)
        return rv;
    if (dp_ep->version != EP_API_VERSION) {
        aorta_log(AORTA_LOG_ERR, "mod_dialplan: endpoints interface version %d, built for %d", dp_ep->version,
                  EP_API_VERSION);
        return AORTA_EDEPEND;
    }
    if ((rv = dp_ep->method_register(mod, "INVITE", invite_handle, NULL)) != APR_SUCCESS ||
        (rv = dp_ep->method_register(mod, "BYE", bye_handle, NULL)) != APR_SUCCESS ||
        (rv = dp_ep->method_register(mod, "CANCEL", cancel_handle, NULL)) != APR_SUCCESS) {
        aorta_log(AORTA_LOG_ERR, "mod_dialplan: cannot take the INVITE/BYE/CANCEL method services");
        dp_ep->unregister_owner(mod);
        return rv;
    }
    return APR_SUCCESS;
}

void dp_invite_stop(aorta_module_t *mod)
{
    if (dp_ep)
        dp_ep->unregister_owner(mod);
    dp_bridge_shutdown();
    dp_ep = NULL;
}
