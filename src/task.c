/*
 * task.c — the worker pool and serializers.
 *
 * Workers take tasks from one FIFO (a mutex and a condition variable; tasks are malloc'd
 * nodes). A keyed task goes to its serializer instead: a per-key FIFO living in one of
 * SHARDS independently locked hash tables. The first task of an idle key schedules a
 * "runner" on the pool; the runner executes that key's tasks one after another and retires
 * the serializer when its FIFO is empty, so a key is bound to at most one worker at a time
 * and different keys never share a lock. A runner yields after a batch so one busy key
 * cannot starve others.
 *
 * Each worker thread owns a scratch pool, cleared after every task (aorta_task_scratch()).
 * Draining refuses new tasks from outside the pool but lets running tasks queue follow-ups,
 * then runs everything and joins the threads.
 */
#include "core_internal.h"
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <apr_atomic.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 64
#define RUNNER_BATCH 32

typedef struct task {
    aorta_task_fn fn;
    void *arg;
    aorta_module_t *owner; /* module whose code fn is, or NULL */
    struct task *next;
} task_t;

typedef struct serializer {
    char *key;
    apr_size_t klen;
    task_t *head, *tail;
    struct shard *shard;
} serializer_t;

typedef struct shard {
    apr_thread_mutex_t *lock;
    apr_hash_t *keys; /* key -> serializer_t; keys point into the serializer */
} shard_t;

struct aorta_workers {
    apr_pool_t *pool;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *more; /* a task was queued, or stop */
    apr_thread_cond_t *idle; /* queue empty and nobody busy */
    task_t *head, *tail;
    apr_size_t queued;
    int busy;
    int nthreads;
    int draining;
    int stop;
    apr_uint64_t done;
    apr_thread_t **threads;
    volatile apr_uint32_t started; /* threads that have begun, for their names */
    shard_t shards[SHARDS];
};

static __thread apr_pool_t *worker_scratch;
static __thread aorta_workers_t *worker_owner;
static aorta_workers_t *core_workers;

static task_t *task_new(aorta_task_fn fn, void *arg)
{
    task_t *t = malloc(sizeof *t);
    if (!t)
        aorta_pool_abort(APR_ENOMEM);
    t->fn = fn;
    t->arg = arg;
    t->owner = NULL;
    t->next = NULL;
    return t;
}

static void *APR_THREAD_FUNC worker_main(apr_thread_t *thread, void *data)
{
    aorta_workers_t *w = data;
    apr_pool_t *scratch;
    aorta_thread_name("worker-%u", apr_atomic_inc32(&w->started) + 1);
    aorta_pool_create_unmanaged(&scratch);
    worker_scratch = scratch;
    worker_owner = w;

    apr_thread_mutex_lock(w->lock);
    for (;;) {
        while (!w->head && !w->stop)
            apr_thread_cond_wait(w->more, w->lock);
        if (!w->head && w->stop)
            break;
        task_t *t = w->head;
        w->head = t->next;
        if (!w->head)
            w->tail = NULL;
        w->queued--;
        w->busy++;
        apr_thread_mutex_unlock(w->lock);

        t->fn(t->arg);
        aorta_module_task_end(t->owner); /* after fn returned: no module code on the stack */
        free(t);
        apr_pool_clear(scratch);

        apr_thread_mutex_lock(w->lock);
        w->busy--;
        w->done++;
        if (!w->head && w->busy == 0)
            apr_thread_cond_broadcast(w->idle);
    }
    apr_thread_mutex_unlock(w->lock);
    worker_scratch = NULL;
    apr_pool_destroy(scratch);
    return NULL;
}

