/*
 * ep_identify.c — the built-in endpoint identifiers and what happens to a request that none
 * of the identifiers recognised.
 *
 *   ip         the packet's source address against <identify><match ip=...>, most specific
 *              network wins (ep_cidr); never a header
 *   header     <match header="X" regex="..."> in configured order; regexes were compiled and
 *              JIT-ed at configuration time, match data is per call
 *   user       From user as "user@host", then "user"; then the digest username of
 *              Authorization/Proxy-Authorization (as an endpoint name, then as an auth's
 *              username)
 *   anonymous  the endpoint named "anonymous", if configured
 *
 * Identifiers read only the request and the generation it holds (req->priv), so they need no
 * locks. An unidentified request fires endpoint::unidentified, is counted per source, and is
 * answered per unidentified-response: "challenge" asks the registered challenger (mod_registrar)
 * so the answer is byte-for-byte what a known user with a wrong password gets; without one, a
 * 401 whose nonce nothing can satisfy and a 403 to any retry with credentials.
 */
#include "ep_internal.h"

#include <apr_strings.h>
#include <sofia-sip/msg_mclass.h>
#include <string.h>

static const ep_endpoint_t *ext_pub(const ep_endpoint_ext_t *e)
{
    return e ? &e->pub : NULL;
}

static const ep_endpoint_t *identify_ip(ep_request_t *req, void *user)
{
    ep_req_priv_t *priv = req->priv;
    (void)user;
    return ext_pub(ep_cidr_table_match(priv->pconf->ip_rules, req->src_ip, NULL));
}

const char *ep_sip_header_value(const sip_t *sip, const char *name, apr_pool_t *pool)
{
    char lookup[128];
    if (!sip || !name || strlen(name) + 2 > sizeof lookup)
        return NULL;
    /* known headers are parsed into their own slots; anything else lives in sip_unknown */
    for (const sip_unknown_t *u = sip->sip_unknown; u; u = u->un_next)
        if (u->un_name && !strcasecmp(u->un_name, name))
            return u->un_value ? u->un_value : "";
    apr_snprintf(lookup, sizeof lookup, "%s:", name);
    msg_mclass_t const *mc = sip_default_mclass();
    msg_href_t const *hr = msg_find_hclass(mc, lookup, NULL);
    if (!hr || !hr->hr_class || hr->hr_class == mc->mc_unknown->hr_class)
        return NULL;
    msg_header_t const *h = *(msg_header_t *const *)((const char *)sip + hr->hr_offset);
    if (!h)
        return NULL;
    char buf[1024];
    issize_t n = msg_header_field_e(buf, sizeof buf, h, 0);
    if (n < 0 || (apr_size_t)n >= sizeof buf)
        return NULL;
    return apr_pstrmemdup(pool, buf, (apr_size_t)n);
}

static const ep_endpoint_t *identify_header(ep_request_t *req, void *user)
{
    ep_req_priv_t *priv = req->priv;
    const apr_array_header_t *rules = priv->pconf->header_rules;
    (void)user;
    if (!rules->nelts)
        return NULL;
    /* one pair is enough: only "did it match" matters, and a short ovector still reports a match */
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md)
        return NULL;
    const ep_endpoint_t *found = NULL;
    for (int i = 0; i < rules->nelts && !found; i++) {
        const ep_header_rule_t *r = &APR_ARRAY_IDX(rules, i, ep_header_rule_t);
        const char *v = ep_sip_header_value(req->sip, r->header, req->pool);
        if (v && pcre2_match(r->code, (PCRE2_SPTR)v, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) >= 0)
            found = r->endpoint;
    }
    pcre2_match_data_free(md);
    return found;
}

static const ep_endpoint_ext_t *by_user_host(const ep_profile_conf_t *pc, const char *user, const char *host,
                                             apr_pool_t *pool)
{
    const ep_endpoint_ext_t *e = NULL;
    if (!user || !*user)
        return NULL;
    if (host && *host)
        e = apr_hash_get(pc->endpoints, apr_pstrcat(pool, user, "@", host, NULL), APR_HASH_KEY_STRING);
    if (!e)
        e = apr_hash_get(pc->endpoints, user, APR_HASH_KEY_STRING);
    return e;
}

static const char *digest_username(const msg_auth_t *au, apr_pool_t *pool)
{
    for (; au; au = au->au_next) {
        if (!au->au_scheme || strcasecmp(au->au_scheme, "Digest"))
            continue;
        const char *v = msg_params_find(au->au_params, "username=");
        if (!v)
            continue;
        char *u = apr_pstrdup(pool, v);
        if (*u == '"') {
            msg_unquote(u, v);
        }
        return u;
    }
    return NULL;
}

static const ep_endpoint_t *identify_user(ep_request_t *req, void *user)
{
    ep_req_priv_t *priv = req->priv;
    const ep_profile_conf_t *pc = priv->pconf;
    const sip_t *sip = req->sip;
    (void)user;
    if (sip->sip_from) {
        const ep_endpoint_ext_t *e =
            by_user_host(pc, sip->sip_from->a_url->url_user, sip->sip_from->a_url->url_host, req->pool);
        if (e)
            return &e->pub;
    }
    const char *du = digest_username(sip->sip_authorization, req->pool);
    if (!du)
        du = digest_username(sip->sip_proxy_authorization, req->pool);
    if (du) {
        const char *at = strchr(du, '@');
        const ep_endpoint_ext_t *e =
            at ? by_user_host(pc, apr_pstrmemdup(req->pool, du, (apr_size_t)(at - du)), at + 1, req->pool) : NULL;
        if (!e)
            e = apr_hash_get(pc->endpoints, du, APR_HASH_KEY_STRING);
        if (!e)
            e = apr_hash_get(pc->by_auth_user, du, APR_HASH_KEY_STRING);
        if (e)
            return &e->pub;
    }
    return NULL;
}

