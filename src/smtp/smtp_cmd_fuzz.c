/*
 * Fuzz target: command line, path, MAIL parameter and HELO parsers over
 * any line; whatever they accept must be consistent.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smtp/smtp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_cmdline cl;
	struct smtp_addr a;
	struct smtp_mail_params mp;
	struct span params;
	const char *p = (const char *)data;

	if (smtp_parse_cmdline(p, size, &cl) == 0) {
		if (cl.verb.len == 0 || cl.verb.p != p)
			__builtin_trap();
		smtp_helo_valid(cl.arg);
	}
	if (smtp_parse_path(span_make(p, size), "FROM:", &a, &params) >= 0) {
		if (strlen(a.local) > SMTP_LOCAL_MAX ||
		    strlen(a.domain) > SMTP_DOMAIN_MAX ||
		    params.p < p || params.p + params.len > p + size)
			__builtin_trap();
		smtp_parse_mail_params(params, &mp);
	}
	smtp_parse_path(span_make(p, size), "TO:", &a, &params);
	return 0;
}