apr_status_t aorta_workers_create(aorta_workers_t **out, int nthreads, apr_pool_t *pool)
{
    apr_status_t st;
    aorta_workers_t *w = apr_pcalloc(pool, sizeof *w);
    w->pool = pool;
    w->nthreads = nthreads > 0 ? nthreads : 1;
    if ((st = apr_thread_mutex_create(&w->lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS ||
        (st = apr_thread_cond_create(&w->more, pool)) != APR_SUCCESS ||
        (st = apr_thread_cond_create(&w->idle, pool)) != APR_SUCCESS)
        return st;
    for (int i = 0; i < SHARDS; i++) {
        if ((st = apr_thread_mutex_create(&w->shards[i].lock, APR_THREAD_MUTEX_DEFAULT, pool)) != APR_SUCCESS)
            return st;
        /* apr_hash_set() allocates from the hash's pool and shards are written at once */
        apr_pool_t *sp;
        if ((st = aorta_pool_create(&sp, pool)) != APR_SUCCESS)
            return st;
        w->shards[i].keys = apr_hash_make(sp);
    }
    w->threads = apr_pcalloc(pool, sizeof(apr_thread_t *) * (apr_size_t)w->nthreads);
    for (int i = 0; i < w->nthreads; i++) {
        if ((st = apr_thread_create(&w->threads[i], NULL, worker_main, w, pool)) != APR_SUCCESS)
            return st;
    }
    *out = w;
    return APR_SUCCESS;
}

static apr_status_t workers_enqueue(aorta_workers_t *w, task_t *t)
{
    apr_thread_mutex_lock(w->lock);
    if (w->stop || (w->draining && worker_owner != w)) {
        apr_thread_mutex_unlock(w->lock);
        return AORTA_ESHUTDOWN;
    }
    if (w->tail)
        w->tail->next = t;
    else
        w->head = t;
    w->tail = t;
    w->queued++;
    apr_thread_cond_signal(w->more);
    apr_thread_mutex_unlock(w->lock);
    return APR_SUCCESS;
}

static void serializer_run(void *arg);

static unsigned shard_of(const char *key, apr_size_t klen)
{
    /* FNV-1a: cheap and well spread for Call-IDs and AOR names */
    apr_uint32_t h = 2166136261u;
    for (apr_size_t i = 0; i < klen; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h % SHARDS;
}

static apr_status_t workers_push_owned(aorta_workers_t *w, aorta_module_t *owner, const char *key, apr_size_t klen,
                                       aorta_task_fn fn, void *arg)
{
    if (!w)
        return AORTA_ESHUTDOWN;
    task_t *t = task_new(fn, arg);
    t->owner = owner;
    aorta_module_task_begin(owner);
    if (!key) {
        apr_status_t st = workers_enqueue(w, t);
        if (st != APR_SUCCESS) {
            aorta_module_task_end(owner);
            free(t);
        }
        return st;
    }
    shard_t *sh = &w->shards[shard_of(key, klen)];
    apr_thread_mutex_lock(sh->lock);
    serializer_t *s = apr_hash_get(sh->keys, key, (apr_ssize_t)klen);
    if (s) {
        /* the key's runner is active and will reach this task (its FIFO may be empty while
         * it runs the previous one) */
        if (s->tail)
            s->tail->next = t;
        else
            s->head = t;
        s->tail = t;
        apr_thread_mutex_unlock(sh->lock);
        return APR_SUCCESS;
    }
    s = malloc(sizeof *s + klen + 1);
    if (!s)
        aorta_pool_abort(APR_ENOMEM);
    s->key = (char *)(s + 1);
    memcpy(s->key, key, klen);
    s->key[klen] = '\0';
    s->klen = klen;
    s->head = s->tail = t;
    s->shard = sh;
    apr_hash_set(sh->keys, s->key, (apr_ssize_t)klen, s);
    apr_thread_mutex_unlock(sh->lock);

    task_t *runner = task_new(serializer_run, s);
    apr_status_t st = workers_enqueue(w, runner);
    if (st != APR_SUCCESS) {
        free(runner);
        apr_thread_mutex_lock(sh->lock);
        apr_hash_set(sh->keys, s->key, (apr_ssize_t)klen, NULL);
        apr_thread_mutex_unlock(sh->lock);
        for (task_t *x = s->head; x;) {
            task_t *n = x->next;
            aorta_module_task_end(x->owner);
            free(x);
            x = n;
        }
        free(s);
    }
    return st;
}

apr_status_t aorta_workers_push(aorta_workers_t *w, const char *key, apr_size_t klen, aorta_task_fn fn, void *arg)
{
    return workers_push_owned(w, NULL, key, klen, fn, arg);
}

static void serializer_run(void *arg)
{
    serializer_t *s = arg;
    shard_t *sh = s->shard;
    for (int n = 0;; n++) {
        apr_thread_mutex_lock(sh->lock);
        task_t *t = s->head;
        if (!t) {
            apr_hash_set(sh->keys, s->key, (apr_ssize_t)s->klen, NULL);
            apr_thread_mutex_unlock(sh->lock);
            free(s);
            return;
        }
        if (n == RUNNER_BATCH) {
            /* let other work in; the serializer stays registered so ordering holds */
            apr_thread_mutex_unlock(sh->lock);
            task_t *again = task_new(serializer_run, s);
            if (workers_enqueue(worker_owner, again) == APR_SUCCESS)
                return;
            free(again);
            n = 0;
            continue;
        }
        s->head = t->next;
        if (!s->head)
            s->tail = NULL;
        apr_thread_mutex_unlock(sh->lock);
        t->fn(t->arg);
        aorta_module_task_end(t->owner);
        free(t);
        if (worker_scratch)
            apr_pool_clear(worker_scratch);
    }
}

void aorta_workers_drain(aorta_workers_t *w)
{
    if (!w)
        return;
    apr_thread_mutex_lock(w->lock);
    w->draining = 1;
    while (w->head || w->busy)
        apr_thread_cond_wait(w->idle, w->lock);
    w->stop = 1;
    apr_thread_cond_broadcast(w->more);
    apr_thread_mutex_unlock(w->lock);
    for (int i = 0; i < w->nthreads; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, w->threads[i]);
    }
}

void aorta_workers_stats(aorta_workers_t *w, int *threads, apr_size_t *queued, int *busy, apr_uint64_t *done)
{
    apr_thread_mutex_lock(w->lock);
    if (threads)
        *threads = w->nthreads;
    if (queued)
        *queued = w->queued;
    if (busy)
        *busy = w->busy;
    if (done)
        *done = w->done;
    apr_thread_mutex_unlock(w->lock);
}

apr_status_t aorta_task_init(apr_pool_t *pool, int nthreads)
{
    return aorta_workers_create(&core_workers, nthreads, pool);
}

void aorta_task_shutdown(void)
{
    aorta_workers_drain(core_workers);
    core_workers = NULL;
}

aorta_workers_t *aorta_task_workers(void)
{
    return core_workers;
}

apr_status_t aorta_task_push(aorta_task_fn fn, void *arg)
{
    return aorta_workers_push(core_workers, NULL, 0, fn, arg);
}

apr_status_t aorta_task_push_keyed(const char *key, apr_size_t klen, aorta_task_fn fn, void *arg)
{
    return aorta_workers_push(core_workers, key, klen, fn, arg);
}

apr_status_t aorta_task_push_owned(aorta_module_t *owner, aorta_task_fn fn, void *arg)
{
    return workers_push_owned(core_workers, owner, NULL, 0, fn, arg);
}

apr_status_t aorta_task_push_keyed_owned(aorta_module_t *owner, const char *key, apr_size_t klen, aorta_task_fn fn,
                                         void *arg)
{
    return workers_push_owned(core_workers, owner, key, klen, fn, arg);
}

apr_pool_t *aorta_task_scratch(void)
{
    return worker_scratch;
}

void aorta_thread_name(const char *fmt, ...)
{
    char name[16]; /* the kernel's limit, with the NUL */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    pthread_setname_np(pthread_self(), name);
}
