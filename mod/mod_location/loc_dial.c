/*
 * loc_dial.c — dial strings (SPEC §8): `dial_contacts` builds the string that rings every
 * contact, `resolve` says where an outgoing request to a dial string would go and why.
 *
 * A leg is "sip/<endpoint>/<contact-uri>", preceded by "[vars]" when the contact needs a
 * route to be reached:
 *   sip_route=<sip:p1;lr>\,<sip:p2;lr>     the contact registered through Path: send via
 *                                           that route set (a `,` inside a value is `\,`)
 *   sip_network_destination=sip:IP:PORT;transport=T
 *                                           no Path, but the REGISTER came from an address
 *                                           other than the Contact's (NAT): send there
 * The endpoints and dialstring interfaces are taken at call time with
 * aorta_interface_acquire() (mod_endpoints and mod_dialplan load after us, and may be
 * unloaded while a command runs); the commands say so when one is missing.
 */
#include "loc_internal.h"
#include "mod_dialplan/dp_dialstring.h"
#include "mod_endpoints/ep_api.h"
#include <apr_strings.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define NOT_REGISTERED "error/user_not_registered"

const char *loc_dial_uri_with_user(const char *uri, const char *user, apr_pool_t *pool)
{
    if (!user || !*user)
        return uri;
    const char *colon = strchr(uri, ':');
    if (!colon)
        return uri;
    const char *hostpart = colon + 1;
    const char *at = strchr(hostpart, '@');
    const char *stop = strpbrk(hostpart, ";?>");
    if (at && (!stop || at < stop))
        hostpart = at + 1;
    return apr_pstrcat(pool, apr_pstrndup(pool, uri, (apr_size_t)(colon - uri + 1)), user, "@", hostpart, NULL);
}

void loc_dial_uri_hostport(const char *uri, apr_pool_t *pool, const char **host, int *port)
{
    *host = NULL;
    *port = 0;
    const char *p = strchr(uri, ':');
    if (!p)
        return;
    p++;
    const char *at = strchr(p, '@');
    const char *stop = strpbrk(p, ";?>");
    if (at && (!stop || at < stop))
        p = at + 1;
    const char *end;
    if (*p == '[') {
        end = strchr(p, ']');
        if (!end)
            return;
        *host = apr_pstrndup(pool, p + 1, (apr_size_t)(end - p - 1));
        end++;
    } else {
        end = p + strcspn(p, ":;?>");
        *host = apr_pstrndup(pool, p, (apr_size_t)(end - p));
    }
    if (*end == ':')
        *port = atoi(end + 1);
}

static int default_port(const char *uri)
{
    return strncasecmp(uri, "sips:", 5) ? 5060 : 5061;
}

const char *loc_dial_route_reason(const loc_contact_t *c)
{
    if (c->path)
        return "path";
    if (!c->src_ip || c->is_static)
        return NULL;
    /* No pool here: this runs for every contact of every dial string (a pool per call made
     * dial_contacts on 10 contacts cost ~75 us in mmap/munmap). */
    const char *p = strchr(c->uri, ':');
    if (!p)
        return "nat";
    p++;
    const char *at = strchr(p, '@');
    const char *stop = strpbrk(p, ";?>");
    if (at && (!stop || at < stop))
        p = at + 1;
    const char *host = p, *end;
    if (*p == '[') {
        host = p + 1;
        end = strchr(host, ']');
        if (!end)
            return "nat";
    } else {
        end = p + strcspn(p, ":;?>");
    }
    apr_size_t hlen = (apr_size_t)(end - host);
    const char *after = *end == ']' ? end + 1 : end;
    int port = *after == ':' ? atoi(after + 1) : default_port(c->uri);
    int same_host = strlen(c->src_ip) == hlen && strncmp(host, c->src_ip, hlen) == 0;
    return same_host && port == c->src_port ? NULL : "nat";
}

