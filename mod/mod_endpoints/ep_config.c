/*
 * ep_config.c — parse the mod_endpoints parts of sip.conf into one immutable ep_config_t per
 * configuration generation: per-profile <settings>, <endpoints>, <auths> and <identify>.
 *
 * Invariants: everything lives in the generation pool (compiled regexes are freed by a
 * cleanup on it); nothing here has side effects, so --check and reloadxml can run it freely;
 * every problem is collected with file:line, not just the first. Endpoint and auth names are
 * unique across all profiles, because other modules look them up by name alone
 * (endpoint_find/auth_find).
 */
#include "ep_internal.h"

#include <apr_strings.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

/* ---- tables ----------------------------------------------------------------------------- */

#define PS(field) offsetof(ep_profile_settings_t, field)
const aorta_setting_t ep_profile_settings_table[] = {
    {"sip-ip", AORTA_SETTING_STRING, "127.0.0.1", PS(sip_ip), NULL, 0, 0, NULL, 0,
     "address the UDP/TCP/TLS listeners bind to and that goes into Via/From of outgoing requests"},
    {"sip-port", AORTA_SETTING_INT, "5060", PS(sip_port), NULL, 1, 65535, NULL, 0, "UDP and TCP port"},
    {"transports", AORTA_SETTING_LIST, "udp,tcp", PS(transports), NULL, 0, 0, NULL, 0,
     "any of udp, tcp, tls (comma list)"},
    {"tls-port", AORTA_SETTING_INT, "5061", PS(tls_port), NULL, 1, 65535, NULL, 0, "TLS port (transports has tls)"},
    {"tls-cert-dir", AORTA_SETTING_STRING, NULL, PS(tls_cert_dir), NULL, 0, 0, NULL, 0,
     "directory holding agent.pem (certificate + private key) and optionally cafile.pem; default <conf>/tls"},
    {"identify-order", AORTA_SETTING_LIST, "ip,header,user,anonymous", PS(identify_order), NULL, 0, 0, NULL, 1,
     "endpoint identifiers to run first, in this order; identifiers of other modules follow"},
    {"unidentified-response", AORTA_SETTING_ENUM, "challenge", PS(unidentified_response), "challenge|403", 0, 0, NULL,
     1, "challenge: 401 that no credentials satisfy, then 403; 403: 403 at once"},
    {"user-agent", AORTA_SETTING_STRING, "aorta", PS(user_agent), NULL, 0, 0, NULL, 1,
     "Server header of responses and User-Agent of requests; empty leaves them out"},
    {"transaction-linger", AORTA_SETTING_INT, "32000", PS(t1x64), NULL, 1000, 64000, NULL, 0,
     "ms a finished UDP transaction absorbs retransmissions (T1x64, also the client timeout); "
     "each costs ~10 KB meanwhile"},
    {"dialog-cache-ttl", AORTA_SETTING_INT, "3600", PS(dialog_ttl), NULL, 1, 86400, NULL, 1,
     "s an established dialog's endpoint is remembered for in-dialog requests (refreshed by each)"},
    {"max-message-size", AORTA_SETTING_INT, "65536", PS(max_size), NULL, 1024, 2097152, NULL, 0,
     "largest SIP message accepted, in bytes"},
    {NULL, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL}};

typedef struct ep_endpoint_raw {
    apr_array_header_t *aors;
    const char *auth;
    const char *context;
    apr_array_header_t *allow;
    const char *from_user;
    const char *from_domain;
    const char *transport;
    const char *outbound_proxy;
} ep_endpoint_raw_t;

static const char *validate_transport(const aorta_setting_t *s, const char *value, apr_pool_t *pool)
{
    (void)s;
    (void)pool;
    if (!value || !*value || !strcmp(value, "udp") || !strcmp(value, "tcp") || !strcmp(value, "tls"))
        return NULL;
    return "must be udp, tcp or tls";
}

static const char *validate_sip_uri(const aorta_setting_t *s, const char *value, apr_pool_t *pool)
{
    (void)s;
    (void)pool;
    if (!value || !*value || !strncasecmp(value, "sip:", 4) || !strncasecmp(value, "sips:", 5))
        return NULL;
    return "must be a sip: or sips: URI";
}

