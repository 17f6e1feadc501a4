/*
 * mxgate queue [-c FILE] [ID]: lists the messages in the spool, as mailq
 * does: one line each, "ID SIZE <FROM> N/M delivered" (copies made of M),
 * then a count. With ID, shows that message, as postcat -q does: its
 * envelope (client, sender, each recipient and whether its copy is done),
 * a blank line, then the header fields and body as spooled. Reads the
 * slots without changing anything, so it is safe while the server runs.
 * Exit 0, 1 when the spool cannot be read or ID is not queued, 2 for bad
 * usage or configuration.
 */
#include <getopt.h>
#include <stdio.h>

#include "base/err.h"
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

/* The envelope, a blank line, the message as it was spooled. */
static void
show_message(const struct spool_queued *q)
{
	const struct spool_file_info *info = spool_queued_info(q);
	size_t i;

	printf("Queue-ID: %.*s\nClient: [%.*s] helo=%.*s\nSender: <%.*s>\n",
	    (int)info->id.len, info->id.p, (int)info->client_ip.len,
	    info->client_ip.p, (int)info->helo.len, info->helo.p,
	    (int)info->mail_from.len, info->mail_from.p);
	for (i = 0; i < info->rcpt_count; i++) {
		struct span r = spool_queued_rcpt(q, i);

		printf("Recipient: <%.*s> %s\n", (int)r.len, r.p,
		    spool_queued_is_done(q, i) ? "delivered" : "pending");
	}
	printf("\n");
	fwrite(info->headers.p, 1, info->headers.len, stdout);
	for (i = 0; i < info->body_chunks; i++) {
		struct span b = spool_queued_body(q, i);

		fwrite(b.p, 1, b.len, stdout);
	}
}

int
cmd_queue(int argc, char **argv)
{
	struct config *conf = cmd_config_arg(argc, argv,
	    "queue [-c FILE] [ID]", false, 1);
	struct spool_queued *q;
	int rc;

	if (!conf)
		return 2;
	if (optind < argc) {
		rc = spool_queued_read(conf->spool, argv[optind], &q);
		if (rc == 0) {
			show_message(q);
			spool_queued_close(q);
		} else if (rc == ERR_NOTFOUND) {
			fprintf(stderr, "mxgate: no queued message %s in %s\n",
			    argv[optind], conf->spool);
		} else {
			fprintf(stderr, "mxgate: queued message %s in %s: %s\n",
			    argv[optind], conf->spool, err_str(rc));
		}
	} else {
		rc = spool_list(conf->spool, print_message, NULL);
		if (rc < 0)
			fprintf(stderr, "mxgate: no spool in %s\n",
			    conf->spool);
		else
			printf("%d message%s queued\n", rc,
			    rc == 1 ? "" : "s");
	}
	conf_free(conf);
	return rc < 0 ? 1 : 0;
}
