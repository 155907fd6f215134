/*
 * dp_dialstring.c — the dial-string parser (grammar in dp_dialstring.h), hangup causes and
 * the RFC 3261 §16.7 choice of the best final response.
 *
 * A recursive-descent parser over the NUL-terminated input: every function advances `pos`
 * and stops at the first error, recording "offset N: what". It never reads past the NUL, so
 * any byte string is safe input. Pure: no sofia-sip, no core state; unit-tested alone.
 */
#include "dp_dialstring.h"
#include <aorta/types.h>
#include <apr_strings.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *s;
    apr_size_t pos;
    apr_pool_t *pool;
    const char *err;
    dp_dialstring_t *ds;
} parser_t;

static int fail(parser_t *p, apr_size_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!p->err)
        p->err = apr_psprintf(p->pool, "offset %lu: %s", (unsigned long)at, apr_pvsprintf(p->pool, fmt, ap));
    va_end(ap);
    return -1;
}

static void skip_ws(parser_t *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\r' || p->s[p->pos] == '\n')
        p->pos++;
}

const char *dp_vars_get(const apr_array_header_t *vars, const char *name)
{
    for (int i = vars ? vars->nelts - 1 : -1; i >= 0; i--) {
        const dp_var_t *v = &APR_ARRAY_IDX(vars, i, dp_var_t);
        if (!strcmp(v->name, name))
            return v->value;
    }
    return NULL;
}

/* Set @p name in @p vars: an inner scope replaces the outer value in place (order is kept). */
static void vars_set(apr_array_header_t *vars, const char *name, const char *value)
{
    for (int i = 0; i < vars->nelts; i++) {
        dp_var_t *v = &APR_ARRAY_IDX(vars, i, dp_var_t);
        if (!strcmp(v->name, name)) {
            v->value = value;
            return;
        }
    }
    dp_var_t *v = apr_array_push(vars);
    v->name = name;
    v->value = value;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = 0;
    return s;
}

/* One "name=value" item collected by parse_varlist; @p at is where it started. */
static int add_item(parser_t *p, char *item, apr_size_t at, int last_of_empty_list, apr_array_header_t *vars)
{
    char *t = trim(item);
    if (!*t) {
        if (last_of_empty_list) /* "{}" is an empty list, not an empty variable */
            return 0;
        return fail(p, at, "empty variable in a variable list (a stray separator?)");
    }
    char *eq = strchr(t, '=');
    if (!eq)
        return fail(p, at, "variable '%s' has no '=' (name=value expected)", t);
    *eq = 0;
    char *name = trim(t), *value = trim(eq + 1);
    if (!*name)
        return fail(p, at, "variable with an empty name before '='");
    for (const char *c = name; *c; c++)
        if (isspace((unsigned char)*c))
            return fail(p, at, "variable name '%s' contains whitespace", name);
    /* the item buffer is reused for the next item: keep copies */
    vars_set(vars, apr_pstrdup(p->pool, name), apr_pstrdup(p->pool, value));
    return 0;
}

/*
 * pos is at @p open. Collect the list up to the matching @p close into @p vars. A backslash
 * makes the next byte literal; the same bracket kind nests (and is kept in the value).
 */
static int parse_varlist(parser_t *p, char open, char close, apr_array_header_t *vars)
{
    apr_size_t start = p->pos;
    const char *s = p->s;
    char sep = ',';
    p->pos++;
    if (s[p->pos] == '^' && s[p->pos + 1] == '^') {
        char c = s[p->pos + 2];
        if (!c || c == close || isspace((unsigned char)c) || c == '=' || c == '\\')
            return fail(p, p->pos, "'^^' must be followed by the separator character to use");
        sep = c;
        p->pos += 3;
    }
    apr_size_t len = strlen(s + p->pos);
    char *buf = apr_palloc(p->pool, len + 1);
    apr_size_t n = 0, item_at = p->pos;
    int depth = 0, items = 0;
    for (;;) {
        char c = s[p->pos];
        if (!c)
            return fail(p, start, "unbalanced '%c': no matching '%c'", open, close);
        if (c == '\\') {
            if (!s[p->pos + 1])
                return fail(p, p->pos, "a backslash at the end of the string escapes nothing");
            buf[n++] = s[p->pos + 1];
            p->pos += 2;
            continue;
        }
        if (c == open)
            depth++;
        else if (c == close && depth) {
            depth--;
        } else if (c == close || c == sep) {
            buf[n] = 0;
            if (add_item(p, buf, item_at, c == close && items == 0, vars))
                return -1;
            items++;
            p->pos++;
            if (c == close)
                return 0;
            n = 0;
            item_at = p->pos;
            continue;
        }
        buf[n++] = c;
        p->pos++;
    }
}

