/*
 * cmd: the subcommands of the mxgate binary, one src/cmd_NAME.c each.
 *
 * Each takes the arguments after "mxgate" (argv[0] is the command name) and
 * returns the process exit status: 0 done, 1 a runtime failure, 2 bad usage
 * or bad configuration.
 */
#ifndef MXGATE_CMD_H
#define MXGATE_CMD_H

#include <stdbool.h>

struct config;

int cmd_serve(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_flush(int argc, char **argv);
int cmd_spf(int argc, char **argv);
int cmd_dkim(int argc, char **argv);
int cmd_ptr(int argc, char **argv);

/*
 * The configuration of a command whose one option is -c FILE (queue, flush,
 * check-config): the file's, or without -c the embedded default unless
 * need_file. Up to max_args arguments may follow, from argv[optind]. NULL
 * after saying why on stderr (with usage, the command's usage line): exit 2.
 */
struct config *cmd_config_arg(int argc, char **argv, const char *usage,
    bool need_file, int max_args);

#endif
