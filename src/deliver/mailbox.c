#include "deliver/deliver.h"

#include <string.h>

#include "base/ascii.h"
#include "base/err.h"
#include "base/utf8.h"

/*
 * The name becomes one path component under the domain's Maildir, so
 * anything that could climb out of it or hide it ('/', "..", a leading dot)
 * is refused, and so is anything a shell or a log would mangle: controls,
 * including the C1 ones, and bytes that are not well-formed UTF-8. UTF-8
 * itself is taken (RFC 6531: we offer SMTPUTF8). Lower casing of ASCII
 * letters makes "Bob" and "bob" one mailbox, as users expect even though
 * RFC 5321 2.4 lets a server treat them apart.
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
		const unsigned char *u = (const unsigned char *)p + i;
		size_t n;

		if (*u >= 0x80) {
			n = utf8_seq(u, len - i);
			/* U+0080..U+009F: C1 controls. */
			if (n == 0 || (u[0] == 0xc2 && u[1] < 0xa0))
				return ERR_SYNTAX;
			memcpy(out + i, u, n);
			i += n - 1;
			continue;
		}
		if (*u <= 0x20 || *u == 0x7f || *u == '/')
			return ERR_SYNTAX;
		if (*u == '.' && i > 0 && p[i - 1] == '.')
			return ERR_SYNTAX;
		out[i] = (char)ascii_lower(*u);
	}
	out[len] = '\0';
	return 0;
}
