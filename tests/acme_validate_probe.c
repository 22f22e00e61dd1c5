/*
 * acme_validate_probe: validate one ACME challenge with ca/acme_validate,
 * for tests/integration/91_acme_validate.sh.
 *
 *   acme_validate_probe CONFIG TYPE IDENT_TYPE IDENT_VALUE TOKEN KEY_AUTHZ
 *
 * Prints "valid" and exits 0, or "invalid <atype>: <detail>" and exits 1;
 * exit 2 for usage or config errors.  With SIGNET_PROBE_THREADS=N
 * (2..16) the same challenge is validated by N threads at once on one
 * validator (as signetd's workers do); the output is then the first
 * thread's, and exit 3 if the threads did not all agree.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/acme_validate.h"
#include "common/config.h"
#include "common/err.h"

#define MAX_THREADS 16

struct run {
	struct acme_validate *v;
	char **argv;
	int rc;
	const char *atype;
	struct err e;
};

static void *run_one(void *arg)
{
	struct run *r = arg;

	r->rc = acme_validate_challenge(r->v, r->argv[2], r->argv[3],
	    r->argv[4], r->argv[5], r->argv[6], &r->atype, &r->e);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct run runs[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	struct config *cfg = NULL;
	struct acme_validate *v = NULL;
	struct err e = { 0 };
	const char *env = getenv("SIGNET_PROBE_THREADS");
	int rc = 2, n = env != NULL ? atoi(env) : 1;

	if (argc != 7) {
		fprintf(stderr, "usage: acme_validate_probe CONFIG TYPE IDENT_TYPE "
		    "IDENT_VALUE TOKEN KEY_AUTHZ\n");
		return 2;
	}
	/* As signetd: a peer closing mid-handshake is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (config_load(argv[1], &cfg, &e) != 0 ||
	    acme_validate_new(cfg, &v, &e) != 0) {
		fprintf(stderr, "acme_validate_probe: %s\n", e.msg);
		goto out;
	}
	if (n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "acme_validate_probe: SIGNET_PROBE_THREADS must be "
		    "1..%d\n", MAX_THREADS);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		runs[i].v = v;
		runs[i].argv = argv;
		if (pthread_create(&tid[i], NULL, run_one, &runs[i]) != 0) {
			fprintf(stderr, "acme_validate_probe: pthread_create\n");
			/* Join those started before leaving. */
			n = i;
			for (i = 0; i < n; i++)
				pthread_join(tid[i], NULL);
			goto out;
		}
	}
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	if (runs[0].rc == 0) {
		printf("valid\n");
		rc = 0;
	} else {
		printf("invalid %s: %s\n", runs[0].atype ? runs[0].atype :
		    "(none)", runs[0].e.msg);
		rc = 1;
	}
	for (int i = 1; i < n; i++)
		if (runs[i].rc != runs[0].rc || (runs[i].rc != 0 &&
		    strcmp(runs[i].atype, runs[0].atype) != 0)) {
			fprintf(stderr, "acme_validate_probe: thread %d disagrees: "
			    "%s\n", i, runs[i].rc == 0 ? "valid" : runs[i].e.msg);
			rc = 3;
		}
out:
	acme_validate_free(v);
	config_free(cfg);
	return rc;
}