static const char *escape_commas(const char *s, apr_pool_t *pool)
{
    if (!strchr(s, ','))
        return s;
    apr_size_t n = 0;
    for (const char *p = s; *p; p++)
        n += (*p == ',') ? 2 : 1;
    char *out = apr_palloc(pool, n + 1), *o = out;
    for (const char *p = s; *p; p++) {
        if (*p == ',')
            *o++ = '\\';
        *o++ = *p;
    }
    *o = 0;
    return out;
}

/* Where a request to @p c must be sent besides its URI: its Path, or the NAT'd source. */
static void contact_route(const loc_contact_t *c, apr_pool_t *pool, const char **route, const char **destination)
{
    *route = *destination = NULL;
    const char *why = loc_dial_route_reason(c);
    if (!why)
        return;
    if (!strcmp(why, "path")) {
        *route = c->path;
        return;
    }
    *destination = apr_psprintf(pool, "sip:%s%s%s:%u;transport=%s", strchr(c->src_ip, ':') ? "[" : "", c->src_ip,
                                strchr(c->src_ip, ':') ? "]" : "", c->src_port, c->transport ? c->transport : "udp");
}

/* Leg variables "k=v[,k=v]" (no brackets) for a route and a destination, or NULL. */
static const char *route_vars(const char *route, const char *destination, apr_pool_t *pool)
{
    if (!route && !destination)
        return NULL;
    return apr_pstrcat(pool, route ? "sip_route=" : "", route ? escape_commas(route, pool) : "",
                       route && destination ? "," : "", destination ? "sip_network_destination=" : "",
                       destination ? destination : "", NULL);
}

const char *loc_dial_leg(const char *endpoint, const loc_contact_t *c, const char *request_user, apr_pool_t *pool)
{
    const char *route, *destination;
    contact_route(c, pool, &route, &destination);
    const char *vars = route_vars(route, destination, pool);
    const char *uri = loc_dial_uri_with_user(c->uri, request_user, pool);
    return apr_pstrcat(pool, vars ? "[" : "", vars ? vars : "", vars ? "]" : "", "sip/", endpoint, "/", uri, NULL);
}

/* The endpoints interface for one command, counted as in use (release with the provider). */
static const ep_api_t *endpoints_acquire(aorta_stream_t *out, aorta_module_t **provider)
{
    const ep_api_t *ep = aorta_interface_acquire(EP_API_NAME, provider);
    if (!ep)
        aorta_stream_puts(out, "-ERR the endpoints interface is not available (is mod_endpoints loaded?)\n");
    return ep;
}

apr_status_t loc_cmd_dial_contacts(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    char *argv[3] = {NULL, NULL, NULL};
    int argc = aorta_api_split(args, pool, argv, 3);
    if (argc < 1) {
        aorta_stream_puts(out, "-ERR usage: dial_contacts <endpoint> [<aor>[,<aor>...]|*] [<request_user>]\n");
        return AORTA_ESYNTAX;
    }
    aorta_module_t *ep_mod;
    const ep_api_t *ep = endpoints_acquire(out, &ep_mod);
    if (!ep)
        return AORTA_EDEPEND;
    aorta_config_gen_t *gen = NULL;
    const ep_endpoint_t *e = ep->endpoint_find(argv[0], &gen);
    if (!e) {
        aorta_interface_release(ep_mod);
        aorta_stream_printf(out, "-ERR endpoint '%s' not found\n", argv[0]);
        return AORTA_ENOTFOUND;
    }
    apr_array_header_t *aors;
    if (argc >= 2 && strcmp(argv[1], "*")) {
        aors = apr_array_make(pool, 4, sizeof(const char *));
        char *last, *tok;
        for (tok = apr_strtok(argv[1], ",", &last); tok; tok = apr_strtok(NULL, ",", &last))
            if (*tok)
                APR_ARRAY_PUSH(aors, const char *) = tok;
    } else {
        aors = apr_array_make(pool, e->aors->nelts, sizeof(const char *));
        for (int i = 0; i < e->aors->nelts; i++)
            APR_ARRAY_PUSH(aors, const char *) = apr_pstrdup(pool, APR_ARRAY_IDX(e->aors, i, const char *));
    }
    const char *endpoint = apr_pstrdup(pool, e->name);
    const char *ruser = argc >= 3 ? argv[2] : NULL;
    aorta_module_config_release(gen);
    aorta_interface_release(ep_mod);

    int legs = 0;
    for (int i = 0; i < aors->nelts; i++) {
        apr_array_header_t *cs;
        loc_contacts_get(APR_ARRAY_IDX(aors, i, const char *), pool, &cs);
        for (int j = 0; j < cs->nelts; j++) {
            const loc_contact_t *c = APR_ARRAY_IDX(cs, j, const loc_contact_t *);
            aorta_stream_printf(out, "%s%s", legs++ ? "," : "", loc_dial_leg(endpoint, c, ruser, pool));
        }
    }
    aorta_stream_printf(out, "%s\n", legs ? "" : NOT_REGISTERED);
    return APR_SUCCESS;
}

