/*
 * crl_plain: the plain OpenSSL way to build and sign a CRL, as a yardstick
 * for signet's CRL builder (scripts/bench, CRL section).
 *
 *   crl_plain SERIALS_FILE OUT.der
 *
 * SERIALS_FILE holds one revoked serial per line, in hex, optionally
 * followed by a space and an RFC 5280 reason code (0 = unspecified, left
 * out of the entry, as signet does).  Every entry gets the revocation time
 * "now".  The CRL is v2 with a CRL number, built with X509_CRL_add0_revoked,
 * sorted with X509_CRL_sort and signed (ECDSA P-256, SHA-256) with a key
 * generated in memory; the DER goes to OUT.der.
 *
 * Prints "entries N seconds S" (reading, building, sorting, signing and
 * writing; key generation excluded).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "crl_plain: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(3);
}

int main(int argc, char **argv)
{
	EVP_PKEY *key;
	X509_CRL *crl;
	X509_NAME *name;
	ASN1_TIME *tm, *rev_tm;
	ASN1_INTEGER *num;
	FILE *in, *out;
	char line[256];
	unsigned long n = 0;
	double t0, t1;
	time_t now = time(NULL);

	if (argc != 3) {
		fprintf(stderr, "usage: crl_plain SERIALS_FILE OUT.der\n");
		return 2;
	}
	if ((key = EVP_EC_gen("P-256")) == NULL)
		die("key generation failed");

	t0 = now_s();
	if ((in = fopen(argv[1], "r")) == NULL)
		die("cannot open the serials file");
	if ((crl = X509_CRL_new()) == NULL || !X509_CRL_set_version(crl, X509_CRL_VERSION_2))
		die("X509_CRL_new");
	name = X509_NAME_new();
	if (name == NULL || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"crl_plain bench CA", -1, -1, 0) ||
	    !X509_CRL_set_issuer_name(crl, name))
		die("issuer name");
	X509_NAME_free(name);
	tm = ASN1_TIME_set(NULL, now);
	if (tm == NULL || !X509_CRL_set1_lastUpdate(crl, tm))
		die("lastUpdate");
	ASN1_TIME_free(tm);
	tm = ASN1_TIME_set(NULL, now + 86400);
	if (tm == NULL || !X509_CRL_set1_nextUpdate(crl, tm))
		die("nextUpdate");
	ASN1_TIME_free(tm);
	num = ASN1_INTEGER_new();
	if (num == NULL || !ASN1_INTEGER_set(num, 1) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		die("CRL number");
	ASN1_INTEGER_free(num);
	if ((rev_tm = ASN1_TIME_set(NULL, now)) == NULL)
		die("revocation time");

	while (fgets(line, sizeof(line), in) != NULL) {
		X509_REVOKED *r;
		BIGNUM *bn = NULL;
		ASN1_INTEGER *serial;
		char *sp;
		int reason = 0;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if ((sp = strchr(line, ' ')) != NULL) {
			*sp = '\0';
			reason = atoi(sp + 1);
		}
		if (!BN_hex2bn(&bn, line))
			die("bad serial");
		if ((serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
			die("serial");
		BN_free(bn);
		if ((r = X509_REVOKED_new()) == NULL ||
		    !X509_REVOKED_set_serialNumber(r, serial) ||
		    !X509_REVOKED_set_revocationDate(r, rev_tm))
			die("X509_REVOKED");
		ASN1_INTEGER_free(serial);
		if (reason != 0) {
			ASN1_ENUMERATED *rc = ASN1_ENUMERATED_new();

			if (rc == NULL || !ASN1_ENUMERATED_set(rc, reason) ||
			    !X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, rc, 0, 0))
				die("reasonCode");
			ASN1_ENUMERATED_free(rc);
		}
		if (!X509_CRL_add0_revoked(crl, r))
			die("X509_CRL_add0_revoked");
		n++;
	}
	fclose(in);
	ASN1_TIME_free(rev_tm);

	if (!X509_CRL_sort(crl))
		die("X509_CRL_sort");
	if (!X509_CRL_sign(crl, key, EVP_sha256()))
		die("X509_CRL_sign");
	if ((out = fopen(argv[2], "wb")) == NULL)
		die("cannot open the output");
	if (!i2d_X509_CRL_fp(out, crl) || fclose(out) != 0)
		die("writing the CRL");
	t1 = now_s();

	printf("entries %lu seconds %.3f\n", n, t1 - t0);
	X509_CRL_free(crl);
	EVP_PKEY_free(key);
	return 0;
}
