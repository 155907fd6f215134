/*
 * mod_ep_test.c — a test module that uses the `endpoints` interface the way real modules do,
 * so the integration tests can exercise what mod_endpoints alone cannot show:
 *   - INVITE service that hold()s the request and replies 200 from another worker thread
 *     (the dialog cache is filled by that 2xx), or with X-Test-Hold parks it until the
 *     CANCEL service sees its CANCEL; BYE service answering 200 with X-Identified;
 *   - an identifier "x-test" that returns the endpoint named in X-Test-Endpoint (registered
 *     after the built-ins, so it runs last unless identify-order names it);
 *   - a challenger answering 407 "Test Challenger", installed by `ep_test_challenger on`
 *     (so the built-in fallback stays testable without it);
 *   - the option tag "x-ep-test" in Supported of OPTIONS answers;
 *   - `ep_test_send`: an OPTIONS sent with request_send_owned() whose answer is only logged,
 *     to show that unloading this module first cancels its callback.
 * Built, never installed.
 */
#include <aorta/aorta.h>
#include <apr_thread_mutex.h>
#include <stdio.h>
#include <string.h>

#include "mod_endpoints/ep_api.h"

static const ep_api_t *ep;
static aorta_module_t *self;

static void invite_reply(void *arg)
{
    ep_request_t *req = arg;
    ep->reply(req, 200, "OK", "Contact: <sip:ep-test@127.0.0.1>\r\n", NULL, NULL);
}

/* One INVITE parked until its CANCEL arrives (X-Test-Hold: yes). */
static apr_thread_mutex_t *parked_lock;
static ep_request_t *parked;

static void invite_service(ep_request_t *req, void *user)
{
    (void)user;
    ep->hold(req);
    for (const sip_unknown_t *u = req->sip->sip_unknown; u; u = u->un_next) {
        if (!strcasecmp(u->un_name, "X-Test-Hold")) {
            apr_thread_mutex_lock(parked_lock);
            parked = req;
            apr_thread_mutex_unlock(parked_lock);
            ep->reply(req, 180, "Ringing", NULL, NULL, NULL);
            return;
        }
    }
    ep->reply(req, 180, "Ringing", NULL, NULL, NULL);
    if (aorta_task_push(invite_reply, req) != APR_SUCCESS)
        ep->reply(req, 500, "Cannot Queue", NULL, NULL, NULL);
}

static void bye_service(ep_request_t *req, void *user)
{
    (void)user;
    char hdr[200];
    /* tell the test how the request was identified */
    snprintf(hdr, sizeof hdr, "X-Identified: %s by %s\r\n", req->endpoint->name, req->identified_by);
    ep->reply(req, 200, "OK", hdr, NULL, NULL);
}

static void cancel_service(ep_request_t *req, void *user)
{
    (void)user;
    apr_thread_mutex_lock(parked_lock);
    ep_request_t *inv = parked;
    if (inv && strcmp(inv->sip->sip_call_id->i_id, req->sip->sip_call_id->i_id))
        inv = NULL;
    if (inv)
        parked = NULL;
    apr_thread_mutex_unlock(parked_lock);
    aorta_log(AORTA_LOG_NOTICE, "ep_test: CANCEL %s from endpoint %s reached the CANCEL service (%s)\n",
              req->sip->sip_call_id->i_id, req->endpoint->name, inv ? "INVITE was parked" : "no parked INVITE");
    if (inv)
        ep->reply(inv, 487, "Request Terminated", NULL, NULL, NULL); /* nta answered 487 already */
    ep->reply(req, 200, "OK", NULL, NULL, NULL);                     /* a no-op: nta answered the CANCEL */
}

static const ep_endpoint_t *x_test_identify(ep_request_t *req, void *user)
{
    (void)user;
    for (const sip_unknown_t *u = req->sip->sip_unknown; u; u = u->un_next)
        if (!strcasecmp(u->un_name, "X-Test-Endpoint"))
            return ep->request_endpoint_find(req, u->un_value);
    return NULL;
}

static void test_challenger(ep_request_t *req, void *user)
{
    (void)user;
    ep->reply(req, 407, "Test Challenger", "Proxy-Authenticate: Digest realm=\"test\", nonce=\"x\"\r\n", NULL, NULL);
}

static apr_status_t ep_test_load(aorta_module_t *mod, apr_pool_t *pool)
{
    apr_status_t st;
    self = mod;
    if ((st = apr_thread_mutex_create(&parked_lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS)
        return st;
    if ((st = aorta_interface_require(mod, EP_API_NAME, (const void **)&ep)) != APR_SUCCESS)
        return st;
    if ((st = ep->method_register(mod, "INVITE", invite_service, NULL)) != APR_SUCCESS ||
        (st = ep->method_register(mod, "BYE", bye_service, NULL)) != APR_SUCCESS ||
        (st = ep->method_register(mod, "CANCEL", cancel_service, NULL)) != APR_SUCCESS ||
        (st = ep->identifier_register(mod, "x-test", x_test_identify, NULL)) != APR_SUCCESS ||
        (st = ep->option_tag_register(mod, "x-ep-test")) != APR_SUCCESS)
        return st;
    return APR_SUCCESS;
}

static void ep_test_shutdown(aorta_module_t *mod)
{
    ep->unregister_owner(mod);
    if (parked)
        ep->reply(parked, 500, "Shutting Down", NULL, NULL, NULL);
    parked = NULL;
}

static apr_status_t ep_test_cmd_challenger(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    (void)pool;
    if (!strcmp(args, "on"))
        ep->challenger_set(self, test_challenger, NULL);
    else
        ep->challenger_set(self, NULL, NULL);
    aorta_stream_puts(out, "+OK\n");
    return APR_SUCCESS;
}

static void send_done(int status, const char *phrase, const sip_t *sip, void *user)
{
    (void)sip;
    (void)user;
    aorta_log(AORTA_LOG_NOTICE, "ep_test: response %d %s\n", status, phrase ? phrase : "");
}

/* Fire and forget: the answer only reaches the log (if this module is still loaded). */
static apr_status_t ep_test_cmd_send(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    char *argv[2] = {NULL, NULL};
    if (aorta_api_split(args, pool, argv, 2) != 2) {
        aorta_stream_puts(out, "-ERR usage: ep_test_send <endpoint> <uri>\n");
        return AORTA_ESYNTAX;
    }
    ep_outgoing_t o = {.endpoint = argv[0], .method = "OPTIONS", .uri = argv[1]};
    apr_status_t st = ep->request_send_owned(self, &o, send_done, NULL);
    aorta_stream_puts(out, st == APR_SUCCESS ? "+OK\n" : "-ERR not sent\n");
    return st;
}

static const aorta_api_command_t ep_test_api[] = {
    {"ep_test_send", "<endpoint> <uri>", "send OPTIONS owned by mod_ep_test", ep_test_cmd_send},
    {"ep_test_challenger", "on|off", "install the test challenger", ep_test_cmd_challenger},
    {NULL, NULL, NULL, NULL}};

AORTA_MODULE_EXPORT(mod_ep_test) = {
    .abi = AORTA_MODULE_ABI,
    .name = "mod_ep_test",
    .build = AORTA_BUILD_SIGNATURE,
    .depends = NULL,
    .api = ep_test_api,
    .load = ep_test_load,
    .shutdown = ep_test_shutdown,
};