/* ---- resolve ------------------------------------------------------------------------- */

/*
 * The dial string is parsed by mod_dialplan's `dialstring` interface (the grammar bridge
 * uses), fetched per call: mod_dialplan loads after us. The parsed tree points into
 * mod_dialplan (cause names), so its reference is held until the output is written.
 */

typedef struct resolved {
    const char *leg, *endpoint, *aor, *uri, *vars, *why;
} resolved_t;

static const char *contact_why(const loc_contact_t *c, int idx, int n, apr_pool_t *pool)
{
    if (c->is_static)
        return apr_psprintf(pool, "static contact of AOR %s (no registered contact ranks before it; %d of %d)", c->aor,
                            idx + 1, n);
    return apr_psprintf(pool, "first of %d contacts of AOR %s: q=%.3g, registered %s ago%s", n, c->aor,
                        (c->q < 0 ? 1000 : c->q) / 1000.0,
                        apr_psprintf(pool, "%" APR_TIME_T_FMT "s", apr_time_sec(apr_time_now() - c->registered)),
                        n > 1 ? " (highest q, then most recently registered)" : "");
}

/* A contact was found (or the URI is explicit): the dial string's own route variables win,
 * as they do when bridge or sip_notify sends the request. */
static void resolve_route(const dp_leg_t *leg, const dp_dialstring_api_t *ds, const loc_contact_t *c,
                          resolved_t *r, apr_pool_t *pool)
{
    const char *route = NULL, *destination = NULL, *v;
    if (c)
        contact_route(c, pool, &route, &destination);
    if ((v = ds->vars_get(leg->vars, "sip_route")) && *v) {
        route = v;
        r->why = apr_pstrcat(pool, r->why, "; route set by the dial string's sip_route", NULL);
    }
    if ((v = ds->vars_get(leg->vars, "sip_network_destination")) && *v) {
        destination = v;
        r->why = apr_pstrcat(pool, r->why, "; sent to the dial string's sip_network_destination", NULL);
    }
    r->vars = route_vars(route, destination, pool);
}

