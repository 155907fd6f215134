/*
 * esl_acl.c — inbound address checks for the event socket (see esl_acl.h).
 */
#include "esl_acl.h"

#include <apr_lib.h>
#include <apr_network_io.h>
#include <apr_strings.h>
#include <string.h>

/* A full dotted quad: apr_ipsubnet_create would also take "10.1" as a network prefix. */
static int esl_acl_is_quad(const char *ip)
{
    int dots = 0;
    for (; *ip; ip++) {
        if (*ip == '.')
            dots++;
        else if (!apr_isdigit(*ip))
            return 0;
    }
    return dots == 3;
}

struct esl_acl {
    apr_array_header_t *nets; /* apr_ipsub_t * */
};

apr_status_t esl_acl_parse(const apr_array_header_t *entries, apr_pool_t *pool, esl_acl_t **out, const char **bad)
{
    esl_acl_t *acl = apr_pcalloc(pool, sizeof(*acl));
    int i;

    acl->nets = apr_array_make(pool, entries ? entries->nelts : 0, sizeof(apr_ipsubnet_t *));
    for (i = 0; entries && i < entries->nelts; i++) {
        const char *e = APR_ARRAY_IDX(entries, i, const char *);
        char *ip = apr_pstrdup(pool, e), *mask = strchr(ip, '/');
        apr_ipsubnet_t *net = NULL;
        if (*ip == '\0')
            continue;
        if (mask)
            *mask++ = '\0';
        if ((!strchr(ip, ':') && !esl_acl_is_quad(ip)) || (mask && !*mask) ||
            apr_ipsubnet_create(&net, ip, mask, pool) != APR_SUCCESS) {
            if (bad)
                *bad = e;
            return AORTA_ESYNTAX;
        }
        APR_ARRAY_PUSH(acl->nets, apr_ipsubnet_t *) = net;
    }
    *out = acl;
    return APR_SUCCESS;
}

int esl_acl_count(const esl_acl_t *acl)
{
    return acl ? acl->nets->nelts : 0;
}

int esl_acl_allows(const esl_acl_t *acl, const char *ip, apr_pool_t *scratch)
{
    apr_sockaddr_t *sa = NULL;
    int i;

    if (!acl || acl->nets->nelts == 0)
        return 1;
    if (strncasecmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.'))
        ip += 7;
    if (apr_sockaddr_info_get(&sa, ip, APR_UNSPEC, 0, APR_IPV4_ADDR_OK, scratch) != APR_SUCCESS || !sa)
        return 0;
    for (i = 0; i < acl->nets->nelts; i++)
        if (apr_ipsubnet_test(APR_ARRAY_IDX(acl->nets, i, apr_ipsubnet_t *), sa))
            return 1;
    return 0;
}