#define ES(field) offsetof(ep_endpoint_raw_t, field)
const aorta_setting_t ep_endpoint_settings_table[] = {
    {"aors", AORTA_SETTING_LIST, NULL, ES(aors), NULL, 0, 0, NULL, 1, "AORs this endpoint may register (comma list)"},
    {"auth", AORTA_SETTING_STRING, NULL, ES(auth), NULL, 0, 0, NULL, 1,
     "name of an <auth>; absent: requests from it are not authenticated"},
    {"context", AORTA_SETTING_STRING, "default", ES(context), NULL, 0, 0, NULL, 1, "dialplan context for its INVITEs"},
    {"allow", AORTA_SETTING_LIST, NULL, ES(allow), NULL, 0, 0, NULL, 1, "codec names offered/accepted; empty: all"},
    {"from-user", AORTA_SETTING_STRING, NULL, ES(from_user), NULL, 0, 0, NULL, 1,
     "user part of From in requests sent to it; default the endpoint name"},
    {"from-domain", AORTA_SETTING_STRING, NULL, ES(from_domain), NULL, 0, 0, NULL, 1,
     "host part of From in requests sent to it; default the profile's sip-ip"},
    {"transport", AORTA_SETTING_STRING, NULL, ES(transport), NULL, 0, 0, validate_transport, 1,
     "transport for requests sent to it when the URI names none: udp, tcp or tls"},
    {"outbound-proxy", AORTA_SETTING_STRING, NULL, ES(outbound_proxy), NULL, 0, 0, validate_sip_uri, 1,
     "sip: URI every request sent to it goes through"},
    {NULL, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL}};

#define AS(field) offsetof(ep_auth_t, field)
const aorta_setting_t ep_auth_settings_table[] = {
    {"username", AORTA_SETTING_STRING, NULL, AS(username), NULL, 0, 0, NULL, 1,
     "digest user name; default the auth name"},
    {"password", AORTA_SETTING_STRING, NULL, AS(password), NULL, 0, 0, NULL, 1, "plain password"},
    {"ha1", AORTA_SETTING_STRING, NULL, AS(ha1), NULL, 0, 0, NULL, 1, "MD5(username:realm:password) in hex"},
    {"ha1-sha256", AORTA_SETTING_STRING, NULL, AS(ha1_sha256), NULL, 0, 0, NULL, 1,
     "SHA-256(username:realm:password) in hex"},
    {NULL, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL}};

/* ---- helpers ---------------------------------------------------------------------------- */

int ep_list_has(const apr_array_header_t *list, const char *word)
{
    if (!list)
        return 0;
    for (int i = 0; i < list->nelts; i++)
        if (!strcasecmp(APR_ARRAY_IDX(list, i, const char *), word))
            return 1;
    return 0;
}

static int lists_equal(const apr_array_header_t *a, const apr_array_header_t *b)
{
    int na = a ? a->nelts : 0, nb = b ? b->nelts : 0;
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (strcmp(APR_ARRAY_IDX(a, i, const char *), APR_ARRAY_IDX(b, i, const char *)))
            return 0;
    return 1;
}

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

int ep_settings_transport_differs(const ep_profile_settings_t *a, const ep_profile_settings_t *b)
{
    return !str_eq(a->sip_ip, b->sip_ip) || a->sip_port != b->sip_port || !lists_equal(a->transports, b->transports) ||
           a->tls_port != b->tls_port || !str_eq(a->tls_cert_dir, b->tls_cert_dir) || a->t1x64 != b->t1x64 ||
           a->max_size != b->max_size;
}

const ep_profile_conf_t *ep_config_profile(const ep_config_t *cfg, const char *name)
{
    if (!cfg)
        return NULL;
    for (int i = 0; i < cfg->profiles->nelts; i++) {
        const ep_profile_conf_t *pc = APR_ARRAY_IDX(cfg->profiles, i, const ep_profile_conf_t *);
        if (!strcmp(pc->name, name))
            return pc;
    }
    return NULL;
}

static apr_status_t regex_cleanup(void *data)
{
    pcre2_code_free((pcre2_code *)data);
    return APR_SUCCESS;
}

/* ---- sections --------------------------------------------------------------------------- */

