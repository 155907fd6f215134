/*
 * reg_outcome.c — the one table from a REGISTER outcome to its status, phrase, log level
 * and failure event. Challenges (401) are the normal first step and fire no event; every
 * refusal does, so a fail2ban-style watcher sees each one.
 */
#include "reg_outcome.h"

static const reg_outcome_info_t table[REG_OUTCOME_COUNT] = {
    {REG_OK, 200, "OK", AORTA_LOG_DEBUG, NULL, 0},
    {REG_CHALLENGE, 401, "Unauthorized", AORTA_LOG_DEBUG, NULL, 0},
    {REG_STALE, 401, "Unauthorized", AORTA_LOG_DEBUG, NULL, 0},
    {REG_BAD_NONCE, 401, "Unauthorized", AORTA_LOG_INFO, NULL, 0},
    {REG_AUTH_FAILED, 403, "Forbidden", AORTA_LOG_NOTICE, "authentication failed", 1},
    {REG_UNIDENTIFIED, 403, "Forbidden", AORTA_LOG_NOTICE, "authentication failed", 1},
    {REG_NO_AORS, 403, "Forbidden", AORTA_LOG_NOTICE, "endpoint has no aors", 1},
    {REG_AOR_NOT_ALLOWED, 403, "Forbidden", AORTA_LOG_NOTICE, "aor not allowed for endpoint", 1},
    {REG_AOR_NOT_FOUND, 404, "Not Found", AORTA_LOG_NOTICE, "aor not found", 1},
    {REG_NO_MANIPULATION, 403, "Forbidden", AORTA_LOG_NOTICE, "aor does not accept registrations", 1},
    {REG_TOO_MANY, 403, "Forbidden", AORTA_LOG_NOTICE, "too many contacts", 1},
    {REG_TOO_BRIEF, 423, "Interval Too Brief", AORTA_LOG_INFO, "interval too brief", 1},
    {REG_BAD_STAR, 400, "Invalid Wildcard Contact", AORTA_LOG_INFO, "invalid wildcard contact", 1},
    {REG_BAD_REQUEST, 400, "Bad Request", AORTA_LOG_INFO, "bad request", 1},
    {REG_BAD_EXTENSION, 420, "Bad Extension", AORTA_LOG_INFO, "unsupported extension", 1},
    {REG_PATH_UNSUPPORTED, 420, "Bad Extension", AORTA_LOG_INFO, "path not supported", 1},
    {REG_OUT_OF_ORDER, 500, "Out Of Order", AORTA_LOG_INFO, "out of order cseq", 1},
    {REG_STORE_FAILED, 503, "Service Unavailable", AORTA_LOG_ERR, "store failure", 1},
};

const reg_outcome_info_t *reg_outcome_info(reg_outcome_t o)
{
    return &table[o < REG_OUTCOME_COUNT ? o : REG_STORE_FAILED];
}