/* Is pos at a separator that ends a leg? */
static int at_leg_end(const parser_t *p)
{
    char c = p->s[p->pos];
    return !c || c == ',' || c == '|' || !strncmp(p->s + p->pos, ":_:", 3);
}

static int classify(parser_t *p, dp_leg_t *leg, apr_size_t at)
{
    const char *t = leg->target;
    if (!strncasecmp(t, "error/", 6)) {
        int q;
        leg->kind = DP_LEG_ERROR;
        if (!t[6])
            return fail(p, at, "error/ leg without a cause (e.g. error/user_not_registered)");
        leg->cause = dp_cause_lookup(t + 6, &q);
        if (!leg->cause)
            return fail(p, at + 6, "unknown hangup cause '%s'", t + 6);
        p->ds->nerror++;
        return 0;
    }
    if (!strncasecmp(t, "sip/", 4)) {
        const char *e = t + 4, *slash = strchr(e, '/');
        leg->kind = DP_LEG_SIP;
        leg->endpoint = slash ? apr_pstrndup(p->pool, e, (apr_size_t)(slash - e)) : e;
        if (!*leg->endpoint)
            return fail(p, at + 4, "sip/ leg without an endpoint name (sip/<endpoint>[/<aor>|/<sip-uri>])");
        if (!slash)
            return 0;
        const char *rest = slash + 1;
        apr_size_t rest_at = at + (apr_size_t)(rest - t);
        if (!*rest)
            return fail(p, rest_at, "nothing after 'sip/%s/' (an AOR or a sip: URI expected)", leg->endpoint);
        if (!strncasecmp(rest, "sip:", 4) || !strncasecmp(rest, "sips:", 5)) {
            const char *after = strchr(rest, ':') + 1;
            if (!*after || *after == ';' || *after == '@')
                return fail(p, rest_at, "URI '%s' has no host", rest);
            leg->uri = rest;
            return 0;
        }
        if (strchr(rest, '/'))
            return fail(p, rest_at, "AOR '%s' contains '/' (sip/<endpoint>/<aor> or sip/<endpoint>/<sip-uri>)", rest);
        leg->aor = rest;
        return 0;
    }
    const char *slash = strchr(t, '/');
    if (!slash)
        return fail(p, at, "'%s' is not an endpoint string (sip/<endpoint>[/...] or error/<cause>)", t);
    return fail(p, at, "unknown endpoint type '%s' (sip/ and error/ are supported)",
                apr_pstrndup(p->pool, t, (apr_size_t)(slash - t)));
}

static dp_leg_t *parse_leg(parser_t *p, const apr_array_header_t *outer)
{
    dp_leg_t *leg = apr_pcalloc(p->pool, sizeof *leg);
    skip_ws(p);
    leg->offset = p->pos;
    leg->vars = apr_array_copy(p->pool, outer);
    while (p->s[p->pos] == '[') {
        if (parse_varlist(p, '[', ']', leg->vars))
            return NULL;
        skip_ws(p);
    }
    char c = p->s[p->pos];
    if (c == '{' || c == '<') {
        fail(p, p->pos, "'%c' variables are allowed only at the start of %s; use [...] before a leg", c,
             c == '{' ? "a branch (the string or after ':_:')" : "the dial string");
        return NULL;
    }
    apr_size_t at = p->pos;
    while (!at_leg_end(p)) {
        c = p->s[p->pos];
        if (c == '[' || c == '{' || c == '<' || c == ']' || c == '}' || c == '>') {
            fail(p, p->pos, "unexpected '%c' inside an endpoint string (variables go before the leg)", c);
            return NULL;
        }
        p->pos++;
    }
    char *target = trim(apr_pstrndup(p->pool, p->s + at, p->pos - at));
    if (!*target) {
        fail(p, at, "empty leg (nothing between separators)");
        return NULL;
    }
    for (const char *q = target; *q; q++)
        if (isspace((unsigned char)*q)) {
            fail(p, at + (apr_size_t)(q - target), "whitespace inside the endpoint string '%s' (a missing ','?)",
                 target);
            return NULL;
        }
    leg->target = target;
    if (classify(p, leg, at))
        return NULL;
    p->ds->nlegs++;
    return leg;
}

