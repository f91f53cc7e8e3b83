// SPDX-License-Identifier: Apache-2.0
/*
 * tollctl key: make API keys, and hash them the way a policy stores them.
 *
 * A key is "tg_" followed by 32 random bytes from getrandom(2) in base64url
 * without padding (RFC 4648 §5): 46 characters, 256 bits of entropy, safe
 * in headers, URLs and shell words; the prefix lets secret scanners find a
 * leaked key. The policy never holds a key, only "sha256:<hex>" of its
 * whole text, written by policy_key_hash().
 *
 * A key is printed once, by `key new`, and nowhere else: `key hash` reads
 * it from stdin (never from argv, which other users can read in /proc and
 * shells keep in history) and prints only the hash.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <termios.h>
#include <unistd.h>

#include "policy/policy.h"
#include "tollctl.h"
#include "tollgate/limits.h"

#define KEY_PREFIX		"tg_"
#define KEY_RANDOM_BYTES	32
/* Prefix, then 4 characters per 3 bytes, the last group unpadded. */
#define KEY_TEXT_LEN		(sizeof(KEY_PREFIX) - 1 + (KEY_RANDOM_BYTES * 4 + 2) / 3)
#define KEY_HASH_SIZE		72	/* policy_key_hash()'s output buffer */
#define KEY_HASH_TAG		"sha256:"
/* The longest key `key hash` accepts: any secret the policy could hold. */
#define KEY_INPUT_MAX		TG_SECRET_MAX

static int key_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("Usage: tollctl key new [--name NAME]\n"
	       "       tollctl key hash < KEYFILE\n"
	       "       tollctl key help\n"
	       "\n"
	       "  new   make an API key: \"tg_\" and 32 random bytes in base64url\n"
	       "        without padding. Prints the key (shown this once) and its\n"
	       "        hash, and the lines to paste under a tenant's keys: in the\n"
	       "        policy. NAME ([A-Za-z0-9_.-], at most %d characters)\n"
	       "        defaults to key-<first 8 hex digits of the hash>.\n"
	       "        With -j: {\"name\", \"key\", \"hash\"}.\n"
	       "  hash  read a key on stdin and print its sha256:<hex>, the form the\n"
	       "        policy stores. One trailing newline is dropped; from a\n"
	       "        terminal one line is read, not echoed. With -j: {\"hash\"}.\n",
	       TG_NAME_MAX);
	return CTL_EXIT_OK;
}

/* The policy's rule for names: [A-Za-z0-9_.-], 1 to TG_NAME_MAX long. It
 * also keeps the YAML hint below free of anything YAML would read. */
