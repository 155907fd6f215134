/*
 * aorta/task.h — the core worker pool and serializers.
 *
 * Tasks pushed without a key run in parallel on the pool's threads. Tasks pushed with a
 * serializer key run in push order and never concurrently with another task of the same
 * key (a per-key queue bound to one worker at a time); different keys run in parallel.
 * There is no global lock on the path: keys hash into independently locked shards.
 *
 * Each worker thread has a scratch pool, cleared after every task: aorta_task_scratch().
 */
#ifndef AORTA_TASK_H
#define AORTA_TASK_H

#include "aorta/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*aorta_task_fn)(void *arg);
typedef struct aorta_workers aorta_workers_t;

/** Create a pool of @p nthreads workers owned by @p pool. */
AORTA_DECLARE(apr_status_t) aorta_workers_create(aorta_workers_t **w, int nthreads, apr_pool_t *pool);
/**
 * Queue @p fn(@p arg). @p key (length @p klen, copied) serializes with earlier tasks of the
 * same key; NULL: no ordering. AORTA_ESHUTDOWN once draining began.
 */
AORTA_DECLARE(apr_status_t) aorta_workers_push(aorta_workers_t *w, const char *key, apr_size_t klen,
                                               aorta_task_fn fn, void *arg);
/** Stop accepting tasks, run every queued task, join the threads. */
AORTA_DECLARE(void) aorta_workers_drain(aorta_workers_t *w);
/** Threads, queued tasks, busy threads, tasks run. */
AORTA_DECLARE(void) aorta_workers_stats(aorta_workers_t *w, int *threads, apr_size_t *queued, int *busy,
                                        apr_uint64_t *done);

/** Push to the core's pool (created at start-up with core.conf worker-threads). */
AORTA_DECLARE(apr_status_t) aorta_task_push(aorta_task_fn fn, void *arg);

/**
 * Name the calling thread (printf format; cut to the 15 characters Linux keeps), so `top -H`,
 * `ps -L` and gdb show which thread is busy: "sip/internal", "loc-writer", "worker-1"...
 */
AORTA_DECLARE(void) aorta_thread_name(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
AORTA_DECLARE(apr_status_t) aorta_task_push_keyed(const char *key, apr_size_t klen, aorta_task_fn fn, void *arg);
/**
 * As aorta_task_push(), for a task that runs code of module @p owner: unloading that module
 * waits (after its shutdown()) until every such task has returned, so the shared object is
 * never closed under a running or queued task.
 */
AORTA_DECLARE(apr_status_t) aorta_task_push_owned(aorta_module_t *owner, aorta_task_fn fn, void *arg);
AORTA_DECLARE(apr_status_t) aorta_task_push_keyed_owned(aorta_module_t *owner, const char *key, apr_size_t klen,
                                                        aorta_task_fn fn, void *arg);
/** The calling worker's scratch pool (cleared after the current task), or NULL off-pool. */
AORTA_DECLARE(apr_pool_t *) aorta_task_scratch(void);

#ifdef __cplusplus
}
#endif
#endif
