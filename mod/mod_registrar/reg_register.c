/*
 * reg_register.c — the REGISTER method service (RFC 3261 §10.3 + SPEC §7) and the
 * challenger for requests that matched no endpoint.
 *
 * Order of checks, as §10.3 lays them out: Require (420) → authentication (401/403) →
 * the AOR (403/404) → Path support (420) → contacts (400 for a bad `*`, 423 below
 * min-expires) → Call-ID/CSeq (500) → max-contacts (403, or remove-existing evicts) →
 * the edit is committed to the location and the 200 OK is sent from the commit's done
 * callback, i.e. after the change is durable. REGISTERs of one AOR arrive serialized
 * (mod_endpoints keys them by To user); the location editor holds the AOR's stripe while
 * the bindings are computed, so the expiry timer and admin commands cannot interleave.
 *
 * The request's parsed message is read-only and private to us until the final reply;
 * values that outlive this function are copied into req->pool.
 */
#include "reg_internal.h"
#include <apr_atomic.h>
#include <apr_strings.h>
#include <sofia-sip/auth_digest.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>
#include <string.h>
#include <strings.h>

typedef struct reg_job {
    reg_t *reg;
    ep_request_t *req;
    reg_ctx_t *ctx;
    const char *path;   /* Path to echo in the 200 OK */
} reg_job_t;

/* ---- replies ------------------------------------------------------------------------- */

static const char *challenge_headers(reg_t *reg, const reg_profile_t *prof, int stale, apr_pool_t *pool)
{
    char nonce[REG_NONCE_LEN + 1];
    const char *h = "";
    reg_nonce_make(reg->mac, prof->realm, apr_time_now(), nonce);
    /* one nonce for every algorithm: clients that read only the first challenge's nonce work */
    for (int i = 0; i < prof->algorithms->nelts; i++)
        h = apr_psprintf(pool, "%sWWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", algorithm=%s, qop=\"auth\"%s\r\n",
                         h, prof->realm, nonce, APR_ARRAY_IDX(prof->algorithms, i, const char *),
                         stale ? ", stale=true" : "");
    return h;
}

static void reply_outcome(reg_t *reg, ep_request_t *req, const reg_profile_t *prof, reg_outcome_t o, const char *extra,
                          reg_ctx_t *x)
{
    const reg_outcome_info_t *info = reg_outcome_info(o);
    const char *h = extra ? extra : "";
    if (o == REG_CHALLENGE || o == REG_STALE || o == REG_BAD_NONCE)
        h = apr_pstrcat(req->pool, h, challenge_headers(reg, prof, o == REG_STALE, req->pool), NULL);
    else if (o == REG_OUT_OF_ORDER)
        h = apr_pstrcat(req->pool, h, "Retry-After: 1\r\n", NULL);
    else if (o == REG_STORE_FAILED)
        h = apr_pstrcat(req->pool, h, "Retry-After: 5\r\n", NULL);
    aorta_log(info->level, "REGISTER %s@%s from %s:%u (%s): %d %s%s%s", x->aor ? x->aor : "-",
              x->from_host ? x->from_host : "-", req->src_ip, req->src_port, x->endpoint ? x->endpoint : "unidentified",
              info->status, info->phrase, info->reason ? " — " : "", info->reason ? info->reason : "");
    reg_events_failure(x, o);
    reg->ep->reply(req, info->status, info->phrase, *h ? h : NULL, NULL, NULL);
}