static bool key_name_is_valid(const char *name)
{
	size_t len = strlen(name), i;

	if (!len || len > TG_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isascii(c) || !(isalnum(c) || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static int key_random(uint8_t *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = getrandom(buf + off, len - off, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

/* RFC 4648 §5, no padding. `out` has room for (len * 4 + 2) / 3 + 1. */
static void key_base64url(const uint8_t *in, size_t len, char *out)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i;
	uint32_t v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = abc[v >> 18 & 63];
		*out++ = abc[v >> 12 & 63];
		*out++ = abc[v >> 6 & 63];
		*out++ = abc[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		*out++ = abc[v >> 18 & 63];
		*out++ = abc[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*out++ = abc[v >> 18 & 63];
		*out++ = abc[v >> 12 & 63];
		*out++ = abc[v >> 6 & 63];
	}
	*out = '\0';
}

static int key_new(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name",	required_argument, NULL, 'n' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL,		0,		   NULL, 0 },
	};
	char key[KEY_TEXT_LEN + 1], hash[KEY_HASH_SIZE];
	char default_name[sizeof("key-") + 8];
	uint8_t raw[KEY_RANDOM_BYTES];
	const char *name = NULL;
	int opt, err;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			name = optarg;
			break;
		case 'h':
			return key_help(0, NULL);
		default:
			return ctl_usage_error("key new: %s", ctl_opt_problem(opt, argv));
		}
	}
	if (optind < argc)
		return ctl_usage_error("key new: unexpected argument '%s'", argv[optind]);
	if (name && !key_name_is_valid(name))
		return ctl_usage_error("key new: name '%s' must be 1 to %d of [A-Za-z0-9_.-]",
				       name, TG_NAME_MAX);

	err = key_random(raw, sizeof(raw));
	if (err)
		return ctl_error("key new: getrandom: %s", strerror(-err));
	memcpy(key, KEY_PREFIX, sizeof(KEY_PREFIX) - 1);
	key_base64url(raw, sizeof(raw), key + sizeof(KEY_PREFIX) - 1);
	explicit_bzero(raw, sizeof(raw));
	policy_key_hash(key, strlen(key), hash);
	if (!name) {
		snprintf(default_name, sizeof(default_name), "key-%.8s",
			 hash + strlen(KEY_HASH_TAG));
		name = default_name;
	}

	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_string_field(ctl_jw, "name", name);
		jsonw_string_field(ctl_jw, "key", key);
		jsonw_string_field(ctl_jw, "hash", hash);
		jsonw_end_object(ctl_jw);
	} else {
		printf("key:  %s\n"
		       "hash: %s\n"
		       "# The key is not shown again. For the policy, under a tenant's keys:\n"
		       "- name: %s\n"
		       "  hash: %s\n",
		       key, hash, name, hash);
	}
	explicit_bzero(key, sizeof(key));
	return CTL_EXIT_OK;
}

/*
 * Reads a key from standard input into `buf`: everything up to end of
 * file, or one line from a terminal, whose echo is off meanwhile. Returns
 * the length without one trailing newline, -E2BIG when more than `size` - 2
 * bytes came (room is kept for the newline and for noticing the excess),
 * or another -errno.
 */
static ssize_t key_read(char *buf, size_t size)
{
	struct termios saved, quiet;
	bool tty = false;
	size_t len = 0;
	ssize_t n;
	int err = 0;

	if (isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &saved)) {
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		fputs("key: ", stderr);
		tty = !tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	while (len < size) {
		n = read(STDIN_FILENO, buf + len, size - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (!n)
			break;
		len += (size_t)n;
		if (tty && buf[len - 1] == '\n')
			break;
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		putc('\n', stderr);
	}
	if (err)
		return err;
	if (len && buf[len - 1] == '\n')
		len--;
	/* `size` leaves room for the newline and one byte more, so a key of
	 * exactly the limit fits and anything longer is caught here. */
	if (len > size - 2)
		return -E2BIG;
	return (ssize_t)len;
}

static int key_hash(int argc, char **argv)
{
	char buf[KEY_INPUT_MAX + 2], hash[KEY_HASH_SIZE];
	ssize_t len;
	int ret;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return key_help(0, NULL);
	if (argc > 1)
		return ctl_usage_error("key hash takes no arguments: give the key on stdin, "
				       "not on the command line");

	len = key_read(buf, sizeof(buf));
	if (len == -E2BIG) {
		ret = ctl_error("key hash: key longer than %d bytes", KEY_INPUT_MAX);
		goto out_wipe_buf;
	}
	if (len < 0) {
		ret = ctl_error("key hash: reading stdin: %s", strerror((int)-len));
		goto out_wipe_buf;
	}
	if (!len) {
		ret = ctl_error("key hash: empty key on stdin");
		goto out_wipe_buf;
	}

	policy_key_hash(buf, (size_t)len, hash);
	if (ctl_jw) {
		jsonw_start_object(ctl_jw);
		jsonw_string_field(ctl_jw, "hash", hash);
		jsonw_end_object(ctl_jw);
	} else {
		printf("%s\n", hash);
	}
	ret = CTL_EXIT_OK;

out_wipe_buf:
	explicit_bzero(buf, sizeof(buf));
	return ret;
}

static const struct cmd key_cmds[] = {
	{ "hash",	key_hash },
	{ "help",	key_help },
	{ "new",	key_new },
	{ NULL,		NULL },
};

int ctl_do_key(int argc, char **argv)
{
	return ctl_cmd_select(key_cmds, argc - 1, argv + 1, "key");
}
