/*
 * aorta/core.h — the running core: identity of this process, directories, the current
 * configuration, and core operations.
 */
#ifndef AORTA_CORE_H
#define AORTA_CORE_H

#include "aorta/types.h"
#include "aorta/conf.h"

#ifdef __cplusplus
extern "C" {
#endif

/** New for every process run, as FreeSWITCH's Core-UUID. */
AORTA_DECLARE(const char *) aorta_core_uuid(void);
AORTA_DECLARE(const char *) aorta_core_hostname(void);
/** core.conf switchname, default the host name. */
AORTA_DECLARE(const char *) aorta_core_switchname(void);
AORTA_DECLARE(const char *) aorta_core_ipv4(void);
AORTA_DECLARE(const char *) aorta_core_ipv6(void);
AORTA_DECLARE(const char *) aorta_core_version(void);
AORTA_DECLARE(apr_time_t) aorta_core_started(void);
/** The process root pool (abort on OOM). Only the main thread allocates from it. */
AORTA_DECLARE(apr_pool_t *) aorta_core_pool(void);

typedef enum aorta_dir { AORTA_DIR_CONF, AORTA_DIR_DATA, AORTA_DIR_LOG, AORTA_DIR_MOD, AORTA_DIR_RUN } aorta_dir_t;
AORTA_DECLARE(const char *) aorta_core_dir(aorta_dir_t which);

/**
 * Re-read aorta.xml. Every module validates its part; only if all succeed is the new
 * configuration made current (and RELOADXML fired). On failure every error is written to
 * @p out and the running configuration stays. Returns AORTA_ECONFIG on failure, and
 * AORTA_EINUSE when the configuration became current but a module's reconfigure() refused it
 * (that module keeps its previous generation; the reason is in @p out).
 */
AORTA_DECLARE(apr_status_t) aorta_core_reloadxml(aorta_stream_t *out);

/** Ask the daemon to shut down cleanly (as SIGTERM). */
AORTA_DECLARE(void) aorta_core_shutdown_request(void);

#ifdef __cplusplus
}
#endif
#endif
