/*
 * aorta/types.h — the types every other aorta header names, and aorta's own status codes.
 *
 * Kept free of logic so that any header can include it without creating include cycles.
 * Status codes live in APR's user range so that an apr_status_t can carry either an APR
 * error or an aorta one; aorta_strerror() names both.
 */
#ifndef AORTA_TYPES_H
#define AORTA_TYPES_H

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define AORTA_DECLARE(type) __attribute__((visibility("default"))) type
#define AORTA_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define AORTA_DECLARE(type) type
#define AORTA_PRINTF(fmt, args)
#endif

typedef struct aorta_module aorta_module_t;
typedef struct aorta_module_def aorta_module_def_t;
typedef struct aorta_conf aorta_conf_t;
typedef struct aorta_conf_errors aorta_conf_errors_t;
typedef struct aorta_setting aorta_setting_t;
typedef struct aorta_event aorta_event_t;
typedef struct aorta_event_binding aorta_event_binding_t;
typedef struct aorta_stream aorta_stream_t;
typedef struct aorta_api_command aorta_api_command_t;
typedef struct aorta_config_gen aorta_config_gen_t;

/** aorta's status codes, in APR's range for applications. */
enum {
    AORTA_ENOTFOUND = APR_OS_START_USERERR + 1, /**< no such name (module, command, AOR, ...) */
    AORTA_ECONFIG,                              /**< configuration invalid (details logged / collected) */
    AORTA_EABI,                                 /**< module built for another ABI */
    AORTA_EDEPEND,                              /**< a required module or interface is missing */
    AORTA_EEXIST,                               /**< the name is already taken */
    AORTA_EFULL,                                /**< a bounded queue or table is full */
    AORTA_ESYNTAX,                              /**< malformed input (API arguments, dial string) */
    AORTA_ESTORE,                               /**< persistent store failed */
    AORTA_EINUSE,                               /**< still used by another module */
    AORTA_ESHUTDOWN                             /**< the core is shutting down */
};

/** Describe @p st (an aorta or APR status) in @p buf; returns @p buf. */
AORTA_DECLARE(const char *) aorta_strerror(apr_status_t st, char *buf, apr_size_t bufsize);

#ifdef __cplusplus
}
#endif
#endif
