/*
 * ep_route.h — pure helpers of the proxy (ep_proxy.c), unit-tested: is a URI this profile,
 * a route set string split into its entries, a URI's transport, is a Contact the source.
 */
#ifndef EP_ROUTE_H
#define EP_ROUTE_H

#include <stddef.h> /* no other dependencies: plain strings */

/** 1 if host @p h (possibly "[v6]") is the numeric address @p ip. */
int ep_route_host_eq(const char *h, const char *ip);
/**
 * 1 if @p host:@p port (port NULL: the scheme's default, 5061 when @p secure) is this profile:
 * its sip-ip with its SIP or TLS port.
 */
int ep_route_is_local(const char *host, const char *port, int secure, const char *sip_ip, int sip_port, int tls_port);
/**
 * 1 if a URI with host @p host and port @p port (NULL: 5060, or 5061 when @p secure) names the
 * numeric address @p ip : @p ip_port, e.g. a caller's Contact that is where its request came
 * from; 0 when it names anything else (a NAT'd phone's private address, a host name).
 */
int ep_route_uri_is_source(const char *host, const char *port, int secure, const char *ip, unsigned ip_port);
/**
 * Split a route set "<sip:a;lr>, <sip:b;lr>" in place at the commas outside <...>; entries
 * are trimmed of leading blanks, empty ones skipped. Returns how many (at most @p max), or -1
 * when there are more than @p max or the brackets do not balance.
 */
int ep_route_set_split(char *set, char **items, int max);
/**
 * The transport @p uri ("sip:h;transport=TCP", optionally in <...>) asks for, lower case, into
 * @p out: its transport parameter, else "tls" for sips:, else "udp". 0, or -1 when it does not
 * fit in @p n bytes (or an empty transport).
 */
int ep_route_transport(const char *uri, char *out, size_t n);

#endif
