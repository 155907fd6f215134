/*
 * reg_outcome.h — every way a REGISTER can end, mapped to a SIP status through one table.
 */
#ifndef REG_OUTCOME_H
#define REG_OUTCOME_H

#include <aorta/aorta.h>

typedef enum reg_outcome {
    REG_OK = 0,
    REG_CHALLENGE,        /* 401: no credentials yet */
    REG_STALE,            /* 401 stale=true: the nonce expired or its nc was replayed */
    REG_BAD_NONCE,        /* 401: a nonce we did not make */
    REG_AUTH_FAILED,      /* 403: wrong credentials */
    REG_UNIDENTIFIED,     /* 403: credentials for a request that matched no endpoint */
    REG_NO_AORS,          /* 403: the endpoint has no aors */
    REG_AOR_NOT_ALLOWED,  /* 403: the To user is not one of the endpoint's aors */
    REG_AOR_NOT_FOUND,    /* 404 */
    REG_NO_MANIPULATION,  /* 403: max-contacts 0 */
    REG_TOO_MANY,         /* 403: more contacts than max-contacts */
    REG_TOO_BRIEF,        /* 423 + Min-Expires */
    REG_BAD_STAR,         /* 400: Contact: * with other contacts or a non-zero expiry */
    REG_BAD_REQUEST,      /* 400: missing To/Call-ID/CSeq */
    REG_BAD_EXTENSION,    /* 420: Require of an option we do not support */
    REG_PATH_UNSUPPORTED, /* 420: Require: path where support-path is off */
    REG_OUT_OF_ORDER,     /* 500 + Retry-After: same Call-ID, CSeq not higher */
    REG_STORE_FAILED,     /* 503 + Retry-After: the store could not commit */
    REG_OUTCOME_COUNT
} reg_outcome_t;

typedef struct reg_outcome_info {
    reg_outcome_t outcome;
    int status;
    const char *phrase;
    aorta_log_level_t level;
    const char *reason;   /* `reason` header of registrar::register_failure */
    int failure_event;    /* fire registrar::register_failure */
} reg_outcome_info_t;

const reg_outcome_info_t *reg_outcome_info(reg_outcome_t o);

#endif
