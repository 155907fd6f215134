/*
 * reg_events.c — registrar events (SPEC §9), fired from mod_location's change
 * notifications, i.e. after the change is durable, exactly once per contact change.
 *
 * Header names follow FreeSWITCH's sofia::register family, including its quirk that
 * from-user/from-host carry the AOR (To) and to-user/to-host the From; `aor` states the
 * AOR plainly. Headers without a value are left out (aorta_event_add_header skips them).
 */
#include "reg_internal.h"
#include <apr_strings.h>

static void add_int(aorta_event_t *ev, const char *name, long v)
{
    aorta_event_add_header_printf(ev, name, "%ld", v);
}

void reg_events_change(const loc_change_t *ch, void *user)
{
    const loc_contact_t *c = ch->contact;
    const reg_ctx_t *x = ch->ctx;
    const char *sub, *type = NULL, *reason = NULL;
    aorta_event_t *ev;
    long expires = 0;

    /* ≈ 30 header strings per event: at 20k REGISTER/s, a tenth of the CPU for nobody */
    if (!aorta_event_wanted(AORTA_EVENT_CUSTOM))
        return;
    if (ch->kind == LOC_CHANGE_REMOVE) {
        if (ch->reason == LOC_REASON_EXPIRED) {
            sub = "registrar::expire";
            reason = "expired";
        } else {
            sub = "registrar::unregister";
            reason = ch->reason == LOC_REASON_REPLACED ? "replaced" : ch->reason == LOC_REASON_ADMIN ? "admin" : "client";
        }
    } else {
        sub = "registrar::register";
        type = ch->kind == LOC_CHANGE_NEW ? "new" : "refresh";
        apr_time_t left = c->expires - c->registered;
        expires = (long)((left + APR_USEC_PER_SEC / 2) / APR_USEC_PER_SEC);
    }
    if (aorta_event_create_subclass(&ev, sub) != APR_SUCCESS)
        return;
    aorta_event_add_header(ev, "profile-name", c->profile);
    aorta_event_add_header(ev, "endpoint", c->endpoint);
    aorta_event_add_header(ev, "aor", c->aor);
    aorta_event_add_header(ev, "contact", c->uri);
    add_int(ev, "expires", expires);
    aorta_event_add_header(ev, "call-id", c->call_id);
    aorta_event_add_header(ev, "user-agent", c->user_agent);
    aorta_event_add_header(ev, "network-ip", c->src_ip);
    if (c->src_ip)
        add_int(ev, "network-port", c->src_port);
    aorta_event_add_header(ev, "network-proto", c->transport);
    /* FreeSWITCH compatibility: from-* = the AOR (To), to-* = the From */
    aorta_event_add_header(ev, "from-user", x ? x->from_user : c->aor);
    aorta_event_add_header(ev, "from-host", x ? x->from_host : NULL);
    aorta_event_add_header(ev, "to-user", x ? x->to_user : NULL);
    aorta_event_add_header(ev, "to-host", x ? x->to_host : NULL);
    aorta_event_add_header(ev, "username", x ? x->username : NULL);
    aorta_event_add_header(ev, "realm", x ? x->realm : NULL);
    aorta_event_add_header(ev, "path", c->path);
    aorta_event_add_header(ev, "instance-id", c->instance);
    aorta_event_add_header(ev, "reg-id", c->reg_id);
    add_int(ev, "contact-count", ch->contact_count);
    /* the node that made the change: with a shared (pgsql) location every node fires it */
    aorta_event_add_header(ev, "origin-node", ch->origin ? ch->origin : aorta_core_switchname());
    aorta_event_add_header(ev, "registration-type", type);
    aorta_event_add_header(ev, "reason", reason);
    aorta_event_fire(&ev);
}

void reg_events_failure(const reg_ctx_t *x, reg_outcome_t o)
{
    const reg_outcome_info_t *info = reg_outcome_info(o);
    aorta_event_t *ev;
    if (!info->failure_event || aorta_event_create_subclass(&ev, "registrar::register_failure") != APR_SUCCESS)
        return;
    aorta_event_add_header(ev, "profile-name", x->profile);
    aorta_event_add_header(ev, "endpoint", x->endpoint);
    aorta_event_add_header(ev, "aor", x->aor);
    aorta_event_add_header(ev, "contact", x->contact);
    aorta_event_add_header(ev, "call-id", x->call_id);
    aorta_event_add_header(ev, "user-agent", x->user_agent);
    aorta_event_add_header(ev, "network-ip", x->network_ip);
    if (x->network_ip)
        add_int(ev, "network-port", x->network_port);
    aorta_event_add_header(ev, "network-proto", x->network_proto);
    aorta_event_add_header(ev, "from-user", x->from_user);
    aorta_event_add_header(ev, "from-host", x->from_host);
    aorta_event_add_header(ev, "to-user", x->to_user);
    aorta_event_add_header(ev, "to-host", x->to_host);
    aorta_event_add_header(ev, "username", x->username);
    aorta_event_add_header(ev, "realm", x->realm);
    aorta_event_add_header(ev, "registration-type", "REGISTER");
    add_int(ev, "status-code", info->status);
    aorta_event_add_header(ev, "reason", info->reason);
    aorta_event_fire(&ev);
}