static void parse_auths(const aorta_conf_t *conf, const xmlNode *auths, ep_config_t *cfg, apr_pool_t *pool,
                        aorta_conf_errors_t *errs)
{
    for (xmlNode *n = aorta_xml_child(auths, NULL); n; n = aorta_xml_next(n, NULL)) {
        if (strcmp(aorta_xml_name(n), "auth")) {
            aorta_conf_error(errs, conf, n, "<%s> is not allowed in <auths> (expected <auth>)", aorta_xml_name(n));
            continue;
        }
        const char *name = aorta_xml_attr(n, "name");
        if (!name || !*name) {
            aorta_conf_error(errs, conf, n, "<auth> without a name");
            continue;
        }
        if (apr_hash_get(cfg->auths, name, APR_HASH_KEY_STRING)) {
            aorta_conf_error(errs, conf, n, "auth '%s' is defined twice", name);
            continue;
        }
        ep_auth_t *a = apr_pcalloc(pool, sizeof *a);
        if (aorta_settings_apply(ep_auth_settings_table, a, conf, n, pool, errs) != APR_SUCCESS)
            continue;
        a->name = apr_pstrdup(pool, name);
        if (!a->username || !*a->username)
            a->username = a->name;
        int secrets = (a->password != NULL) + (a->ha1 != NULL) + (a->ha1_sha256 != NULL);
        if (secrets != 1) {
            aorta_conf_error(errs, conf, n, "auth '%s' needs exactly one of password, ha1, ha1-sha256 (has %d)", name,
                             secrets);
            continue;
        }
        if (a->ha1 && strlen(a->ha1) != 32)
            aorta_conf_error(errs, conf, n, "auth '%s': ha1 must be 32 hex digits", name);
        if (a->ha1_sha256 && strlen(a->ha1_sha256) != 64)
            aorta_conf_error(errs, conf, n, "auth '%s': ha1-sha256 must be 64 hex digits", name);
        apr_hash_set(cfg->auths, a->name, APR_HASH_KEY_STRING, a);
    }
}

static void parse_endpoints(const aorta_conf_t *conf, const xmlNode *eps, ep_config_t *cfg, ep_profile_conf_t *pc,
                            apr_pool_t *pool, aorta_conf_errors_t *errs)
{
    for (xmlNode *n = aorta_xml_child(eps, NULL); n; n = aorta_xml_next(n, NULL)) {
        if (strcmp(aorta_xml_name(n), "endpoint")) {
            aorta_conf_error(errs, conf, n, "<%s> is not allowed in <endpoints> (expected <endpoint>)",
                             aorta_xml_name(n));
            continue;
        }
        const char *name = aorta_xml_attr(n, "name");
        if (!name || !*name) {
            aorta_conf_error(errs, conf, n, "<endpoint> without a name");
            continue;
        }
        ep_endpoint_ext_t *prev = apr_hash_get(cfg->endpoints, name, APR_HASH_KEY_STRING);
        if (prev) {
            aorta_conf_error(errs, conf, n,
                             "endpoint '%s' is already defined at %s:%d (names are unique across profiles)", name,
                             prev->file, prev->line);
            continue;
        }
        ep_endpoint_raw_t raw;
        memset(&raw, 0, sizeof raw);
        if (aorta_settings_apply(ep_endpoint_settings_table, &raw, conf, n, pool, errs) != APR_SUCCESS)
            continue;
        ep_endpoint_ext_t *e = apr_pcalloc(pool, sizeof *e);
        e->pub.name = apr_pstrdup(pool, name);
        e->pub.profile = pc->name;
        e->pub.aors = raw.aors ? raw.aors : apr_array_make(pool, 0, sizeof(const char *));
        e->pub.allow = raw.allow ? raw.allow : apr_array_make(pool, 0, sizeof(const char *));
        e->pub.context = raw.context;
        e->auth_name = raw.auth && *raw.auth ? raw.auth : NULL;
        e->from_user = raw.from_user && *raw.from_user ? raw.from_user : NULL;
        e->from_domain = raw.from_domain && *raw.from_domain ? raw.from_domain : NULL;
        e->transport = raw.transport && *raw.transport ? raw.transport : NULL;
        e->outbound_proxy = raw.outbound_proxy && *raw.outbound_proxy ? raw.outbound_proxy : NULL;
        aorta_conf_where(conf, n, &e->file, &e->line);
        apr_hash_set(cfg->endpoints, e->pub.name, APR_HASH_KEY_STRING, e);
        apr_hash_set(pc->endpoints, e->pub.name, APR_HASH_KEY_STRING, e);
        APR_ARRAY_PUSH(pc->endpoint_list, ep_endpoint_ext_t *) = e;
        if (!strcmp(name, "anonymous"))
            pc->anonymous = e;
    }
}

