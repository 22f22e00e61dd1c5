/*
 * libFuzzer target: the OCSP request parser, both forms, on every input.
 *
 * Reaches: ocsp_request_parse_der (d2i_OCSP_REQUEST with an explicit
 * length, trailing-data check, read_certid, serial_hex, check_exts,
 * read_nonce, check_onereq_exts), ocsp_request_parse_get (%-decoding,
 * to_std_b64, EVP_Decode*, then parse_der), ocsp_err_status,
 * ocsp_error_der, ocsp_certid_match.
 *
 * Besides ASan/UBSan it checks the parser's promises: a success is within
 * every bound and well-formed, a failure leaves the struct zeroed and maps
 * to malformedRequest.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>

#include "ocsp/ocsp.h"

static void check(int rc, const struct ocsp_request *r, const struct err *e)
{
	static const struct ocsp_request zero;
	struct ocsp_issuer_hashes h;
	size_t i, j, len;

	if (rc != 0) {
		if (memcmp(r, &zero, sizeof(zero)) != 0 ||
		    ocsp_err_status(e) != OCSP_RESPONSE_STATUS_MALFORMEDREQUEST ||
		    ocsp_error_der(ocsp_err_status(e), &len) == NULL || len == 0)
			abort();
		return;
	}
	if (r->n < 1 || r->n > 8 || r->nonce_len > OCSP_NONCE_MAX ||
	    (r->has_nonce && r->nonce_len < 1) ||
	    (!r->has_nonce && r->nonce_len != 0))
		abort();
	memset(&h, 0, sizeof(h));
	for (i = 0; i < r->n; i++) {
		const struct ocsp_certid *id = &r->ids[i];
		size_t sl = strnlen(id->serial, sizeof(id->serial));

		if (id->hash_len < 20 || id->hash_len > OCSP_HASH_MAX ||
		    id->der_len < 1 || id->der_len > OCSP_CERTID_DER_MAX ||
		    sl == 0 || sl >= sizeof(id->serial) ||
		    (sl > 1 && id->serial[0] == '0'))
			abort();
		for (j = 0; j < sl; j++)
			if (!strchr("0123456789abcdef", id->serial[j]))
				abort();
		(void)ocsp_certid_match(id, &h);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocsp_request r;
	struct err e;
	int rc;

	/* ERR_NONE left behind by a failure would map to internalError. */
	memset(&e, 0, sizeof(e));
	rc = ocsp_request_parse_der(data, size, 8, &r, &e);
	check(rc, &r, &e);
	memset(&e, 0, sizeof(e));
	rc = ocsp_request_parse_get((const char *)data, size, 8, &r, &e);
	check(rc, &r, &e);
	return 0;
}
