/*
 * Fuzz target: the recipient local part -> Maildir directory name. The
 * name becomes a path component under the domain's directory, so whatever
 * is accepted must not be able to leave it or hide a byte from the shell
 * of an operator looking at it: ASCII without controls, or well-formed
 * UTF-8 without C1 controls.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/utf8.h"
#include "deliver/deliver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[DELIVER_MAILBOX_MAX + 1];
	size_t n, i;

	if (deliver_mailbox_name((const char *)data, size, out,
	    sizeof out) != 0)
		return 0;
	n = strlen(out);
	/* Same length: nothing dropped, nothing added. */
	if (n == 0 || n != size || n > DELIVER_MAILBOX_MAX)
		__builtin_trap();
	if (out[0] == '.' || strstr(out, "..") != NULL)
		__builtin_trap();
	for (i = 0; i < n; i++) {
		const unsigned char *u = (const unsigned char *)out + i;
		size_t len;

		if (*u >= 0x80) {
			len = utf8_seq(u, n - i);
			if (len == 0 || (u[0] == 0xc2 && u[1] < 0xa0))
				__builtin_trap();
			i += len - 1;
			continue;
		}
		if (*u <= ' ' || *u == 0x7f || *u == '/' ||
		    (*u >= 'A' && *u <= 'Z'))
			__builtin_trap();
	}
	return 0;
}