static void parse_identify(const aorta_conf_t *conf, const xmlNode *idn, ep_profile_conf_t *pc, apr_pool_t *pool,
                           aorta_conf_errors_t *errs)
{
    for (xmlNode *n = aorta_xml_child(idn, NULL); n; n = aorta_xml_next(n, NULL)) {
        if (strcmp(aorta_xml_name(n), "match")) {
            aorta_conf_error(errs, conf, n, "<%s> is not allowed in <identify> (expected <match>)", aorta_xml_name(n));
            continue;
        }
        const char *epname = aorta_xml_attr(n, "endpoint");
        const char *ip = aorta_xml_attr(n, "ip");
        const char *header = aorta_xml_attr(n, "header");
        const char *regex = aorta_xml_attr(n, "regex");
        for (xmlAttr *a = n->properties; a; a = a->next) {
            const char *an = (const char *)a->name;
            if (strcmp(an, "endpoint") && strcmp(an, "ip") && strcmp(an, "header") && strcmp(an, "regex"))
                aorta_conf_error(errs, conf, n, "<match>: unknown attribute '%s' (endpoint, ip, header, regex)", an);
        }
        if (!epname || !*epname) {
            aorta_conf_error(errs, conf, n, "<match> without endpoint=");
            continue;
        }
        const ep_endpoint_ext_t *e = apr_hash_get(pc->endpoints, epname, APR_HASH_KEY_STRING);
        if (!e) {
            aorta_conf_error(errs, conf, n, "<match>: endpoint '%s' is not defined in profile '%s'", epname, pc->name);
            continue;
        }
        if ((ip != NULL) == (header != NULL)) {
            aorta_conf_error(errs, conf, n, "<match> needs exactly one of ip= or header= (use two <match> for both)");
            continue;
        }
        if (ip) {
            char *list = apr_pstrdup(pool, ip), *last = NULL;
            int count = 0;
            for (char *tok = apr_strtok(list, ",", &last); tok; tok = apr_strtok(NULL, ",", &last)) {
                ep_cidr_t net;
                const char *why = NULL;
                if (ep_cidr_parse(tok, &net, &why) != APR_SUCCESS) {
                    char *t = tok;
                    while (*t == ' ' || *t == '\t')
                        t++;
                    aorta_conf_error(errs, conf, n, "<match ip>: '%s': %s", t, why);
                    continue;
                }
                ep_cidr_table_add(pc->ip_rules, &net, e);
                char buf[80];
                APR_ARRAY_PUSH(pc->ip_rule_text, const char *) =
                    apr_psprintf(pool, "%s -> %s", ep_cidr_format(&net, buf, sizeof buf), epname);
                count++;
            }
            if (!count)
                aorta_conf_error(errs, conf, n, "<match ip> lists no address");
        } else {
            if (!*header || !regex) {
                aorta_conf_error(errs, conf, n, "<match header> needs a header name and regex=");
                continue;
            }
            int err;
            PCRE2_SIZE off;
            pcre2_code *code = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
            if (!code) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(err, msg, sizeof msg);
                aorta_conf_error(errs, conf, n, "<match regex=\"%s\">: %s at offset %lu", regex, (char *)msg,
                                 (unsigned long)off);
                continue;
            }
            /* JIT is an optimisation: where it is unavailable the interpreter matches the same */
            (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
            apr_pool_cleanup_register(pool, code, regex_cleanup, apr_pool_cleanup_null);
            ep_header_rule_t *r = apr_array_push(pc->header_rules);
            r->endpoint_name = e->pub.name;
            r->endpoint = &e->pub;
            r->header = apr_pstrdup(pool, header);
            r->regex = apr_pstrdup(pool, regex);
            r->code = code;
        }
    }
}

static void check_settings(const aorta_conf_t *conf, const xmlNode *where, ep_profile_conf_t *pc,
                           aorta_conf_errors_t *errs)
{
    ep_profile_settings_t *s = &pc->set;
    if (!s->transports || !s->transports->nelts)
        aorta_conf_error(errs, conf, where, "profile '%s': transports is empty", pc->name);
    for (int i = 0; s->transports && i < s->transports->nelts; i++) {
        const char *t = APR_ARRAY_IDX(s->transports, i, const char *);
        if (strcmp(t, "udp") && strcmp(t, "tcp") && strcmp(t, "tls"))
            aorta_conf_error(errs, conf, where, "profile '%s': transports: unknown transport '%s' (udp, tcp, tls)",
                             pc->name, t);
    }
    if (ep_list_has(s->transports, "tls") && (ep_list_has(s->transports, "tcp")) && s->tls_port == s->sip_port)
        aorta_conf_error(errs, conf, where, "profile '%s': tls-port %d is also the TCP port (sip-port)", pc->name,
                         s->tls_port);
    if (!s->sip_ip || !*s->sip_ip)
        aorta_conf_error(errs, conf, where, "profile '%s': sip-ip is empty", pc->name);
}

