/*
 * mod_ep_fast.c — a test module with one EP_SERVICE_NONBLOCKING method service, PUBLISH, so
 * the integration tests can force what the shipped fast-path services never do: a request run
 * on the SIP thread, held, and answered 183 and then 200 from a worker *before* the SIP
 * thread drops its own reference. The 183 is queued for the SIP thread while the 200 would
 * be sent by it at once; the request must live until the 183 went out, and the 200 follow it.
 *
 * The service waits (bounded) for the worker's two replies before it returns — something a
 * real non-blocking service must not do; here it pins down the interleaving.
 * Built, never installed.
 */
#include <aorta/aorta.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <string.h>

#include "mod_endpoints/ep_api.h"

static const ep_api_t *ep;
static apr_thread_mutex_t *lock;
static apr_thread_cond_t *cond;
static int answered;

static void publish_answer(void *arg)
{
    ep_request_t *req = arg;
    ep->reply(req, 183, "Session Progress", NULL, NULL, NULL);
    ep->reply(req, 200, "OK", "X-Fast-Path: held\r\n", NULL, NULL);
    apr_thread_mutex_lock(lock);
    answered = 1;
    apr_thread_cond_signal(cond);
    apr_thread_mutex_unlock(lock);
}

static void publish_service(ep_request_t *req, void *user)
{
    (void)user;
    ep->hold(req);
    apr_thread_mutex_lock(lock);
    answered = 0;
    if (aorta_task_push(publish_answer, req) != APR_SUCCESS) {
        apr_thread_mutex_unlock(lock);
        ep->reply(req, 500, "Cannot Queue", NULL, NULL, NULL);
        return;
    }
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(2);
    while (!answered && apr_time_now() < deadline)
        apr_thread_cond_timedwait(cond, lock, deadline - apr_time_now());
    apr_thread_mutex_unlock(lock);
}

static apr_status_t ep_fast_load(aorta_module_t *mod, apr_pool_t *pool)
{
    apr_status_t st;
    if ((st = apr_thread_mutex_create(&lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS ||
        (st = apr_thread_cond_create(&cond, pool)) != APR_SUCCESS)
        return st;
    if ((st = aorta_interface_require(mod, EP_API_NAME, (const void **)&ep)) != APR_SUCCESS)
        return st;
    return ep->method_register_ex(mod, "PUBLISH", publish_service, NULL, EP_SERVICE_NONBLOCKING);
}

static void ep_fast_shutdown(aorta_module_t *mod)
{
    ep->unregister_owner(mod);
}

AORTA_MODULE_EXPORT(mod_ep_fast) = {
    .abi = AORTA_MODULE_ABI,
    .name = "mod_ep_fast",
    .build = AORTA_BUILD_SIGNATURE,
    .load = ep_fast_load,
    .shutdown = ep_fast_shutdown,
};