static void resolve_leg(const dp_leg_t *leg, const dp_dialstring_api_t *ds, const ep_api_t *ep, resolved_t *r,
                        apr_pool_t *pool)
{
    memset(r, 0, sizeof *r);
    r->leg = leg->target;
    if (leg->kind == DP_LEG_ERROR) {
        r->why = apr_psprintf(pool, "error leg (%s, SIP %d): no request is sent", leg->cause,
                              ds->cause_to_sip(leg->cause));
        return;
    }
    r->endpoint = leg->endpoint;
    aorta_config_gen_t *gen = NULL;
    const ep_endpoint_t *e = ep->endpoint_find(leg->endpoint, &gen);
    if (!e) {
        r->why = apr_psprintf(pool, "endpoint '%s' not found", leg->endpoint);
        return;
    }
    apr_array_header_t *aors = apr_array_make(pool, e->aors->nelts, sizeof(const char *));
    for (int i = 0; i < e->aors->nelts; i++)
        APR_ARRAY_PUSH(aors, const char *) = apr_pstrdup(pool, APR_ARRAY_IDX(e->aors, i, const char *));
    aorta_module_config_release(gen);
    if (leg->uri) {
        r->uri = leg->uri;
        r->why = "explicit URI: only that URI is contacted";
        resolve_route(leg, ds, NULL, r, pool);
        return;
    }
    if (leg->aor) {
        aors = apr_array_make(pool, 1, sizeof(const char *));
        APR_ARRAY_PUSH(aors, const char *) = leg->aor;
    }
    for (int i = 0; i < aors->nelts; i++) {
        apr_array_header_t *cs;
        const char *aor = APR_ARRAY_IDX(aors, i, const char *);
        loc_contacts_get(aor, pool, &cs);
        if (!cs->nelts)
            continue;
        const loc_contact_t *c = APR_ARRAY_IDX(cs, 0, const loc_contact_t *);
        r->aor = aor;
        r->uri = c->uri;
        r->why = contact_why(c, 0, cs->nelts, pool);
        if (!leg->aor && i > 0)
            r->why = apr_psprintf(pool, "%s; earlier AORs of endpoint %s have no contacts", r->why, r->endpoint);
        resolve_route(leg, ds, c, r, pool);
        return;
    }
    r->why = leg->aor ? apr_psprintf(pool, "AOR %s has no contacts", leg->aor)
                      : apr_psprintf(pool, "none of endpoint %s's AORs has a contact", r->endpoint);
}

static void resolve_write(const resolved_t *r, json_t *arr, aorta_stream_t *out)
{
    if (!arr) {
        aorta_stream_printf(out, "%s -> %s%s%s%s (%s)\n", r->leg, r->vars ? "[" : "", r->vars ? r->vars : "",
                            r->vars ? "]" : "", r->uri ? r->uri : NOT_REGISTERED, r->why);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "leg", json_string(r->leg));
#define JS(k, v) if (v) json_object_set_new(o, k, json_string(v))
    JS("endpoint", r->endpoint);
    JS("aor", r->aor);
    JS("uri", r->uri);
    JS("vars", r->vars);
    JS("why", r->why);
#undef JS
    json_array_append_new(arr, o);
}

apr_status_t loc_cmd_resolve(const char *args, aorta_stream_t *out, apr_pool_t *pool)
{
    int json = aorta_api_want_json(&args, pool);
    if (!*args) {
        aorta_stream_puts(out, "-ERR usage: resolve <dialstring> [as json]\n");
        return AORTA_ESYNTAX;
    }
    aorta_module_t *dp_mod, *ep_mod = NULL;
    const dp_dialstring_api_t *ds = aorta_interface_acquire(DP_DIALSTRING_API_NAME, &dp_mod);
    if (!ds || ds->version < DP_DIALSTRING_API_VERSION) {
        aorta_interface_release(dp_mod);
        aorta_stream_puts(out, "-ERR resolve needs the dial-string parser of mod_dialplan, which is not loaded "
                               "(module load mod_dialplan)\n");
        return AORTA_EDEPEND;
    }
    apr_status_t rv = APR_SUCCESS;
    dp_dialstring_t *parsed;
    const char *err;
    const ep_api_t *ep;
    if (ds->parse(args, pool, &parsed, &err) != APR_SUCCESS) {
        aorta_stream_printf(out, "-ERR invalid dial string: %s\n", err);
        rv = AORTA_ESYNTAX;
    } else if (!(ep = endpoints_acquire(out, &ep_mod))) {
        rv = AORTA_EDEPEND;
    } else {
        json_t *arr = json ? json_array() : NULL;
        for (int i = 0; i < parsed->legs->nelts; i++) {
            resolved_t r;
            resolve_leg(APR_ARRAY_IDX(parsed->legs, i, const dp_leg_t *), ds, ep, &r, pool);
            resolve_write(&r, arr, out);
        }
        if (arr)
            aorta_stream_json(out, arr);
    }
    aorta_interface_release(ep_mod);
    aorta_interface_release(dp_mod);
    return rv;
}
