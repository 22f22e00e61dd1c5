/*
 * ocsp/http.c: HTTP caching headers for a GET response (RFC 5019 6.2), so
 * that any HTTP cache or CDN can serve it until nextUpdate.  A pure
 * function of the response DER and the time.
 */
#include "ocsp/ocsp.h"

#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "common/util.h"

/* RFC 7231 7.1.1.1 IMF-fixdate, with names fixed (strftime's %a and %b
 * follow the locale). */
static int imf_fixdate(time_t t, char *out, size_t outlen)
{
	static const char days[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
	};
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	struct tm tm;
	int n;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 0)
		return -1;
	n = snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int ocsp_http_headers(const unsigned char *der, size_t len, time_t now,
    long max_age_cap, struct ocsp_http_headers *h, struct err *e)
{
	time_t tu, nu;

	memset(h, 0, sizeof(*h));
	if (ocsp_response_times(der, len, &tu, &nu, e) != 0)
		return -1;
	return ocsp_http_headers_at(der, len, tu, nu, now, max_age_cap, h, e);
}

void ocsp_http_cache_control(time_t nu, time_t now, long max_age_cap,
    struct ocsp_http_headers *h)
{
	long long max_age;

	/* RFC 5019 6.2: max-age no later than nextUpdate; a response already
	 * past it must not be cached at all. */
	max_age = nu > now ? (long long)(nu - now) : 0;
	if (max_age_cap > 0 && max_age > max_age_cap)
		max_age = max_age_cap;
	snprintf(h->cache_control, sizeof(h->cache_control),
	    "max-age=%lld, public, no-transform, must-revalidate", max_age);
}

int ocsp_http_headers_at(const unsigned char *der, size_t len, time_t tu,
    time_t nu, time_t now, long max_age_cap, struct ocsp_http_headers *h,
    struct err *e)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];

	memset(h, 0, sizeof(*h));
	ocsp_http_cache_control(nu, now, max_age_cap, h);
	if (imf_fixdate(nu, h->expires, sizeof(h->expires)) != 0 ||
	    imf_fixdate(tu, h->last_modified, sizeof(h->last_modified)) != 0) {
		memset(h, 0, sizeof(*h));
		return err_set(e, ERR_INVALID, "OCSP response times out of range");
	}
	/* A strong validator: the bytes are the response. */
	SHA256(der, len, digest);
	util_hex(digest, sizeof(digest), hex);
	snprintf(h->etag, sizeof(h->etag), "\"%s\"", hex);
	return 0;
}

/* An IMF-fixdate (the only form a cache sends back, RFC 7232 2.2 quoting
 * our own Last-Modified) as a Unix time; -1 if it is not one. */
static time_t parse_imf_fixdate(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char mon[4], wday[4], gmt[4];
	int d, y, hh, mm, ss, n = 0;
	const char *m;
	struct tm tm;

	if (strlen(s) > 64 ||
	    sscanf(s, "%3s, %d %3s %d %d:%d:%d %3s%n", wday, &d, mon, &y, &hh, &mm,
	    &ss, gmt, &n) != 8 || s[n] != '\0' || strcmp(gmt, "GMT") != 0 ||
	    strlen(mon) != 3 || (m = strstr(months, mon)) == NULL ||
	    (m - months) % 3 != 0 || d < 1 || d > 31 || y < 1970 || y > 9999 ||
	    hh > 23 || mm > 59 || ss > 60 || hh < 0 || mm < 0 || ss < 0)
		return (time_t)-1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = d;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year = y - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	return timegm(&tm);
}

/* One entity-tag of an If-None-Match list matches ours (weak comparison,
 * RFC 7232 3.2: a W/ prefix is ignored). */
static int etag_listed(const char *list, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = list;

	while (*p != '\0') {
		const char *start, *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*p == '*')
			return 1;
		start = p;
		if (strncmp(p, "W/", 2) == 0)
			start = p += 2;
		if (*p != '"')
			return 0;   /* not an entity-tag list: no match */
		if ((end = strchr(p + 1, '"')) == NULL)
			return 0;
		if ((size_t)(end + 1 - start) == elen &&
		    memcmp(start, etag, elen) == 0)
			return 1;
		p = end + 1;
	}
	return 0;
}

int ocsp_http_not_modified(const char *if_none_match,
    const char *if_modified_since, const struct ocsp_http_headers *h,
    time_t this_update)
{
	time_t since;

	/* RFC 7232 6: If-None-Match, when present, decides alone. */
	if (if_none_match != NULL)
		return strlen(if_none_match) <= 4096 &&
		    etag_listed(if_none_match, h->etag);
	if (if_modified_since == NULL ||
	    (since = parse_imf_fixdate(if_modified_since)) == (time_t)-1)
		return 0;
	return this_update <= since;
}
