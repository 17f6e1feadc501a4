#include "policy/policy.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static void
reply_set(struct policy_reply *out, enum policy_verdict verdict, int code,
    const char *enhanced, const char *reason)
{
	out->verdict = verdict;
	out->code = code;
	out->enhanced = enhanced;
	out->reason = reason;
	out->text[0] = '\0';
}

void
policy_client_init(struct policy_client *c, const struct sockaddr *sa,
    bool trusted)
{
	bool ipv6 = false;

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		/* A dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d. */
		ipv6 = !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr);
	}
	c->anonymous_ipv6 = ipv6 && !trusted;
	iprev_addr_text(sa, c->ip, sizeof c->ip);
}

bool
policy_rcpt_needs_ptr(const struct policy_client *c,
    const struct conf_domain *dom)
{
	return c->anonymous_ipv6 && dom != NULL && dom->ipv6_anonymous;
}

void
policy_rcpt(const struct policy_client *c, const struct conf_domain *dom,
    const char *domain, enum policy_ptr ptr, struct policy_reply *out)
{
	if (dom == NULL) {
		reply_set(out, POLICY_REJECT, 550, "5.7.1", "relay");
		snprintf(out->text, sizeof out->text, "Relay access denied");
		return;
	}
	if (!c->anonymous_ipv6) {
		reply_set(out, POLICY_ACCEPT, 250, "2.1.5", "ok");
		snprintf(out->text, sizeof out->text, "Ok");
		return;
	}
	if (!dom->ipv6_anonymous) {
		reply_set(out, POLICY_REJECT, 550, "5.2.1", "not_opted_in");
		snprintf(out->text, sizeof out->text,
		    "Service unavailable, [%s] does not accept email over "
		    "IPv6.", domain);
		return;
	}
	switch (ptr) {
	case POLICY_PTR_VALID:
		reply_set(out, POLICY_ACCEPT, 250, "2.1.5", "ok");
		snprintf(out->text, sizeof out->text, "Ok");
		break;
	case POLICY_PTR_MISSING:
		reply_set(out, POLICY_TEMPFAIL, 450, "4.7.25", "no_ptr");
		snprintf(out->text, sizeof out->text,
		    "Service unavailable, sending IPv6 address [%s] must have "
		    "reverse DNS record.", c->ip);
		break;
	case POLICY_PTR_TEMPFAIL:
		/* Never a 5xx and never a pass on a DNS failure. */
		reply_set(out, POLICY_TEMPFAIL, 450, "4.4.3", "ptr_dns_error");
		snprintf(out->text, sizeof out->text,
		    "Temporary DNS failure looking up reverse DNS of [%s], "
		    "try again later", c->ip);
		break;
	}
}

void
policy_data(const struct policy_client *c, const struct policy_auth *a,
    struct policy_reply *out)
{
	if (!c->anonymous_ipv6 || a->spf_pass || a->dkim_pass) {
		reply_set(out, POLICY_ACCEPT, 250, "2.0.0", "ok");
		snprintf(out->text, sizeof out->text, "Ok");
		return;
	}
	if (a->spf_temperror || a->dkim_temperror) {
		reply_set(out, POLICY_TEMPFAIL, 451, "4.4.3", "auth_dns_error");
		snprintf(out->text, sizeof out->text,
		    "Temporary DNS failure checking SPF or DKIM for [%s], "
		    "try again later", c->ip);
		return;
	}
	reply_set(out, POLICY_TEMPFAIL, 450, "4.7.26", "no_spf_dkim_pass");
	snprintf(out->text, sizeof out->text,
	    "Service unavailable, message sent over IPv6 [%s] must pass either "
	    "SPF or DKIM validation.", c->ip);
}