static dp_branch_t *parse_branch(parser_t *p)
{
    dp_branch_t *b = apr_pcalloc(p->pool, sizeof *b);
    b->vars = apr_array_copy(p->pool, p->ds->vars);
    b->groups = apr_array_make(p->pool, 2, sizeof(dp_group_t *));
    skip_ws(p);
    while (p->s[p->pos] == '{') {
        if (parse_varlist(p, '{', '}', b->vars))
            return NULL;
        skip_ws(p);
    }
    for (;;) {
        dp_group_t *g = apr_pcalloc(p->pool, sizeof *g);
        g->legs = apr_array_make(p->pool, 4, sizeof(dp_leg_t *));
        for (;;) {
            dp_leg_t *leg = parse_leg(p, b->vars);
            if (!leg)
                return NULL;
            APR_ARRAY_PUSH(g->legs, dp_leg_t *) = leg;
            APR_ARRAY_PUSH(p->ds->legs, dp_leg_t *) = leg;
            if (p->s[p->pos] != ',')
                break;
            p->pos++;
        }
        APR_ARRAY_PUSH(b->groups, dp_group_t *) = g;
        if (p->s[p->pos] != '|')
            break;
        p->pos++;
    }
    return b;
}

apr_status_t dp_dialstring_parse(const char *s, apr_pool_t *pool, dp_dialstring_t **out, const char **err)
{
    parser_t p = {s ? s : "", 0, pool, NULL, NULL};
    dp_dialstring_t *ds = apr_pcalloc(pool, sizeof *ds);
    ds->vars = apr_array_make(pool, 2, sizeof(dp_var_t));
    ds->branches = apr_array_make(pool, 1, sizeof(dp_branch_t *));
    ds->legs = apr_array_make(pool, 4, sizeof(dp_leg_t *));
    p.ds = ds;
    *out = NULL;
    *err = NULL;
    skip_ws(&p);
    if (!p.s[p.pos]) {
        *err = "offset 0: empty dial string";
        return AORTA_ESYNTAX;
    }
    while (p.s[p.pos] == '<') {
        if (parse_varlist(&p, '<', '>', ds->vars))
            goto bad;
        skip_ws(&p);
    }
    for (;;) {
        dp_branch_t *b = parse_branch(&p);
        if (!b)
            goto bad;
        APR_ARRAY_PUSH(ds->branches, dp_branch_t *) = b;
        if (strncmp(p.s + p.pos, ":_:", 3))
            break;
        p.pos += 3;
    }
    if (p.s[p.pos]) /* parse_leg stops only at separators or the end */
        fail(&p, p.pos, "unexpected '%c'", p.s[p.pos]);
    if (p.err)
        goto bad;
    *out = ds;
    return APR_SUCCESS;
bad:
    *err = p.err;
    return AORTA_ESYNTAX;
}

static void describe_vars(apr_array_header_t *lines, const apr_array_header_t *vars, const char *indent,
                          apr_pool_t *pool)
{
    for (int i = 0; i < vars->nelts; i++) {
        const dp_var_t *v = &APR_ARRAY_IDX(vars, i, dp_var_t);
        APR_ARRAY_PUSH(lines, const char *) = apr_psprintf(pool, "%s%s=%s", indent, v->name, v->value);
    }
}

const char *dp_dialstring_describe(const dp_dialstring_t *ds, apr_pool_t *pool)
{
    apr_array_header_t *lines = apr_array_make(pool, 16, sizeof(const char *));
    for (int b = 0; b < ds->branches->nelts; b++) {
        const dp_branch_t *br = APR_ARRAY_IDX(ds->branches, b, dp_branch_t *);
        APR_ARRAY_PUSH(lines, const char *) = apr_psprintf(pool, "branch %d: %d group%s (tried in order)", b + 1,
                                                           br->groups->nelts, br->groups->nelts == 1 ? "" : "s");
        for (int g = 0; g < br->groups->nelts; g++) {
            const dp_group_t *gr = APR_ARRAY_IDX(br->groups, g, dp_group_t *);
            APR_ARRAY_PUSH(lines, const char *) = apr_psprintf(pool, "  group %d: %d leg%s (rung together)", g + 1,
                                                               gr->legs->nelts, gr->legs->nelts == 1 ? "" : "s");
            for (int l = 0; l < gr->legs->nelts; l++) {
                const dp_leg_t *leg = APR_ARRAY_IDX(gr->legs, l, dp_leg_t *);
                const char *what;
                if (leg->kind == DP_LEG_ERROR)
                    what = apr_psprintf(pool, "error cause=%s status=%d", leg->cause, dp_cause_to_sip(leg->cause));
                else
                    what = apr_psprintf(pool, "sip endpoint=%s%s%s%s%s", leg->endpoint, leg->aor ? " aor=" : "",
                                        leg->aor ? leg->aor : "", leg->uri ? " uri=" : "", leg->uri ? leg->uri : "");
                APR_ARRAY_PUSH(lines, const char *) = apr_psprintf(pool, "    leg %d: %s", l + 1, what);
                describe_vars(lines, leg->vars, "      ", pool);
            }
        }
    }
    return apr_pstrcat(pool, apr_array_pstrcat(pool, lines, '\n'), "\n", NULL);
}

