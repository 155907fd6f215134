/*
 * ep_route.c — pure helpers of the proxy: is a Route / Via this profile, route-set
 * splitting, the transport a URI asks for (double Record-Route, RFC 5658), and whether a
 * Contact is where its request came from (NAT). No state;
 * unit-tested in tests/unit/mod_endpoints/check_ep_route.c.
 */
#include "ep_route.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ep_route_host_eq(const char *h, const char *ip)
{
    if (!h || !ip)
        return 0;
    if (*h == '[') {
        size_t n = strlen(ip);
        return !strncasecmp(h + 1, ip, n) && h[n + 1] == ']' && !h[n + 2];
    }
    return !strcasecmp(h, ip);
}

int ep_route_is_local(const char *host, const char *port, int secure, const char *sip_ip, int sip_port, int tls_port)
{
    if (!ep_route_host_eq(host, sip_ip))
        return 0;
    int p = port && *port ? atoi(port) : (secure ? 5061 : 5060);
    return p == sip_port || p == tls_port;
}

int ep_route_uri_is_source(const char *host, const char *port, int secure, const char *ip, unsigned ip_port)
{
    if (!ep_route_host_eq(host, ip))
        return 0;
    unsigned p = port && *port ? (unsigned)atoi(port) : (secure ? 5061u : 5060u);
    return p == ip_port;
}

int ep_route_set_split(char *s, char **items, int max)
{
    int n = 0, depth = 0;
    char *start = s;
    for (;; s++) {
        if (*s == '<')
            depth++;
        else if (*s == '>' && --depth < 0)
            return -1;
        if ((*s == ',' && depth == 0) || !*s) {
            int end = !*s;
            if (end && depth)
                return -1;
            *s = '\0';
            while (*start == ' ' || *start == '\t')
                start++;
            if (*start) {
                if (n == max)
                    return -1;
                items[n++] = start;
            }
            if (end)
                return n;
            start = s + 1;
        }
    }
}

int ep_route_transport(const char *uri, char *out, size_t n)
{
    if (!uri || !out || n < 4)
        return -1;
    while (*uri == ' ' || *uri == '<')
        uri++;
    const char *end = uri + strcspn(uri, ">?,");
    for (const char *q = uri; q && q < end; q = strchr(q + 1, ';')) {
        if (*q == ';' && !strncasecmp(q, ";transport=", 11)) {
            const char *v = q + 11;
            size_t len = strcspn(v, ";>?, \t");
            if (!len || len >= n || v + len > end)
                return -1;
            for (size_t i = 0; i < len; i++)
                out[i] = (char)tolower((unsigned char)v[i]);
            out[len] = '\0';
            return 0;
        }
    }
    strcpy(out, !strncasecmp(uri, "sips:", 5) ? "tls" : "udp");
    return 0;
}
