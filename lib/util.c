/*
 * NAME
 *	util.c - files, hex, random bytes and escaped names
 * DESCRIPTION
 *	See util.h.
 */
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tandem.h"
#include "util.h"

int
util_read_file(const char *path, size_t max, unsigned char **bufp,
    size_t *lenp, char *err)
{
	char why[TN_ERRLEN];
	int fd, rc;

	/* O_NONBLOCK: a FIFO opens at once, and is refused below. */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		tn_err(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((rc = util_read_fd(fd, max, bufp, lenp, why)) == -1)
		tn_err(err, "%s: %s", path, why);
	close(fd);
	return rc;
}

int
util_read_fd(int fd, size_t max, unsigned char **bufp, size_t *lenp,
    char *err)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	struct stat st;
	int rc = -1;

	if (fstat(fd, &st) == -1) {
		tn_err(err, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		tn_err(err, "not a regular file (%s)",
		    util_file_type(st.st_mode));
		goto out;
	}
	if ((size_t)st.st_size > max) {
		tn_err(err, "larger than %zu bytes", max);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		tn_err(err, "out of memory");
		goto out;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			tn_err(err, "%s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	return rc;
}

const char *
util_file_type(unsigned int mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "of an unknown type";
}

static int
util_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
util_write_file(const char *path, const void *buf, size_t len, int mode,
    int exclusive, char *err)
{
	char tmp[PATH_MAX];
	const char *target = path;
	int fd, rc = -1;

	if (!exclusive) {
		if (snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >=
		    (int)sizeof(tmp)) {
			tn_err(err, "%s: path too long", path);
			return -1;
		}
		if ((fd = mkstemp(tmp)) == -1) {
			tn_err(err, "%s: %s", tmp, strerror(errno));
			return -1;
		}
		target = tmp;
	} else if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    mode)) == -1) {
		tn_err(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, (mode_t)mode) == -1 ||
	    util_write_all(fd, buf, len) == -1 || fsync(fd) == -1) {
		tn_err(err, "%s: %s", target, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) == -1) {
		tn_err(err, "%s: %s", target, strerror(errno));
		goto out;
	}
	if (!exclusive && rename(tmp, path) == -1) {
		tn_err(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		unlink(target);
	return rc;
}

char *
util_hex(const unsigned char *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *out;
	size_t i;

	if ((out = malloc(len * 2 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
	return out;
}

static int
util_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
util_unhex(const char *in, unsigned char *out, size_t outlen)
{
	size_t i;
	int hi, lo;

	if (strlen(in) != outlen * 2)
		return -1;
	for (i = 0; i < outlen; i++) {
		if ((hi = util_nibble(in[2 * i])) == -1 ||
		    (lo = util_nibble(in[2 * i + 1])) == -1)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int
util_random(unsigned char *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

int
util_token(char *tok, size_t size, unsigned char *hash)
{
	unsigned char rnd[32], b64[48];
	unsigned int n = 0;
	size_t i, j;

	if (size < 44 || util_random(rnd, sizeof(rnd)) == -1)
		return -1;
	EVP_EncodeBlock(b64, rnd, sizeof(rnd));
	for (i = j = 0; b64[i] != '\0' && b64[i] != '='; i++)
		tok[j++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' :
		    (char)b64[i];
	tok[j] = '\0';
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return EVP_Digest(tok, j, hash, &n, EVP_sha256(), NULL) == 1 &&
	    n == 32 ? 0 : -1;
}

static int
util_plain(unsigned char c, int flags)
{
	if (c == ' ')
		return (flags & UTIL_ESC_SPACE) != 0;
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '%';
}

const char *
util_escape(const char *in, char *out, size_t size, int flags)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p, *s;
	size_t n = 0, total = 0, room, need;

	if (size == 0)
		return out;
	s = (const unsigned char *)(in != NULL ? in : "(none)");
	for (p = s; *p != '\0'; p++)
		total += util_plain(*p, flags) ? 1 : 4;
	/* Cut short: whole escapes only, then "...", then the NUL. */
	room = total < size ? total : size < 4 ? 0 : size - 4;
	for (p = s; *p != '\0'; p++) {
		need = util_plain(*p, flags) ? 1 : 4;
		if (n + need > room)
			break;
		if (need == 1)
			out[n++] = (char)*p;
		else {
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = digits[*p >> 4];
			out[n++] = digits[*p & 0x0f];
		}
	}
	if (total >= size && size >= 4) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

void
util_free_secret(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}
