#include "deliver/deliver.h"

#include "base/ascii.h"
#include "base/err.h"

/*
 * The name becomes one path component under the domain's Maildir, so
 * anything that could climb out of it or hide it ('/', "..", a leading dot)
 * is refused, and so is anything a shell or a log would mangle. Lower casing
 * makes "Bob" and "bob" one mailbox, as users expect even though RFC 5321
 * 2.4 lets a server treat them apart.
 */
int
deliver_mailbox_name(const char *p, size_t len, char *out, size_t outsz)
{
	size_t i;

	if (len == 0 || p[0] == '.')
		return ERR_SYNTAX;
	if (len > DELIVER_MAILBOX_MAX)
		return ERR_TOOLONG;
	if (outsz < len + 1)
		return ERR_TOOLONG;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c <= 0x20 || c >= 0x7f || c == '/')
			return ERR_SYNTAX;
		if (c == '.' && i > 0 && p[i - 1] == '.')
			return ERR_SYNTAX;
		out[i] = (char)ascii_lower(c);
	}
	out[len] = '\0';
	return 0;
}
