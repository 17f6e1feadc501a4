/* The [-c FILE] of the commands that take nothing else (cmd.h). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cmd.h"
#include "conf/conf.h"

struct config *
cmd_config_arg(int argc, char **argv, const char *usage, bool need_file,
    int max_args)
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
	if (argc - optind > max_args || (need_file && !file))
		goto usage;
	conf = file ? conf_load(file, err, sizeof err) :
	    conf_default(err, sizeof err);
	if (!conf)
		fprintf(stderr, "%s\n", err);
	return conf;
usage:
	fprintf(stderr, "usage: mxgate %s\n", usage);
	return NULL;
}