/* ---- causes ------------------------------------------------------------------------------ */

typedef struct cause {
    const char *name;
    int q850;
    int sip; /* 0: FreeSWITCH's default, 480 */
} cause_t;

/* FreeSWITCH's switch_call_cause_t names and numbers; SIP statuses from mod_sofia's
 * hangup_cause_to_sip() (RFC 4497 §8.4.1). */
static const cause_t causes[] = {{"UNSPECIFIED", 0, 0},
                                 {"UNALLOCATED_NUMBER", 1, 404},
                                 {"NO_ROUTE_TRANSIT_NET", 2, 404},
                                 {"NO_ROUTE_DESTINATION", 3, 404},
                                 {"CHANNEL_UNACCEPTABLE", 6, 0},
                                 {"CALL_AWARDED_DELIVERED", 7, 0},
                                 {"NORMAL_CLEARING", 16, 0},
                                 {"USER_BUSY", 17, 486},
                                 {"NO_USER_RESPONSE", 18, 408},
                                 {"NO_ANSWER", 19, 480},
                                 {"SUBSCRIBER_ABSENT", 20, 480},
                                 {"CALL_REJECTED", 21, 603},
                                 {"NUMBER_CHANGED", 22, 410},
                                 {"REDIRECTION_TO_NEW_DESTINATION", 23, 410},
                                 {"EXCHANGE_ROUTING_ERROR", 25, 483},
                                 {"DESTINATION_OUT_OF_ORDER", 27, 502},
                                 {"INVALID_NUMBER_FORMAT", 28, 484},
                                 {"FACILITY_REJECTED", 29, 501},
                                 {"RESPONSE_TO_STATUS_ENQUIRY", 30, 0},
                                 {"NORMAL_UNSPECIFIED", 31, 480},
                                 {"NORMAL_CIRCUIT_CONGESTION", 34, 503},
                                 {"NETWORK_OUT_OF_ORDER", 38, 503},
                                 {"NORMAL_TEMPORARY_FAILURE", 41, 503},
                                 {"SWITCH_CONGESTION", 42, 503},
                                 {"ACCESS_INFO_DISCARDED", 43, 0},
                                 {"REQUESTED_CHAN_UNAVAIL", 44, 503},
                                 {"PRE_EMPTED", 45, 0},
                                 {"FACILITY_NOT_SUBSCRIBED", 50, 0},
                                 {"OUTGOING_CALL_BARRED", 52, 403},
                                 {"INCOMING_CALL_BARRED", 54, 403},
                                 {"BEARERCAPABILITY_NOTAUTH", 57, 403},
                                 {"BEARERCAPABILITY_NOTAVAIL", 58, 503},
                                 {"SERVICE_UNAVAILABLE", 63, 0},
                                 {"BEARERCAPABILITY_NOTIMPL", 65, 488},
                                 {"CHAN_NOT_IMPLEMENTED", 66, 0},
                                 {"FACILITY_NOT_IMPLEMENTED", 69, 501},
                                 {"SERVICE_NOT_IMPLEMENTED", 79, 501},
                                 {"INVALID_CALL_REFERENCE", 81, 0},
                                 {"INCOMPATIBLE_DESTINATION", 88, 488},
                                 {"INVALID_MSG_UNSPECIFIED", 95, 0},
                                 {"MANDATORY_IE_MISSING", 96, 0},
                                 {"MESSAGE_TYPE_NONEXIST", 97, 0},
                                 {"WRONG_MESSAGE", 98, 0},
                                 {"IE_NONEXIST", 99, 0},
                                 {"INVALID_IE_CONTENTS", 100, 0},
                                 {"WRONG_CALL_STATE", 101, 0},
                                 {"RECOVERY_ON_TIMER_EXPIRE", 102, 504},
                                 {"MANDATORY_IE_LENGTH_ERROR", 103, 0},
                                 {"PROTOCOL_ERROR", 111, 0},
                                 {"INTERWORKING", 127, 0},
                                 {"SUCCESS", 142, 0},
                                 {"ORIGINATOR_CANCEL", 487, 487},
                                 {"CRASH", 700, 0},
                                 {"SYSTEM_SHUTDOWN", 701, 0},
                                 {"LOSE_RACE", 502, 0},
                                 {"MANAGER_REQUEST", 503, 0},
                                 {"BLIND_TRANSFER", 600, 0},
                                 {"ATTENDED_TRANSFER", 601, 0},
                                 {"ALLOTTED_TIMEOUT", 602, 0},
                                 {"USER_CHALLENGE", 603, 0},
                                 {"MEDIA_TIMEOUT", 604, 0},
                                 {"PICKED_OFF", 605, 0},
                                 {"USER_NOT_REGISTERED", 606, 480},
                                 {"PROGRESS_TIMEOUT", 607, 0},
                                 {"INVALID_GATEWAY", 608, 484},
                                 {"GATEWAY_DOWN", 609, 503},
                                 {"INVALID_URL", 610, 484},
                                 {"INVALID_PROFILE", 611, 502},
                                 {"NO_PICKUP", 612, 0},
                                 {"SRTP_READ_ERROR", 613, 0},
                                 {NULL, 0, 0}};

