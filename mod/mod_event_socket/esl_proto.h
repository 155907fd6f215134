/*
 * esl_proto.h — the event-socket wire format, without sockets: splitting the byte stream a
 * client sends into command packets, and escaping text that goes into reply headers.
 *
 * Invariants (ESL.md §1): LF framing, CR tolerated and stripped, blank lines between packets
 * skipped, a body only when the packet carries Content-Length (at most 16 MiB), header values
 * never URL-decoded. Everything parsed lives in the pool the caller passes.
 */
#ifndef ESL_PROTO_H
#define ESL_PROTO_H

#include <aorta/aorta.h>
#include <apr_tables.h>

/** Largest body a client may send (FreeSWITCH's MAX_CONTENT_LENGTH); beyond it we hang up. */
#define ESL_MAX_CONTENT_LENGTH (16 * 1024 * 1024)
/** Largest command line plus headers; a client that sends more without a blank line is dropped. */
#define ESL_MAX_HEADER_BYTES (1024 * 1024)

typedef struct esl_header {
    const char *name;
    const char *value;
} esl_header_t;

/** One command packet. */
typedef struct esl_packet {
    const char *command;         /**< first line, CR stripped, not trimmed */
    apr_array_header_t *headers; /**< esl_header_t, in order */
    const char *body;            /**< NUL-terminated copy, or NULL */
    apr_size_t body_len;
} esl_packet_t;

/**
 * Parse the first packet in @p buf (@p len bytes). On APR_SUCCESS *pkt is set (allocated in
 * @p pool) and *consumed says how many bytes it used. APR_INCOMPLETE: more bytes are needed;
 * *consumed may still be non-zero (leading blank lines to drop). AORTA_ESYNTAX: the client
 * exceeded a limit and must be disconnected.
 */
apr_status_t esl_packet_parse(const char *buf, apr_size_t len, apr_pool_t *pool, esl_packet_t **pkt,
                              apr_size_t *consumed);

/** First header named @p name (case-insensitive), or NULL. */
const char *esl_packet_header(const esl_packet_t *pkt, const char *name);

/**
 * @p in made safe for a reply header value: '%', CR and LF are percent-encoded, nothing else
 * (modesl decodeURIComponent()s every envelope value and dies on a bare '%'). Returns @p in
 * itself when nothing needs escaping, else a copy in @p pool.
 */
const char *esl_header_escape(const char *in, apr_pool_t *pool);

/**
 * Split off the first space-delimited word of @p line into @p pool (leading spaces skipped);
 * *rest points after the word and its following spaces ("" at the end).
 */
char *esl_word(const char *line, const char **rest, apr_pool_t *pool);

/** Copy of @p s without leading and trailing whitespace, in @p pool. */
char *esl_trim(const char *s, apr_pool_t *pool);

#endif
