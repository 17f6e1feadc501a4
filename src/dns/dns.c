/*
 * dns.c: the public calls, dispatched to the resolver behind them, and the
 * name checks both resolvers share.
 */
#include "dns/dns_int.h"

#include <string.h>

#include "base/ascii.h"

int
dns_name_norm(const char *p, size_t len, char *out, bool allow_root)
{
	size_t i, label = 0;

	if (len > 0 && p[len - 1] == '.')
		len--;
	if (len == 0) {
		/* "" and "." are the root; ".." fails below (empty label). */
		out[0] = '\0';
		return allow_root ? 0 : -1;
	}
	if (len > DNS_NAME_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (c < ' ' || c == 0x7f) {
			/* Labels are octets (RFC 2181 11); SPF's "%_" puts
			 * spaces in them. Control bytes are never wanted. */
			return -1;
		} else if (++label > DNS_LABEL_MAX) {
			return -1;
		}
		out[i] = (char)ascii_lower(c);
	}
	out[len] = '\0';
	return (int)len;
}

const char *
dns_type_str(enum dns_type type)
{
	switch (type) {
	case DNS_T_A:
		return "A";
	case DNS_T_CNAME:
		return "CNAME";
	case DNS_T_PTR:
		return "PTR";
	case DNS_T_MX:
		return "MX";
	case DNS_T_TXT:
		return "TXT";
	case DNS_T_AAAA:
		return "AAAA";
	}
	return "?";
}

struct dns_query *
dns_query(struct dns *dns, const char *name, enum dns_type type, dns_cb *cb,
    void *arg)
{
	char norm[DNS_NAME_MAX + 1];

	if (name == NULL || dns_name_norm(name, strlen(name), norm, false) < 0)
		return NULL;
	switch (type) {
	case DNS_T_A:
	case DNS_T_CNAME:
	case DNS_T_PTR:
	case DNS_T_MX:
	case DNS_T_TXT:
	case DNS_T_AAAA:
		break;
	default:
		return NULL;
	}
	return dns->ops->query(dns, norm, type, cb, arg);
}

void
dns_cancel(struct dns_query *q)
{
	if (q != NULL)
		q->dns->ops->cancel(q);
}

void
dns_free(struct dns *dns)
{
	if (dns != NULL)
		dns->ops->free(dns);
}
