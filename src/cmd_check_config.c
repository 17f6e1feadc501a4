/*
 * mxgate check-config -c FILE: loads and validates the configuration the
 * way serve would (including the TLS certificate and key), prints "ok" or
 * the first error as FILE:LINE: message. Exit 0 or 2.
 */
#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "conf/conf.h"
#include "smtp/smtp.h"

int
cmd_check_config(int argc, char **argv)
{
	const char *file = NULL;
	struct config *conf;
	char err[512];
	int opt;

	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c')
			goto usage;
		file = optarg;
	}
	if (!file || optind != argc)
		goto usage;
	conf = conf_load(file, err, sizeof err);
	if (!conf) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (smtp_tls_check(conf, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", file, err);
		conf_free(conf);
		return 2;
	}
	printf("%s: ok (%zu domain%s, %zu listener%s)\n", file,
	    conf->domain_count, conf->domain_count == 1 ? "" : "s",
	    conf->listen_count, conf->listen_count == 1 ? "" : "s");
	conf_free(conf);
	return 0;
usage:
	fprintf(stderr, "usage: mxgate check-config -c FILE\n");
	return 2;
}
