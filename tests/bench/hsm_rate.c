/*
 * hsm_rate: the signing ceiling of a key on the token, through the same
 * hsm/ code signetd uses (libp11, EVP_PKEY).  For scripts/bench.
 *
 *   SIGNET_PIN=... hsm_rate MODULE TOKEN LABEL THREADS SECONDS
 *
 * Prints "signatures N seconds S rate R".  Bounded by SECONDS.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/crypto.h>

#include "hsm/hsm.h"

static struct hsm_key *key;
static atomic_int stop;
static atomic_ullong total;

static void *worker(void *arg)
{
	unsigned char data[64] = { 1 }, *sig;
	size_t len;
	struct err e;

	(void)arg;
	while (!atomic_load(&stop)) {
		if (hsm_sign_data(key, data, sizeof(data), &sig, &len, &e) != 0) {
			fprintf(stderr, "hsm_rate: %s\n", e.msg);
			exit(3);
		}
		OPENSSL_free(sig);
		atomic_fetch_add(&total, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct hsm *h = NULL;
	struct err e;
	pthread_t th[64];
	struct timespec t0, t1;
	const char *pin = getenv("SIGNET_PIN");
	int n, secs;
	double dt;

	if (argc != 6 || pin == NULL) {
		fprintf(stderr, "usage: SIGNET_PIN=... hsm_rate MODULE TOKEN LABEL "
		    "THREADS SECONDS\n");
		return 2;
	}
	n = atoi(argv[4]);
	secs = atoi(argv[5]);
	if (n < 1 || n > 64 || secs < 1 || secs > 600) {
		fprintf(stderr, "hsm_rate: THREADS 1..64, SECONDS 1..600\n");
		return 2;
	}
	if (hsm_open(argv[1], argv[2], pin, &h, &e) != 0 ||
	    hsm_find_key(h, argv[3], &key, &e) != 0) {
		fprintf(stderr, "hsm_rate: %s\n", e.msg);
		return 3;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	struct timespec d = { secs, 0 };
	nanosleep(&d, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("signatures %llu seconds %.2f rate %.0f\n",
	    (unsigned long long)atomic_load(&total), dt,
	    (double)atomic_load(&total) / dt);
	hsm_free(h);
	return 0;
}
