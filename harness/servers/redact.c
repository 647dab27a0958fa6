/*
 * redact.c - ipcl_url_redact(): the one function that hides secrets in the
 * server addresses the broker libraries accept, before anything is printed or
 * stored (records, errors, `brokers status`, channel addresses shown to users).
 *
 * Forms covered (each a row of tests/unit/test_redact.c):
 *   scheme://user:pw@host...   hiredis-style, amqp://, postgresql://; the last '@'
 *                              before the query ends the userinfo, so a password
 *                              holding '@' is hidden whole
 *   ...?password=pw&...        URI query parameters (libpq), also sslpassword
 *   password=pw, password = 'a b\'c'   libpq conninfo keywords, quoted or not
 * It errs on hiding too much: an '&' inside a conninfo password still ends at
 * whitespace only. Plain string work, no library; leaves out percent-decoding
 * (a %40 in a password is hidden with the rest of it anyway).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <ipclab/server.h>

/* Append n bytes of s to out (cap bytes) at *len, truncating. */
static void redact_put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + 1 >= cap)
		return;
	if (n > cap - 1 - *len)
		n = cap - 1 - *len;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = 0;
}

/* 1 if a keyword ending in "password" starts at s[i] (s[i..] = "password"). */
static int redact_is_key(const char *s, size_t i, size_t *start)
{
	size_t b = i;

	if (b >= 3 && strncmp(s + b - 3, "ssl", 3) == 0)
		b -= 3;
	*start = b;
	return b == 0 || s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\n' ||
	       s[b - 1] == '?' || s[b - 1] == '&' || s[b - 1] == ';';
}

/* Copy in to out hiding password=... values; uri: values end at '&' or '#'. */
static void redact_keywords(const char *in, char *out, size_t cap, int uri)
{
	size_t len = 0, i = 0, n = strlen(in);

	out[0] = 0;
	while (i < n) {
		const char *hit = strstr(in + i, "password");
		size_t at, start, j;

		if (!hit) {
			redact_put(out, cap, &len, in + i, n - i);
			break;
		}
		at = (size_t)(hit - in);
		j = at + 8;
		while (in[j] == ' ' || in[j] == '\t')
			j++;
		if (in[j] != '=' || !redact_is_key(in, at, &start)) {
			redact_put(out, cap, &len, in + i, at + 8 - i);
			i = at + 8;
			continue;
		}
		j++;
		while (!uri && (in[j] == ' ' || in[j] == '\t'))
			j++;
		redact_put(out, cap, &len, in + i, j - i);
		if (!uri && in[j] == '\'') { /* quoted: up to an unescaped quote */
			for (j++; in[j] && in[j] != '\''; j++)
				if (in[j] == '\\' && in[j + 1])
					j++;
			if (in[j] == '\'')
				j++;
		} else if (uri) {
			j += strcspn(in + j, "&#");
		} else {
			j += strcspn(in + j, " \t\n");
		}
		redact_put(out, cap, &len, "***", 3);
		i = j;
	}
}

void ipcl_url_redact(const char *url, char *out, size_t cap)
{
	const char *scheme, *auth, *q, *at = NULL, *colon;
	char tmp[1024];
	size_t len = 0;

	if (!cap)
		return;
	if (!url) {
		out[0] = 0;
		return;
	}
	scheme = strstr(url, "://");
	tmp[0] = 0;
	if (scheme && scheme == url + strcspn(url, ":")) {
		auth = scheme + 3;
		q = auth + strcspn(auth, "?#");
		for (const char *p = auth; p < q; p++)
			if (*p == '@')
				at = p;
		if (!at) /* an '@' only after the '?': it may still end the userinfo */
			at = strrchr(auth, '@');
		colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon) {
			redact_put(tmp, sizeof tmp, &len, url, (size_t)(colon + 1 - url));
			redact_put(tmp, sizeof tmp, &len, "***", 3);
			redact_put(tmp, sizeof tmp, &len, at, strlen(at));
		} else {
			redact_put(tmp, sizeof tmp, &len, url, strlen(url));
		}
		redact_keywords(tmp, out, cap, 1);
	} else {
		redact_keywords(url, out, cap, 0);
	}
	explicit_bzero(tmp, sizeof tmp);
}
