/*
 * mxgate check-config -c FILE: loads and validates the configuration the
 * way serve would (including the TLS certificate and key), prints "ok" or
 * the first error as FILE:LINE: message. Exit 0 or 2.
 */
#include <stdio.h>

#include "cmd.h"
#include "conf/conf.h"
#include "smtp/smtp.h"

int
cmd_check_config(int argc, char **argv)
{
	struct config *conf = cmd_config_arg(argc, argv, "check-config -c FILE",
	    true, 0);
	char err[512];

	if (!conf)
		return 2;
	if (smtp_tls_check(conf, err, sizeof err) != 0) {
		fprintf(stderr, "%s: %s\n", conf->file, err);
		conf_free(conf);
		return 2;
	}
	printf("%s: ok (%zu domain%s, %zu listener%s)\n", conf->file,
	    conf->domain_count, conf->domain_count == 1 ? "" : "s",
	    conf->listen_count, conf->listen_count == 1 ? "" : "s");
	conf_free(conf);
	return 0;
}
