/*
 * pool.c — pool creation with owner tags and a fatal out-of-memory policy.
 *
 * Every pool made here gets aorta_pool_abort() as its abort function and the creator's
 * file:line as its APR tag.
 */
#include "core_internal.h"
#include <apr_strings.h>
#include <stdio.h>
#include <stdlib.h>

int aorta_pool_abort(int retcode)
{
    /* No allocation is possible here: write straight to stderr and stop. */
    fprintf(stderr, "aorta: out of memory (status %d), aborting\n", retcode);
    abort();
    return retcode;
}

apr_status_t aorta_pool_create_tagged(apr_pool_t **newpool, apr_pool_t *parent, const char *tag)
{
    apr_status_t st = apr_pool_create_ex(newpool, parent ? parent : aorta_core_pool(), aorta_pool_abort, NULL);
    if (st == APR_SUCCESS)
        apr_pool_tag(*newpool, tag);
    return st;
}

apr_status_t aorta_pool_create_unmanaged_tagged(apr_pool_t **newpool, const char *tag)
{
    apr_status_t st = apr_pool_create_unmanaged_ex(newpool, aorta_pool_abort, NULL);
    if (st == APR_SUCCESS)
        apr_pool_tag(*newpool, tag);
    return st;
}

const char *aorta_strerror(apr_status_t st, char *buf, apr_size_t bufsize)
{
    static const char *const texts[] = {
        "not found",
        "invalid configuration",
        "module built for another ABI",
        "missing dependency",
        "name already taken",
        "queue or table full",
        "syntax error",
        "persistent store failed",
        "still in use",
        "shutting down",
    };
    if (st > APR_OS_START_USERERR && st <= APR_OS_START_USERERR + (apr_status_t)(sizeof texts / sizeof *texts)) {
        apr_cpystrn(buf, texts[st - APR_OS_START_USERERR - 1], bufsize);
        return buf;
    }
    return apr_strerror(st, buf, bufsize);
}
