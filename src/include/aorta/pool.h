/*
 * aorta/pool.h — memory pool creation with an owner tag.
 *
 * Every allocation in aorta has an owner pool (see docs/internals.md for the table of
 * lifetimes). Pools created through these macros carry the file:line that created them as
 * their APR tag, so a leak report or a debugger shows who owns a pool. The root pool's
 * abort function makes out-of-memory fatal, and children inherit it.
 */
#ifndef AORTA_POOL_H
#define AORTA_POOL_H

#include "aorta/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AORTA_STRINGIFY_(x) #x
#define AORTA_STRINGIFY(x) AORTA_STRINGIFY_(x)
#define AORTA_WHERE __FILE__ ":" AORTA_STRINGIFY(__LINE__)

/** Create a child of @p parent (NULL: the core's root pool) tagged with the caller's file:line. */
#define aorta_pool_create(newpool, parent) aorta_pool_create_tagged((newpool), (parent), AORTA_WHERE)

/**
 * Create a pool with its own allocator and mutex-free life, for objects whose lifetime is
 * not nested in another pool's (one request, one event-socket connection). The caller owns
 * it and must apr_pool_destroy() it. Tagged with the caller's file:line.
 */
#define aorta_pool_create_unmanaged(newpool) aorta_pool_create_unmanaged_tagged((newpool), AORTA_WHERE)

AORTA_DECLARE(apr_status_t) aorta_pool_create_tagged(apr_pool_t **newpool, apr_pool_t *parent, const char *tag);
AORTA_DECLARE(apr_status_t) aorta_pool_create_unmanaged_tagged(apr_pool_t **newpool, const char *tag);

/** The abort function installed on every aorta pool: logs and aborts on out-of-memory. */
AORTA_DECLARE(int) aorta_pool_abort(int retcode);

#ifdef __cplusplus
}
#endif
#endif