static const char *ok_headers(const loc_contact_t *const *v, int n, const char *path, apr_pool_t *pool)
{
    apr_time_t now = apr_time_now();
    char date[APR_RFC822_DATE_LEN];
    const char **parts = apr_pcalloc(pool, sizeof(char *) * (size_t)(n + 3));
    int k = 0;
    for (int i = 0; i < n; i++) {
        apr_time_t left = v[i]->expires - now;
        long secs = left > 0 ? (long)((left + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC) : 0;
        parts[k++] = apr_psprintf(pool, "Contact: <%s>%s%s;expires=%ld\r\n", v[i]->uri, v[i]->params ? ";" : "",
                                  v[i]->params ? v[i]->params : "", secs);
    }
    if (path)
        parts[k++] = apr_pstrcat(pool, "Path: ", path, "\r\nSupported: path\r\n", NULL);
    apr_rfc822_date(date, now);
    parts[k++] = apr_pstrcat(pool, "Date: ", date, "\r\n", NULL);
    apr_size_t len = 0;
    for (int i = 0; i < k; i++)
        len += strlen(parts[i]);
    char *out = apr_palloc(pool, len + 1), *o = out;
    for (int i = 0; i < k; i++) {
        apr_size_t l = strlen(parts[i]);
        memcpy(o, parts[i], l);
        o += l;
    }
    *o = 0;
    return out;
}

static void reg_done(apr_status_t st, const loc_contact_t *const *v, int n, void *user)
{
    reg_job_t *job = user;
    reg_t *reg = job->reg;
    ep_request_t *req = job->req;
    if (st != APR_SUCCESS) {
        const reg_outcome_info_t *info = reg_outcome_info(REG_STORE_FAILED);
        aorta_log(info->level, "REGISTER %s from %s:%u: store commit failed, answering %d", job->ctx->aor, req->src_ip,
                  req->src_port, info->status);
        reg_events_failure(job->ctx, REG_STORE_FAILED);
        reg->ep->reply(req, info->status, info->phrase, "Retry-After: 5\r\n", NULL, NULL);
    } else {
        reg->ep->reply(req, 200, "OK", ok_headers(v, n, job->path, req->pool), NULL, NULL);
    }
    apr_atomic_dec32(&reg->inflight);
}

/* ---- request context ------------------------------------------------------------------ */

static const char *sdup(apr_pool_t *p, const char *s)
{
    return s && *s ? apr_pstrdup(p, s) : NULL;
}

static reg_ctx_t *ctx_make(ep_request_t *req, const reg_profile_t *prof, su_home_t *home)
{
    const sip_t *sip = req->sip;
    reg_ctx_t *x = apr_pcalloc(req->pool, sizeof *x);
    x->profile = req->profile;
    x->endpoint = req->endpoint ? req->endpoint->name : NULL;
    if (sip->sip_to) {
        x->aor = sdup(req->pool, sip->sip_to->a_url->url_user);
        x->from_user = x->aor; /* FreeSWITCH naming: from-* carry the AOR */
        x->from_host = sdup(req->pool, sip->sip_to->a_url->url_host);
    }
    if (sip->sip_from) {
        x->to_user = sdup(req->pool, sip->sip_from->a_url->url_user);
        x->to_host = sdup(req->pool, sip->sip_from->a_url->url_host);
    }
    x->realm = prof ? prof->realm : NULL;
    x->network_ip = req->src_ip;
    x->network_port = req->src_port;
    x->network_proto = req->transport;
    x->user_agent = sip->sip_user_agent ? sdup(req->pool, sip->sip_user_agent->g_string) : NULL;
    x->call_id = sip->sip_call_id ? sdup(req->pool, sip->sip_call_id->i_id) : NULL;
    if (sip->sip_contact && sip->sip_contact->m_url->url_type != url_any)
        x->contact = sdup(req->pool, url_as_string(home, sip->sip_contact->m_url));
    else if (sip->sip_contact)
        x->contact = "*";
    return x;
}

/* ---- authentication ------------------------------------------------------------------- */

typedef enum { AUTH_NONE, AUTH_BAD_NONCE, AUTH_STALE, AUTH_CHECK } auth_stage_t;

/* Find and parse the credentials for our realm; say how far the nonce got. */
static auth_stage_t auth_parse(reg_t *reg, const ep_request_t *req, const reg_profile_t *prof, su_home_t *home,
                               auth_response_t *ar, reg_nonce_state_t *ns)
{
    for (const sip_authorization_t *au = req->sip->sip_authorization; au; au = au->au_next) {
        if (!au->au_scheme || strcasecmp(au->au_scheme, "Digest"))
            continue;
        memset(ar, 0, sizeof *ar);
        ar->ar_size = sizeof *ar;
        if (auth_digest_response_get(home, ar, au->au_params) < 0)
            continue;
        if (!ar->ar_realm || strcmp(ar->ar_realm, prof->realm))
            continue;
        *ns = reg_nonce_check(reg->mac, prof->realm, ar->ar_nonce, apr_time_now(), prof->nonce_ttl);
        return *ns == REG_NONCE_INVALID ? AUTH_BAD_NONCE : AUTH_CHECK;
    }
    return AUTH_NONE;
}

static int alg_allowed(const reg_profile_t *prof, reg_alg_t alg)
{
    for (int i = 0; i < prof->algorithms->nelts; i++)
        if (reg_alg_parse(APR_ARRAY_IDX(prof->algorithms, i, const char *)) == alg)
            return 1;
    return 0;
}

static reg_outcome_t auth_check(reg_t *reg, ep_request_t *req, const reg_profile_t *prof, const ep_auth_t *auth,
                                reg_ctx_t *x, su_home_t *home)
{
    auth_response_t ar;
    reg_nonce_state_t ns = REG_NONCE_INVALID;
    auth_stage_t stage = auth_parse(reg, req, prof, home, &ar, &ns);
    if (stage == AUTH_NONE)
        return REG_CHALLENGE;
    if (stage == AUTH_BAD_NONCE)
        return REG_BAD_NONCE;
    x->username = sdup(req->pool, ar.ar_username);
    reg_alg_t alg = reg_alg_parse(ar.ar_algorithm);
    if (alg == REG_ALG_UNKNOWN || !alg_allowed(prof, alg))
        return REG_CHALLENGE;
    if (!ar.ar_username || !auth->username || strcmp(ar.ar_username, auth->username) || !ar.ar_response)
        return REG_AUTH_FAILED;
    char ha1[REG_HEX_MAX], expect[REG_HEX_MAX];
    if (auth->password)
        reg_digest_ha1(alg, auth->username, prof->realm, auth->password, ha1);
    else if (alg == REG_ALG_MD5 && auth->ha1)
        apr_cpystrn(ha1, auth->ha1, sizeof ha1);
    else if (alg == REG_ALG_SHA256 && auth->ha1_sha256)
        apr_cpystrn(ha1, auth->ha1_sha256, sizeof ha1);
    else
        return REG_AUTH_FAILED; /* no secret for this algorithm */
    const char *qop = ar.ar_qop ? "auth" : NULL;
    if (qop && (!ar.ar_nc || !ar.ar_cnonce))
        return REG_AUTH_FAILED;
    reg_digest_response(alg, ha1, ar.ar_nonce, ar.ar_nc, ar.ar_cnonce, qop, "REGISTER", ar.ar_uri, expect);
    if (strcasecmp(expect, ar.ar_response))
        return REG_AUTH_FAILED;
    if (ns == REG_NONCE_STALE)
        return REG_STALE;
    if (qop && !reg_nc_accept(reg->nc, ar.ar_nonce, ar.ar_nc, apr_time_now()))
        return REG_STALE; /* a replayed nonce-count: make the client start over with a new nonce */
    return REG_OK;
}

void reg_register_challenge(ep_request_t *req, void *user)
{
    reg_t *reg = user;
    aorta_config_gen_t *gen = NULL;
    const reg_conf_t *conf = aorta_module_config_acquire(reg->mod, &gen);
    const reg_profile_t *prof = reg_conf_profile(conf, req->profile);
    su_home_t home[1] = {SU_HOME_INIT(home)};
    reg_ctx_t *x = ctx_make(req, prof, home);
    auth_response_t ar;
    reg_nonce_state_t ns;
    reg_outcome_t o;
    /* the same answers a known user with a wrong password gets, whatever the credentials */
    switch (auth_parse(reg, req, prof, home, &ar, &ns)) {
    case AUTH_NONE:
        o = REG_CHALLENGE;
        break;
    case AUTH_BAD_NONCE:
        o = REG_BAD_NONCE;
        break;
    default:
        x->username = sdup(req->pool, ar.ar_username);
        o = ns == REG_NONCE_STALE ? REG_STALE : REG_UNIDENTIFIED;
    }
    reply_outcome(reg, req, prof, o, NULL, x);
    su_home_deinit(home);
    aorta_module_config_release(gen);
}

/* ---- bindings ------------------------------------------------------------------------- */

static const char *contact_params(const sip_contact_t *m, apr_pool_t *pool)
{
    const char *out = NULL;
    for (int i = 0; m->m_params && m->m_params[i]; i++) {
        const char *p = m->m_params[i];
        if (!strncasecmp(p, "expires", 7) && (p[7] == '=' || !p[7]))
            continue;
        out = out ? apr_pstrcat(pool, out, ";", p, NULL) : apr_pstrdup(pool, p);
    }
    return out;
}

static const char *unquote(const char *s, apr_pool_t *pool)
{
    if (!s)
        return NULL;
    apr_size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
        return apr_pstrndup(pool, s + 1, n - 2);
    return apr_pstrdup(pool, s);
}

static const char *path_string(const sip_t *sip, su_home_t *home, apr_pool_t *pool)
{
    const char *out = NULL;
    for (const sip_path_t *r = sip->sip_path; r; r = r->r_next) {
        const char *one = apr_pstrcat(pool, "<", url_as_string(home, r->r_url), ">", NULL);
        for (int i = 0; r->r_params && r->r_params[i]; i++)
            one = apr_pstrcat(pool, one, ";", r->r_params[i], NULL);
        out = out ? apr_pstrcat(pool, out, ",", one, NULL) : one;
    }
    return out;
}

static int was_touched(const loc_contact_t **t, int n, const loc_contact_t *c)
{
    for (int i = 0; i < n; i++)
        if (t[i] == c)
            return 1;
    return 0;
}

/*
 * Compute and stage the new bindings of the AOR in @p ed. Returns REG_OK with the edit
 * staged, or the outcome that refuses the request (the caller aborts the edit).
 */
static reg_outcome_t stage_bindings(ep_request_t *req, const loc_api_t *loc, loc_editor_t *ed,
                                    const loc_aor_conf_t *ac, const reg_limits_t *lim, const char *path,
                                    su_home_t *home, const char **extra)
{
    const sip_t *sip = req->sip;
    int ncur;
    const loc_contact_t *const *cur = loc->edit_contacts(ed, &ncur);
    const char *call_id = sip->sip_call_id->i_id;
    apr_uint32_t cseq = sip->sip_cseq->cs_seq;
    long header = sip->sip_expires ? (long)sip->sip_expires->ex_delta : -1;
    const loc_contact_t **touched = apr_pcalloc(req->pool, sizeof(*touched) * (size_t)(ncur + 1));
    int ntouched = 0, count = ncur;
    apr_time_t now = apr_time_now();

    if (sip->sip_contact->m_url->url_type == url_any) {
        /* Contact: * (already validated: alone, Expires: 0) */
        for (int i = 0; i < ncur; i++)
            if (cur[i]->call_id && !strcmp(cur[i]->call_id, call_id) && cseq <= cur[i]->cseq)
                return REG_OUT_OF_ORDER;
        for (int i = 0; i < ncur; i++)
            loc->edit_remove(ed, cur[i], LOC_REASON_CLIENT);
        return REG_OK;
    }

    for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
        long granted;
        reg_outcome_t o = reg_expiry_compute(m->m_expires, header, lim, &granted);
        if (o == REG_TOO_BRIEF) {
            *extra = apr_psprintf(req->pool, "Min-Expires: %d\r\n", lim->min_expires);
            return o;
        }
        const char *uri = url_as_string(home, m->m_url);
        const char *instance = unquote(msg_params_find(m->m_params, "+sip.instance="), req->pool);
        const char *reg_id = msg_params_find(m->m_params, "reg-id=");
        const loc_contact_t *old = reg_binding_match(cur, ncur, uri, instance, reg_id);
        if (old && was_touched(touched, ntouched, old))
            old = NULL; /* two Contacts of one request for the same binding: the first one wins */
        if (old && old->call_id && !strcmp(old->call_id, call_id) && cseq <= old->cseq)
            return REG_OUT_OF_ORDER;
        if (!granted) {
            if (old) {
                loc->edit_remove(ed, old, LOC_REASON_CLIENT);
                touched[ntouched++] = old;
                count--;
            }
            continue;
        }
        loc_contact_t t;
        memset(&t, 0, sizeof t);
        t.uri = uri;
        t.params = contact_params(m, req->pool);
        t.path = path;
        t.user_agent = sip->sip_user_agent ? sip->sip_user_agent->g_string : NULL;
        t.call_id = call_id;
        t.instance = instance;
        t.reg_id = reg_id;
        t.endpoint = req->endpoint->name;
        t.profile = req->profile;
        t.src_ip = req->src_ip;
        t.src_port = req->src_port;
        t.transport = req->transport;
        t.q = reg_q_parse(m->m_q);
        t.cseq = cseq;
        t.registered = now;
        t.expires = now + apr_time_from_sec(granted);
        t.qualify = old ? old->qualify : LOC_QUALIFY_UNKNOWN;
        loc->edit_put(ed, &t, old);
        if (old)
            touched[ntouched++] = old;
        else
            count++;
    }

    if (count > ac->max_contacts) {
        if (!ac->remove_existing)
            return REG_TOO_MANY;
        const loc_contact_t **cand = apr_pcalloc(req->pool, sizeof(*cand) * (size_t)(ncur + 1));
        int nc = 0;
        for (int i = 0; i < ncur; i++)
            if (!was_touched(touched, ntouched, cur[i]))
                cand[nc++] = cur[i];
        reg_sort_by_expiry(cand, nc);
        for (int i = 0; i < nc && count > ac->max_contacts; i++, count--)
            loc->edit_remove(ed, cand[i], LOC_REASON_REPLACED);
        if (count > ac->max_contacts)
            return REG_TOO_MANY;
    }
    return REG_OK;
}