static const ep_endpoint_t *identify_anonymous(ep_request_t *req, void *user)
{
    (void)user;
    return ext_pub(((ep_req_priv_t *)req->priv)->pconf->anonymous);
}

void ep_identify_register_builtins(ep_mod_t *m)
{
    ep_registry_identifier_add(m->registry, m->mod, "ip", identify_ip, m, EP_SERVICE_NONBLOCKING);
    ep_registry_identifier_add(m->registry, m->mod, "header", identify_header, m, EP_SERVICE_NONBLOCKING);
    ep_registry_identifier_add(m->registry, m->mod, "user", identify_user, m, EP_SERVICE_NONBLOCKING);
    ep_registry_identifier_add(m->registry, m->mod, "anonymous", identify_anonymous, m, EP_SERVICE_NONBLOCKING);
}

#define EP_MAX_RUN 32

const ep_endpoint_t *ep_identify_run(ep_mod_t *m, ep_request_t *req)
{
    ep_req_priv_t *priv = req->priv;
    const ep_identifier_t *ids[EP_MAX_RUN];
    int n = ep_registry_identifiers(m->registry, priv->pconf->set.identify_order, ids, EP_MAX_RUN);
    for (int i = 0; i < n; i++) {
        const ep_endpoint_t *e = ids[i]->fn(req, ids[i]->user);
        if (e) {
            req->identified_by = ids[i]->name;
            return e;
        }
    }
    return NULL;
}

static void fire_unidentified(ep_request_t *req)
{
    aorta_event_t *ev;
    const sip_t *sip = req->sip;
    if (aorta_event_create_subclass(&ev, "endpoint::unidentified") != APR_SUCCESS)
        return;
    aorta_event_add_header(ev, "profile-name", req->profile);
    aorta_event_add_header(ev, "network-ip", req->src_ip);
    aorta_event_add_header_printf(ev, "network-port", "%u", req->src_port);
    aorta_event_add_header(ev, "network-proto", req->transport);
    aorta_event_add_header(ev, "method", req->method_name);
    if (sip->sip_from) {
        aorta_event_add_header(ev, "from-user", sip->sip_from->a_url->url_user);
        aorta_event_add_header(ev, "from-host", sip->sip_from->a_url->url_host);
    }
    if (sip->sip_to) {
        aorta_event_add_header(ev, "to-user", sip->sip_to->a_url->url_user);
        aorta_event_add_header(ev, "to-host", sip->sip_to->a_url->url_host);
    }
    if (sip->sip_call_id)
        aorta_event_add_header(ev, "call-id", sip->sip_call_id->i_id);
    if (sip->sip_user_agent)
        aorta_event_add_header(ev, "user-agent", sip->sip_user_agent->g_string);
    aorta_event_fire(&ev);
}

void ep_identify_reject(ep_mod_t *m, ep_request_t *req)
{
    ep_req_priv_t *priv = req->priv;
    ep_profile_t *p = priv->profile;
    const sip_t *sip = req->sip;
    apr_atomic_inc32(&p->unidentified);
    apr_atomic_inc32(&m->unidentified_total);
    ep_profile_count_source(p, req->src_ip);
    aorta_log(AORTA_LOG_INFO, "%s from %s:%u/%s (From %s@%s) matched no endpoint on profile %s\n", req->method_name,
              req->src_ip, req->src_port, req->transport,
              sip->sip_from && sip->sip_from->a_url->url_user ? sip->sip_from->a_url->url_user : "",
              sip->sip_from && sip->sip_from->a_url->url_host ? sip->sip_from->a_url->url_host : "", req->profile);
    fire_unidentified(req);

    if (priv->pconf->set.unidentified_response == EP_UNIDENTIFIED_403) {
        ep_reply(req, 403, "Forbidden", NULL, NULL, NULL);
        return;
    }
    ep_challenge_fn fn;
    void *user;
    if (ep_registry_challenger(m->registry, &fn, &user)) {
        fn(req, user);
        if (!apr_atomic_read32(&priv->held) && !apr_atomic_read32(&priv->final)) {
            aorta_log(AORTA_LOG_ERR, "the challenger returned without a reply: answering 403\n");
            ep_reply(req, 403, "Forbidden", NULL, NULL, NULL);
        }
        return;
    }
    if (sip->sip_authorization || sip->sip_proxy_authorization) {
        ep_reply(req, 403, "Forbidden", NULL, NULL, NULL);
        return;
    }
    /* a fresh random nonce that is never stored: no response to it can ever verify */
    unsigned char rnd[16];
    char nonce[33];
    apr_generate_random_bytes(rnd, sizeof rnd);
    for (int i = 0; i < 16; i++)
        apr_snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
    const char *realm = sip->sip_request->rq_url->url_host ? sip->sip_request->rq_url->url_host : req->local_ip;
    const char *hdr = apr_psprintf(req->pool,
                                   "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5, "
                                   "qop=\"auth\"\r\n",
                                   realm, nonce);
    ep_reply(req, 401, "Unauthorized", hdr, NULL, NULL);
}
