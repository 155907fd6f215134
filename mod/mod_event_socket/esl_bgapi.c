/*
 * esl_bgapi.c — `bgapi`: run an API command on the core's worker pool and publish its output
 * as a BACKGROUND_JOB event (ESL.md §8).
 *
 * A job knows nothing of the connection that asked for it: the result travels through the
 * event system like any event, so a client that disconnected costs nothing and the reply/
 * event order is kept by the connection's queue (esl_queue.h). Each job owns an unmanaged
 * pool, destroyed when it finishes. srv->jobs counts jobs in flight so the module outlives
 * them at unload.
 */
#include "esl.h"

#include <apr_strings.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

typedef struct esl_job {
    esl_server_t *srv;
    apr_pool_t *pool;
    char *cmdline;
    char *uuid;
} esl_job_t;

int esl_api_is_self_unload(const char *cmdline)
{
    char w1[16] = "", w2[16] = "";
    int n;
    if (!strstr(cmdline, "mod_event_socket"))
        return 0;
    n = sscanf(cmdline, "%15s %15s", w1, w2);
    if (n >= 1 && (strcasecmp(w1, "unload") == 0 || strcasecmp(w1, "reload") == 0))
        return 1;
    return n == 2 && strcasecmp(w1, "module") == 0 && (strcasecmp(w2, "unload") == 0 || strcasecmp(w2, "reload") == 0);
}

static void esl_job_run(void *arg)
{
    esl_job_t *job = arg;
    esl_server_t *srv = job->srv;
    aorta_stream_t *out = aorta_stream_create(job->pool);
    aorta_event_t *ev = NULL;
    const char *data, *args;
    char *cmd;
    apr_size_t len = 0;

    if (esl_api_is_self_unload(job->cmdline))
        aorta_stream_puts(out, "-ERR mod_event_socket cannot be unloaded or reloaded over the event socket; "
                               "use the console\n");
    else
        aorta_api_execute(job->cmdline, out, job->pool);
    data = aorta_stream_data(out, &len);
    if (len == 0) {
        data = "-ERR no reply\n";
        len = strlen(data);
    }

    /* Job-Command / Job-Command-Arg split at the first space, as FreeSWITCH does */
    cmd = apr_pstrdup(job->pool, job->cmdline);
    args = "";
    {
        char *sp = strchr(cmd, ' ');
        if (sp) {
            *sp = '\0';
            args = sp + 1;
            while (*args == ' ')
                args++;
        }
    }
    if (aorta_event_create(&ev, AORTA_EVENT_BACKGROUND_JOB) == APR_SUCCESS) {
        aorta_event_add_header(ev, "Job-UUID", job->uuid);
        aorta_event_add_header(ev, "Job-Command", cmd);
        if (*args)
            aorta_event_add_header(ev, "Job-Command-Arg", args);
        aorta_event_set_body(ev, data, len);
        if (aorta_event_fire(&ev) != APR_SUCCESS)
            aorta_log(AORTA_LOG_WARNING, "event socket: BACKGROUND_JOB %s was dropped (event queue full)\n",
                      job->uuid);
    }

    apr_pool_destroy(job->pool);
    pthread_mutex_lock(&srv->lock);
    if (--srv->jobs == 0)
        pthread_cond_broadcast(&srv->jobs_done);
    pthread_mutex_unlock(&srv->lock);
}

apr_status_t esl_bgapi_start(esl_server_t *srv, const char *cmdline, const char *uuid)
{
    apr_pool_t *pool = NULL;
    esl_job_t *job;
    apr_status_t st;

    if ((st = aorta_pool_create_unmanaged(&pool)) != APR_SUCCESS)
        return st;
    job = apr_pcalloc(pool, sizeof(*job));
    job->srv = srv;
    job->pool = pool;
    job->cmdline = apr_pstrdup(pool, cmdline);
    job->uuid = apr_pstrdup(pool, uuid);

    pthread_mutex_lock(&srv->lock);
    srv->jobs++;
    pthread_mutex_unlock(&srv->lock);
    if ((st = aorta_task_push_owned(srv->mod, esl_job_run, job)) != APR_SUCCESS) {
        apr_pool_destroy(pool);
        pthread_mutex_lock(&srv->lock);
        if (--srv->jobs == 0)
            pthread_cond_broadcast(&srv->jobs_done);
        pthread_mutex_unlock(&srv->lock);
    }
    return st;
}