/* ---- the handler ---------------------------------------------------------------------- */

static int endpoint_has_aor(const ep_endpoint_t *e, const char *aor)
{
    for (int i = 0; e->aors && i < e->aors->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(e->aors, i, const char *), aor))
            return 1;
    return 0;
}

void reg_register_handle(ep_request_t *req, void *user)
{
    reg_t *reg = user;
    const loc_api_t *loc = reg->loc;
    aorta_config_gen_t *gen = NULL, *agen = NULL;
    const reg_conf_t *conf = aorta_module_config_acquire(reg->mod, &gen);
    const reg_profile_t *prof = reg_conf_profile(conf, req->profile);
    const sip_t *sip = req->sip;
    su_home_t home[1] = {SU_HOME_INIT(home)};
    reg_ctx_t *x = ctx_make(req, prof, home);
    const loc_aor_conf_t *ac = NULL;
    const char *extra = NULL, *path = NULL;
    int require_path = 0;
    reg_outcome_t o = REG_OK;

    if (!sip->sip_to || !sip->sip_call_id || !sip->sip_cseq || !x->aor) {
        o = REG_BAD_REQUEST;
        goto refuse;
    }
    for (const sip_require_t *r = sip->sip_require; r; r = r->k_next) {
        for (int i = 0; r->k_items && r->k_items[i]; i++) {
            if (!strcasecmp(r->k_items[i], "path")) {
                require_path = 1;
            } else {
                o = REG_BAD_EXTENSION;
                extra = apr_psprintf(req->pool, "Unsupported: %s\r\n", r->k_items[i]);
                goto refuse;
            }
        }
    }
    if (req->endpoint->auth && (o = auth_check(reg, req, prof, req->endpoint->auth, x, home)) != REG_OK)
        goto refuse;
    if (!req->endpoint->aors || !req->endpoint->aors->nelts) {
        o = REG_NO_AORS;
        goto refuse;
    }
    if (!endpoint_has_aor(req->endpoint, x->aor)) {
        o = REG_AOR_NOT_ALLOWED;
        goto refuse;
    }
    if (!(ac = loc->aor_find(x->aor, &agen))) {
        o = REG_AOR_NOT_FOUND;
        goto refuse;
    }
    if (ac->max_contacts <= 0) {
        o = REG_NO_MANIPULATION;
        goto refuse;
    }
    if (require_path && !ac->support_path) {
        o = REG_PATH_UNSUPPORTED;
        extra = "Unsupported: path\r\n";
        goto refuse;
    }
    if (ac->support_path && sip->sip_path)
        path = path_string(sip, home, req->pool);

    if (!sip->sip_contact) {
        /* a query: the current bindings */
        apr_array_header_t *cs;
        int n = 0;
        loc->contacts_get(x->aor, req->pool, &cs);
        const loc_contact_t *const *v = (const loc_contact_t *const *)cs->elts;
        while (n < cs->nelts && !v[n]->is_static)
            n++;
        reg->ep->reply(req, 200, "OK", ok_headers(v, n, NULL, req->pool), NULL, NULL);
        goto out;
    }
    for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
        if (m->m_url->url_type == url_any &&
            (m != sip->sip_contact || m->m_next || !sip->sip_expires || sip->sip_expires->ex_delta != 0)) {
            o = REG_BAD_STAR;
            goto refuse;
        }
        if (m->m_url->url_type != url_any && m != sip->sip_contact && sip->sip_contact->m_url->url_type == url_any) {
            o = REG_BAD_STAR;
            goto refuse;
        }
    }

    reg_limits_t plim = {prof->min_expires, prof->max_expires, prof->default_expires}, lim;
    reg_limits_merge(&lim, &plim, ac);
    loc_editor_t *ed;
    if (loc->edit_begin(x->aor, &ed) != APR_SUCCESS) {
        o = REG_STORE_FAILED;
        goto refuse;
    }
    if ((o = stage_bindings(req, loc, ed, ac, &lim, path, home, &extra)) != REG_OK) {
        loc->edit_abort(ed);
        goto refuse;
    }
    reg_job_t *job = apr_pcalloc(req->pool, sizeof *job);
    job->reg = reg;
    job->req = req;
    job->ctx = x;
    job->path = path;
    reg->ep->hold(req);
    apr_atomic_inc32(&reg->inflight);
    loc->edit_commit(ed, x, reg_done, job);
    goto out;

refuse:
    reply_outcome(reg, req, prof, o, extra, x);
out:
    su_home_deinit(home);
    if (agen)
        aorta_module_config_release(agen);
    aorta_module_config_release(gen);
}