apr_status_t ep_config_parse(const aorta_conf_t *conf, apr_pool_t *pool, aorta_conf_errors_t *errs, ep_config_t **out)
{
    int before = aorta_conf_errors_count(errs);
    ep_config_t *cfg = apr_pcalloc(pool, sizeof *cfg);
    cfg->pool = pool;
    cfg->profiles = apr_array_make(pool, 2, sizeof(ep_profile_conf_t *));
    cfg->endpoints = apr_hash_make(pool);
    cfg->auths = apr_hash_make(pool);

    xmlNode *sipconf = conf ? aorta_conf_configuration(conf, "sip.conf") : NULL;
    xmlNode *profiles = sipconf ? aorta_xml_child(sipconf, "profiles") : NULL;
    /* pass 1: auths of every profile, so that an endpoint may name any of them */
    for (xmlNode *p = profiles ? aorta_xml_child(profiles, "profile") : NULL; p; p = aorta_xml_next(p, "profile")) {
        for (xmlNode *a = aorta_xml_child(p, "auths"); a; a = aorta_xml_next(a, "auths"))
            parse_auths(conf, a, cfg, pool, errs);
    }
    for (xmlNode *p = profiles ? aorta_xml_child(profiles, "profile") : NULL; p; p = aorta_xml_next(p, "profile")) {
        const char *name = aorta_xml_attr(p, "name");
        if (!name || !*name) {
            aorta_conf_error(errs, conf, p, "<profile> without a name");
            continue;
        }
        if (ep_config_profile(cfg, name)) {
            aorta_conf_error(errs, conf, p, "profile '%s' is defined twice", name);
            continue;
        }
        ep_profile_conf_t *pc = apr_pcalloc(pool, sizeof *pc);
        pc->name = apr_pstrdup(pool, name);
        pc->endpoints = apr_hash_make(pool);
        pc->endpoint_list = apr_array_make(pool, 4, sizeof(ep_endpoint_ext_t *));
        pc->ip_rules = ep_cidr_table_create(pool);
        pc->ip_rule_text = apr_array_make(pool, 4, sizeof(const char *));
        pc->header_rules = apr_array_make(pool, 2, sizeof(ep_header_rule_t));
        xmlNode *settings = aorta_xml_child(p, "settings");
        aorta_settings_apply(ep_profile_settings_table, &pc->set, conf, settings, pool, errs);
        check_settings(conf, settings ? settings : p, pc, errs);
        for (xmlNode *e = aorta_xml_child(p, "endpoints"); e; e = aorta_xml_next(e, "endpoints"))
            parse_endpoints(conf, e, cfg, pc, pool, errs);
        for (xmlNode *i = aorta_xml_child(p, "identify"); i; i = aorta_xml_next(i, "identify"))
            parse_identify(conf, i, pc, pool, errs);
        APR_ARRAY_PUSH(cfg->profiles, ep_profile_conf_t *) = pc;
    }
    /* pass 2: resolve auth references */
    for (apr_hash_index_t *hi = apr_hash_first(pool, cfg->endpoints); hi; hi = apr_hash_next(hi)) {
        ep_endpoint_ext_t *e = apr_hash_this_val(hi);
        if (!e->auth_name)
            continue;
        e->pub.auth = apr_hash_get(cfg->auths, e->auth_name, APR_HASH_KEY_STRING);
        if (!e->pub.auth)
            aorta_conf_errors_add(errs, e->file, e->line, "endpoint '%s': auth '%s' is not defined in any <auths>",
                                  e->pub.name, e->auth_name);
    }
    for (int i = 0; i < cfg->profiles->nelts; i++) {
        ep_profile_conf_t *pc = APR_ARRAY_IDX(cfg->profiles, i, ep_profile_conf_t *);
        pc->by_auth_user = apr_hash_make(pool);
        for (int k = 0; k < pc->endpoint_list->nelts; k++) {
            ep_endpoint_ext_t *e = APR_ARRAY_IDX(pc->endpoint_list, k, ep_endpoint_ext_t *);
            if (e->pub.auth && !apr_hash_get(pc->by_auth_user, e->pub.auth->username, APR_HASH_KEY_STRING))
                apr_hash_set(pc->by_auth_user, e->pub.auth->username, APR_HASH_KEY_STRING, e);
        }
    }
    if (aorta_conf_errors_count(errs) > before)
        return AORTA_ECONFIG;
    *out = cfg;
    return APR_SUCCESS;
}
