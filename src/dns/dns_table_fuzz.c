/*
 * libFuzzer target for the table's zone-text loader (dns_table_load), which
 * tests feed with data files: it must read only len bytes, stop at the first
 * bad line, and keep only records that parse.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static struct event_base *base;
	struct dns *table;
	char *copy;
	int rc;

	if (base == NULL)
		base = event_base_new();
	/* An exact-size copy, so ASan sees a read past the end. */
	copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	table = dns_new_table(base);
	rc = dns_table_load(table, copy, size);
	if (rc > 0)
		abort();
	free(copy);
	dns_free(table);
	return 0;
}
