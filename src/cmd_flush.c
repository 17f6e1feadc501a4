/*
 * mxgate flush [-c FILE]: asks the server running on the spool to retry its
 * deferred mail now, as postqueue -f does (after a full disk or a Maildir
 * permission is fixed, say), by sending SIGUSR1 to the process its spool
 * lock names. Exit 0 asked, 1 no server runs on the spool or it cannot be
 * signalled, 2 bad usage or configuration.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "conf/conf.h"
#include "spool/spool.h"

int
cmd_flush(int argc, char **argv)
{
	struct config *conf = cmd_config_arg(argc, argv, "flush [-c FILE]",
	    false, 0);
	long pid = 0;
	int rc;

	if (!conf)
		return 2;
	rc = spool_holder(conf->spool, &pid);
	if (rc == 1 && kill((pid_t)pid, SIGUSR1) == 0) {
		printf("asked mxgate (pid %ld) to retry its deferred mail\n",
		    pid);
		rc = 0;
	} else if (rc == 1) {
		fprintf(stderr, "mxgate: pid %ld: %s\n", pid, strerror(errno));
		rc = 1;
	} else if (rc < 0) {
		fprintf(stderr, "mxgate: %s/lock: %s\n", conf->spool,
		    strerror(errno));
		rc = 1;
	} else {
		fprintf(stderr, "mxgate: no server runs on %s\n", conf->spool);
		rc = 1;
	}
	conf_free(conf);
	return rc;
}
