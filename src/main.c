/*
 * mxgate: command line and wiring only. Each command lives in its own
 * src/cmd_*.c file and is listed in the table below.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "serve", cmd_serve, "serve [-c FILE] [-d]" },
	{ "check-config", cmd_check_config, "check-config -c FILE" },
	{ "queue", cmd_queue, "queue [-c FILE] [ID]" },
	{ "flush", cmd_flush, "flush [-c FILE]" },
	{ "ptr", cmd_ptr, "ptr [--dns HOST:PORT] [--trust-anchor FILE] IP" },
	{ "spf", cmd_spf, "spf [--dns HOST:PORT] [--trace] IP SENDER [HELO]" },
	{ "dkim", cmd_dkim,
	    "dkim [--dns HOST:PORT | --keys FILE] [--bench N] [FILE|-]" },
	{ NULL, NULL, NULL },
};

static int
usage(FILE *out)
{
	const struct command *c;

	fprintf(out, "usage: mxgate COMMAND [ARGS]\n\ncommands:\n");
	for (c = commands; c->name; c++)
		fprintf(out, "  mxgate %s\n", c->usage);
	fprintf(out, "  mxgate --help | --version\n");
	return out == stdout ? 0 : 2;
}

int
main(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return usage(stdout);
	if (strcmp(argv[1], "--version") == 0) {
		printf("mxgate %s\n", MXGATE_VERSION);
		return 0;
	}
	for (c = commands; c->name; c++)
		if (strcmp(argv[1], c->name) == 0)
			return c->run(argc - 1, argv + 1);
	fprintf(stderr, "mxgate: unknown command '%s'\n", argv[1]);
	return usage(stderr);
}