const char *dp_cause_lookup(const char *name_or_number, int *q850)
{
    if (!name_or_number || !*name_or_number)
        return NULL;
    char *end;
    long num = strtol(name_or_number, &end, 10);
    int numeric = !*end;
    for (const cause_t *c = causes; c->name; c++)
        if (numeric ? c->q850 == num : !strcasecmp(c->name, name_or_number)) {
            if (q850)
                *q850 = c->q850;
            return c->name;
        }
    return NULL;
}

int dp_cause_to_sip(const char *cause)
{
    for (const cause_t *c = causes; cause && c->name; c++)
        if (!strcasecmp(c->name, cause))
            return c->sip ? c->sip : 480;
    return 480;
}

const char *dp_sip_phrase(int status)
{
    switch (status) {
    case 100:
        return "Trying";
    case 180:
        return "Ringing";
    case 181:
        return "Call Is Being Forwarded";
    case 182:
        return "Queued";
    case 183:
        return "Session Progress";
    case 200:
        return "OK";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Moved Temporarily";
    case 305:
        return "Use Proxy";
    case 380:
        return "Alternative Service";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 410:
        return "Gone";
    case 413:
        return "Request Entity Too Large";
    case 414:
        return "Request-URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Unsupported URI Scheme";
    case 420:
        return "Bad Extension";
    case 421:
        return "Extension Required";
    case 423:
        return "Interval Too Brief";
    case 480:
        return "Temporarily Unavailable";
    case 481:
        return "Call/Transaction Does Not Exist";
    case 482:
        return "Loop Detected";
    case 483:
        return "Too Many Hops";
    case 484:
        return "Address Incomplete";
    case 485:
        return "Ambiguous";
    case 486:
        return "Busy Here";
    case 487:
        return "Request Terminated";
    case 488:
        return "Not Acceptable Here";
    case 491:
        return "Request Pending";
    case 493:
        return "Undecipherable";
    case 500:
        return "Server Internal Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Server Time-out";
    case 505:
        return "Version Not Supported";
    case 513:
        return "Message Too Large";
    case 600:
        return "Busy Everywhere";
    case 603:
        return "Decline";
    case 604:
        return "Does Not Exist Anywhere";
    case 606:
        return "Not Acceptable";
    default:
        return "Unknown";
    }
}

static int preferred_4xx(int st)
{
    return st == 401 || st == 407 || st == 415 || st == 420 || st == 484;
}

int dp_best_status(const int *statuses, int n)
{
    int best = 0;
    for (int i = 0; i < n; i++) {
        int st = statuses[i];
        if (st < 300 || st > 699)
            continue;
        if (!best) {
            best = st;
            continue;
        }
        if (best >= 600) /* the first 6xx stands */
            continue;
        if (st >= 600 || st / 100 < best / 100) {
            best = st;
            continue;
        }
        if (st / 100 == 4 && best / 100 == 4 && preferred_4xx(st) && !preferred_4xx(best))
            best = st;
    }
    return best;
}
