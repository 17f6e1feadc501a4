/*
 * mxgate queue [-c FILE]: lists the messages in the spool, as mailq does:
 * one line each, "ID SIZE <FROM> N/M delivered" (copies made of M), then
 * a count. Reads the slots without changing anything, so
 * it is safe while the server runs. Exit 0, 1 when the spool cannot be
 * read, 2 for bad usage or configuration.
 */
#include <getopt.h>
#include <stdio.h>

#include "base/span.h"
#include "cmd.h"
#include "conf/conf.h"
#include "spool/spool.h"

static void
print_message(void *arg, const struct spool_file_info *info, size_t done)
{
	(void)arg;
	printf("%.*s %llu <%.*s> %zu/%zu delivered\n", (int)info->id.len,
	    info->id.p, (unsigned long long)info->body_len,
	    (int)info->mail_from.len, info->mail_from.p, done,
	    info->rcpt_count);
}

int
cmd_queue(int argc, char **argv)
{
	const char *file = NULL;
	struct config *conf;
	char err[512];
	int opt, rc;

	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c')
			goto usage;
		file = optarg;
	}
	if (optind != argc)
		goto usage;
	conf = file ? conf_load(file, err, sizeof err) :
	    conf_default(err, sizeof err);
	if (!conf) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	rc = spool_list(conf->spool, print_message, NULL);
	if (rc < 0)
		fprintf(stderr, "mxgate: no spool in %s\n", conf->spool);
	else
		printf("%d message%s queued\n", rc, rc == 1 ? "" : "s");
	conf_free(conf);
	return rc < 0 ? 1 : 0;
usage:
	fprintf(stderr, "usage: mxgate queue [-c FILE]\n");
	return 2;
}
