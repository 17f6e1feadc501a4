/*
 * mxgate queue [-c FILE]: lists the messages in the spool, as mailq does:
 * one line each, "ID SIZE <FROM> N/M delivered" (copies made of M), then
 * a count. Reads the slots without changing anything, so
 * it is safe while the server runs. Exit 0, 1 when the spool cannot be
 * read, 2 for bad usage or configuration.
 */
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
	struct config *conf = cmd_config_arg(argc, argv, "queue [-c FILE]",
	    false);
	int rc;

	if (!conf)
		return 2;
	rc = spool_list(conf->spool, print_message, NULL);
	if (rc < 0)
		fprintf(stderr, "mxgate: no spool in %s\n", conf->spool);
	else
		printf("%d message%s queued\n", rc, rc == 1 ? "" : "s");
	conf_free(conf);
	return rc < 0 ? 1 : 0;
}
