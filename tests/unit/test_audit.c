// SPDX-License-Identifier: Apache-2.0
/*
 * The audit log: records written through audit_write() read back as a
 * chain that verifies; each kind of tampering is found at the right line;
 * the chain survives a restart and rotations; hostile strings stay valid
 * JSON (checked with jansson); two threads writing at once give one
 * unbroken chain.
 *
 *   build/tests/test_audit
 *   build/tests/test_audit --write DIR N   (a log for test_audit.sh: N
 *   records into DIR/audit.log, rotating, then exit)
 *   build/tests/test_audit --bench DIR N THREADS   (lines/s)
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "obs/audit.h"
#include "policy/policy.h"
#include "tollgate/limits.h"

/* A path in the test directory. */
#define NAME_LEN	400

struct tdir {
	char dir[64];
	char path[128];
};

static int tdir_setup(void **state)
{
	struct tdir *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/test-audit-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/audit.log", t->dir);
	*state = t;
	return 0;
}

static int tdir_teardown(void **state)
{
	struct tdir *t = *state;
	struct dirent *de;
	char p[512];
	DIR *d = opendir(t->dir);

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", t->dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(t->dir);
	free(t);
	return 0;
}

static struct audit_log *open_log(const char *path, enum policy_fsync fs, uint64_t rotate,
				  bool prompts)
{
	struct policy_audit cfg = {
		.enabled = true, .path = path, .fsync = fs,
		.rotate_bytes = rotate, .include_prompts = prompts,
	};

	return audit_log_open(&cfg);
}

/* Record i, with fields that vary with it. */
static void write_rec(struct audit_log *al, unsigned int i, const char *who)
{
	static const struct audit_guard_verdict g[2] = {
		{ "input", "allow" }, { "output", "redact" },
	};
	char rid[64];
	struct audit_record r = {
		.request_id = rid, .tenant = "acme", .key_id = "ci-key",
		.operation = "chat", .model_requested = "gpt-4o",
		.model_used = i % 3 ? "gpt-4o" : "claude-sonnet", .provider = "openai",
		.route = "default", .stream = i & 1, .tokens_in = 100 + i,
		.tokens_out = 7 * i, .tokens_cached = i % 5, .has_cost = true,
		.cost = 0.000125 * i, .latency_us = 1000 + i, .has_ttft = i & 1,
		.ttft_us = 200 + i, .status = i % 7 ? 200 : 429,
		.error = i % 7 ? NULL : "budget_exceeded", .guards = g, .n_guards = 2,
	};

	snprintf(rid, sizeof(rid), "%s-%u", who, i);
	assert_int_equal(audit_write(al, &r), 0);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Verifies buf[0..len) as the next part of v's chain. Returns what was
 * wrong and, in *bad_line, the 1-based line to blame; AUDIT_OK and the
 * count of lines otherwise. */
static enum audit_bad verify_buf(struct audit_verify *v, const char *buf, size_t len,
				 unsigned long *bad_line)
{
	const char *p = buf, *end = buf + len, *nl;
	unsigned long ln = 0;
	enum audit_bad bad;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		ln++;
		bad = audit_verify_line(v, p, nl ? (size_t)(nl + 1 - p) : (size_t)(end - p));
		if (bad) {
			*bad_line = v->blame_prev ? ln - 1 : ln;
			return bad;
		}
		p = nl ? nl + 1 : end;
	}
	*bad_line = ln;
	return AUDIT_OK;
}

static enum audit_bad verify_one(const char *buf, size_t len, unsigned long *bad_line,
				 uint64_t *lines)
{
	struct audit_verify v;
	enum audit_bad bad;

	assert_int_equal(audit_verify_init(&v), 0);
	bad = verify_buf(&v, buf, len, bad_line);
	if (lines)
		*lines = v.lines;
	return bad;
}

/* Start of line n (1-based) in buf. */
static char *line_at(char *buf, unsigned int n)
{
	while (--n) {
		buf = strchr(buf, '\n');
		assert_non_null(buf);
		buf++;
	}
	return buf;
}

static char *write_log(struct tdir *t, unsigned int n, size_t *len)
{
	struct audit_log *al = open_log(t->path, POLICY_FSYNC_BATCH, 0, false);
	unsigned int i;

	assert_non_null(al);
	for (i = 1; i <= n; i++)
		write_rec(al, i, "r");
	assert_int_equal(audit_log_flush(al), 0);
	audit_log_close(al);
	return slurp(t->path, len);
}

static void test_audit_chain_of_records_verifies(void **state)
{
	struct tdir *t = *state;
	unsigned long bad_line;
	uint64_t lines;
	size_t len;
	char *buf = write_log(t, 500, &len);
	char genesis[AUDIT_HASH_HEX_LEN + 1];
	json_t *doc;

	assert_int_equal(verify_one(buf, len, &bad_line, &lines), AUDIT_OK);
	assert_int_equal(lines, 500);
	/* The first line chains to the documented genesis and carries the
	 * record's members. */
	assert_int_equal(audit_hash_hex(AUDIT_GENESIS, strlen(AUDIT_GENESIS), genesis), 0);
	assert_int_equal(strncmp(buf, "{\"seq\":1,\"prev\":\"", 17), 0);
	assert_memory_equal(buf + 17, genesis, AUDIT_HASH_HEX_LEN);
	doc = json_loadb(buf, (size_t)(strchr(buf, '\n') - buf), 0, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "request_id")), "r-1");
	assert_string_equal(json_string_value(json_object_get(doc, "kind")), "llm");
	assert_int_equal(json_integer_value(json_object_get(doc, "tokens_in")), 101);
	assert_int_equal(json_integer_value(json_object_get(doc, "tokens_out")), 7);
	assert_int_equal(json_integer_value(json_object_get(doc, "ttft_us")), 201);
	assert_true(json_is_array(json_object_get(doc, "guards")));
	assert_null(json_object_get(doc, "prompt"));	/* never unless asked */
	/* Audit off: no log, nothing to do, no error. */
	{
		struct audit_record off = { .status = 200 };
		struct audit_stats st;

		assert_int_equal(audit_write(NULL, &off), 0);
		audit_log_stats(NULL, &st);
		assert_int_equal(st.lines, 0);
	}
	assert_null(json_object_get(doc, "error"));
	/* time 0 is now: same second or so, written as UTC. */
	{
		const char *ts = json_string_value(json_object_get(doc, "time"));
		struct tm tm = { 0 };
		time_t now = time(NULL), then;

		assert_non_null(ts);
		assert_int_equal(strlen(ts), 27);
		assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm));
		then = timegm(&tm);
		assert_true(then <= now && now - then < 60);
	}
	json_decref(doc);
	free(buf);
}

static void test_audit_flipped_byte_is_found_at_its_line(void **state)
{
	struct tdir *t = *state;
	unsigned long bad_line;
	size_t len;
	char *buf = write_log(t, 20, &len), *p;

	/* A digit changed: still JSON, so only the hash can tell. */
	p = strstr(line_at(buf, 7), "\"tokens_in\":");
	assert_non_null(p);
	p += strlen("\"tokens_in\":");
	*p = *p == '9' ? '8' : (char)(*p + 1);
	assert_int_equal(verify_one(buf, len, &bad_line, NULL), AUDIT_BAD_HASH);
	assert_int_equal(bad_line, 7);
	/* A byte that breaks the JSON. */
	*line_at(buf, 12) = 'x';
	assert_int_equal(verify_one(buf, len, &bad_line, NULL), AUDIT_BAD_HASH);
	assert_int_equal(bad_line, 7);	/* the first bad line wins */
	free(buf);
	buf = slurp(t->path, &len);	/* as written */
	*line_at(buf, 12) = 'x';
	assert_int_equal(verify_one(buf, len, &bad_line, NULL), AUDIT_BAD_JSON);
	assert_int_equal(bad_line, 12);
	free(buf);
}

static void test_audit_deleted_line_is_a_sequence_gap(void **state)
{
	struct tdir *t = *state;
	unsigned long bad_line;
	size_t len;
	char *buf = write_log(t, 20, &len), *a, *b;

	a = line_at(buf, 9);
	b = line_at(buf, 10);
	memmove(a, b, (size_t)(buf + len - b) + 1);
	len -= (size_t)(b - a);
	assert_int_equal(verify_one(buf, len, &bad_line, NULL), AUDIT_BAD_SEQ);
	assert_int_equal(bad_line, 9);
	free(buf);
}

static void test_audit_reordered_lines_are_found(void **state)
{
	struct tdir *t = *state;
	unsigned long bad_line;
	size_t len, la, lb;
	char *buf = write_log(t, 20, &len), *a, *b, *c, *tmp;

	a = line_at(buf, 5);
	b = line_at(buf, 6);
	c = line_at(buf, 7);
	la = (size_t)(b - a);
	lb = (size_t)(c - b);
	tmp = malloc(la);
	assert_non_null(tmp);
	memcpy(tmp, a, la);
	memmove(a, b, lb);
	memcpy(a + lb, tmp, la);
	free(tmp);
	assert_int_equal(verify_one(buf, len, &bad_line, NULL), AUDIT_BAD_SEQ);
	assert_int_equal(bad_line, 5);
	free(buf);
}

static void test_audit_cut_last_line_is_found(void **state)
{
	struct tdir *t = *state;
	unsigned long bad_line;
	uint64_t lines;
	size_t len;
	char *buf = write_log(t, 20, &len);

	assert_int_equal(verify_one(buf, len - 1, &bad_line, NULL), AUDIT_BAD_CUT);
	assert_int_equal(bad_line, 20);
	assert_int_equal(verify_one(buf, len - 30, &bad_line, NULL), AUDIT_BAD_CUT);
	assert_int_equal(bad_line, 20);
	/* A whole last line removed cleanly leaves a valid shorter chain:
	 * the end is anchored only by the last hash kept elsewhere. */
	assert_int_equal(verify_one(buf, (size_t)(line_at(buf, 20) - buf), &bad_line, &lines),
			 AUDIT_OK);
	assert_int_equal(lines, 19);
	free(buf);
}

static void test_audit_chain_continues_after_reopen(void **state)
{
	struct tdir *t = *state;
	struct audit_stats st;
	struct audit_log *al;
	unsigned long bad_line;
	uint64_t lines;
	size_t len;
	char *buf = write_log(t, 10, &len);
	FILE *f;

	free(buf);
	al = open_log(t->path, POLICY_FSYNC_ALWAYS, 0, false);
	assert_non_null(al);
	audit_log_stats(al, &st);
	assert_int_equal(st.seq, 10);
	write_rec(al, 11, "r");
	audit_log_close(al);	/* close writes what is queued */
	buf = slurp(t->path, &len);
	assert_int_equal(verify_one(buf, len, &bad_line, &lines), AUDIT_OK);
	assert_int_equal(lines, 11);
	free(buf);

	/* A crash mid-line: the next start continues after the last whole
	 * line, and verify names the cut one. */
	f = fopen(t->path, "a");
	assert_non_null(f);
	fputs("{\"seq\":12,\"prev\":\"00", f);
	fclose(f);
	al = open_log(t->path, POLICY_FSYNC_NEVER, 0, false);
	assert_non_null(al);
	write_rec(al, 12, "r");
	audit_log_close(al);
	buf = slurp(t->path, &len);
	assert_int_equal(verify_one(buf, len, &bad_line, &lines), AUDIT_BAD_JSON);
	assert_int_equal(bad_line, 12);
	assert_int_equal(lines, 11);
	/* ...and the line after it chains to line 11. */
	assert_non_null(strstr(line_at(buf, 13), "{\"seq\":12,"));
	free(buf);

	/* Not an audit log: refused, not appended to. */
	f = fopen(t->path, "w");
	assert_non_null(f);
	fputs("hello\n", f);
	fclose(f);
	errno = 0;
	assert_null(open_log(t->path, POLICY_FSYNC_BATCH, 0, false));
	assert_int_equal(errno, EBADMSG);
}

/* The files of t->dir, sorted: rotated ones (audit.log.<UTC>) first. */
static unsigned int list_logs(struct tdir *t, char names[][NAME_LEN], unsigned int max)
{
	struct dirent **de;
	unsigned int n = 0;
	int i, k;

	k = scandir(t->dir, &de, NULL, alphasort);
	assert_true(k >= 0);
	for (i = 0; i < k; i++) {
		if (strncmp(de[i]->d_name, "audit.log.", 10) == 0 && n < max - 1)
			snprintf(names[n++], NAME_LEN, "%s/%s", t->dir, de[i]->d_name);
		free(de[i]);
	}
	free(de);
	snprintf(names[n++], NAME_LEN, "%s", t->path);
	return n;
}

static void verify_files(char names[][NAME_LEN], unsigned int n, uint64_t want_lines)
{
	struct audit_verify v;
	unsigned long bad_line = 0;
	unsigned int i;
	size_t len;
	char *buf;

	assert_int_equal(audit_verify_init(&v), 0);
	for (i = 0; i < n; i++) {
		buf = slurp(names[i], &len);
		if (verify_buf(&v, buf, len, &bad_line))
			fail_msg("%s:%lu: %s: %s", names[i], bad_line, "bad", v.detail);
		free(buf);
	}
	assert_int_equal(v.lines, want_lines);
	assert_int_equal(v.seq, want_lines);
}

static void test_audit_rotation_keeps_the_chain(void **state)
{
	struct tdir *t = *state;
	struct audit_log *al = open_log(t->path, POLICY_FSYNC_BATCH, 4096, false);
	char names[64][NAME_LEN], prev_file[128];
	struct audit_verify v;
	struct audit_stats st;
	unsigned long bad_line;
	unsigned int i, n;
	json_t *doc;
	size_t len;
	char *buf;

	assert_non_null(al);
	for (i = 1; i <= 100; i++)
		write_rec(al, i, "r");
	assert_int_equal(audit_log_flush(al), 0);
	audit_log_stats(al, &st);
	assert_true(st.rotations >= 5);
	audit_log_close(al);

	n = list_logs(t, names, 64);
	assert_int_equal(n, st.rotations + 1);
	verify_files(names, n, 100);
	/* Every file after the first names the one before; none is much
	 * bigger than the bound (one line over at most). */
	for (i = 1; i < n; i++) {
		struct stat sb;

		assert_int_equal(stat(names[i - 1], &sb), 0);
		assert_true(sb.st_size >= 4096 && sb.st_size < 4096 + 1024);
		buf = slurp(names[i], &len);
		doc = json_loadb(buf, (size_t)(strchr(buf, '\n') - buf), 0, NULL);
		assert_non_null(doc);
		snprintf(prev_file, sizeof(prev_file), "%s/%s", t->dir,
			 json_string_value(json_object_get(doc, "prev_file")));
		assert_string_equal(prev_file, names[i - 1]);
		json_decref(doc);
		free(buf);
	}
	/* The newest file alone verifies, saying where it starts. */
	buf = slurp(names[n - 1], &len);
	assert_int_equal(audit_verify_init(&v), 0);
	assert_int_equal(verify_buf(&v, buf, len, &bad_line), AUDIT_OK);
	assert_true(v.has_start_file);
	assert_string_equal(v.start_file, strrchr(names[n - 2], '/') + 1);
	free(buf);
	/* A rotated file left out breaks it. */
	assert_int_equal(audit_verify_init(&v), 0);
	buf = slurp(names[0], &len);
	assert_int_equal(verify_buf(&v, buf, len, &bad_line), AUDIT_OK);
	free(buf);
	buf = slurp(names[2], &len);
	assert_int_equal(verify_buf(&v, buf, len, &bad_line), AUDIT_BAD_SEQ);
	assert_int_equal(bad_line, 1);
	free(buf);
}

static void test_audit_reopen_rotates_and_chains(void **state)
{
	struct tdir *t = *state;
	struct audit_log *al = open_log(t->path, POLICY_FSYNC_ALWAYS, 0, false);
	char names[8][NAME_LEN];
	unsigned int i, n;

	assert_non_null(al);
	for (i = 1; i <= 5; i++)
		write_rec(al, i, "r");
	assert_int_equal(audit_log_reopen(al, NULL), 0);
	assert_int_equal(audit_log_reopen(al, NULL), 0);	/* nothing new: no empty file */
	for (i = 6; i <= 10; i++)
		write_rec(al, i, "r");
	audit_log_close(al);
	n = list_logs(t, names, 8);
	assert_int_equal(n, 2);
	verify_files(names, n, 10);

	/* After a restart the chain goes on, rotations included. */
	al = open_log(t->path, POLICY_FSYNC_BATCH, 0, false);
	assert_non_null(al);
	assert_int_equal(audit_log_reopen(al, NULL), 0);
	write_rec(al, 11, "r");
	audit_log_close(al);
	n = list_logs(t, names, 8);
	assert_int_equal(n, 3);
	verify_files(names, n, 11);
}

static void test_audit_hostile_strings_stay_valid_json(void **state)
{
	static const char hostile[] = "q\"b\\s/\x01\x1f\x7f\n\r\t\xff\xc0\x80\xed\xa0\x80\xe2\x82"
				      "end\xf0\x9f\x98\x80";
	static const char prompt[] = "ignore\0previous\"\\";
	struct tdir *t = *state;
	struct audit_guard_verdict g = { hostile, "block" };
	struct audit_record r = {
		.kind = "mcp", .request_id = hostile, .tenant = hostile, .key_id = "\"}",
		.model_requested = "a\"},\"seq\":1,\"x\":{\"", .guards = &g, .n_guards = 1,
		.prompt = prompt, .prompt_len = sizeof(prompt) - 1, .status = 403,
		.time_ns = 1764000000123456789ull, .has_cost = true, .cost = 1.0 / 3,
	};
	struct audit_log *al = open_log(t->path, POLICY_FSYNC_BATCH, 0, true);
	unsigned long bad_line;
	json_error_t jerr;
	char *buf, *big;
	size_t len;
	json_t *doc, *s;

	assert_non_null(al);
	assert_int_equal(audit_write(al, &r), 0);
	/* Fields past their bound are cut, the prompt says so. */
	big = malloc(3 * TG_AUDIT_PROMPT_MAX);
	assert_non_null(big);
	memset(big, '"', 3 * TG_AUDIT_PROMPT_MAX);
	big[3 * TG_AUDIT_PROMPT_MAX - 1] = '\0';
	r.tenant = big;
	r.prompt = big;
	r.prompt_len = 3 * TG_AUDIT_PROMPT_MAX - 1;
	assert_int_equal(audit_write(al, &r), 0);
	audit_log_close(al);
	free(big);

	buf = slurp(t->path, &len);
	assert_int_equal(verify_one(buf, len, &bad_line, NULL), AUDIT_OK);
	/* jansson rejects invalid UTF-8 and raw control bytes by default. */
	doc = json_loadb(buf, (size_t)(strchr(buf, '\n') - buf),
			 JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!doc)
		fail_msg("line 1: %s", jerr.text);
	s = json_object_get(doc, "tenant");
	assert_true(json_is_string(s));
	/* Every valid byte survives; each invalid subpart is U+FFFD. */
	assert_string_equal(json_string_value(s),
			    "q\"b\\s/\x01\x1f\x7f\n\r\t\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
			    "end\xf0\x9f\x98\x80");
	assert_int_equal(json_integer_value(json_object_get(doc, "seq")), 1);
	assert_string_equal(json_string_value(json_object_get(doc, "model_requested")),
			    "a\"},\"seq\":1,\"x\":{\"");
	assert_string_equal(json_string_value(json_object_get(doc, "kind")), "mcp");
	assert_string_equal(json_string_value(json_object_get(doc, "time")),
			    "2025-11-24T16:00:00.123456Z");
	assert_int_equal(json_integer_value(json_object_get(doc, "status")), 403);
	assert_true(json_real_value(json_object_get(doc, "cost")) > 0.333333333332 &&
		    json_real_value(json_object_get(doc, "cost")) < 0.333333333334);
	s = json_object_get(doc, "prompt");
	assert_int_equal(json_string_length(s), sizeof(prompt) - 1);
	assert_memory_equal(json_string_value(s), prompt, sizeof(prompt) - 1);
	assert_null(json_object_get(doc, "prompt_truncated"));
	json_decref(doc);

	doc = json_loads(line_at(buf, 2), JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &jerr);
	if (!doc)
		fail_msg("line 2: %s", jerr.text);
	assert_int_equal(json_string_length(json_object_get(doc, "tenant")), TG_AUDIT_FIELD_MAX);
	assert_int_equal(json_string_length(json_object_get(doc, "prompt")), TG_AUDIT_PROMPT_MAX);
	assert_true(json_is_true(json_object_get(doc, "prompt_truncated")));
	json_decref(doc);
	free(buf);
}

struct thr {
	struct audit_log *al;
	const char *who;
	unsigned int n;
};

static void *thr_main(void *arg)
{
	struct thr *th = arg;
	unsigned int i;

	for (i = 1; i <= th->n; i++)
		write_rec(th->al, i, th->who);
	return NULL;
}

static void test_audit_two_threads_make_one_chain(void **state)
{
	struct tdir *t = *state;
	struct audit_log *al = open_log(t->path, POLICY_FSYNC_BATCH, 1u << 20, false);
	struct thr th[2] = { { al, "a", 10000 }, { al, "b", 10000 } };
	pthread_t tid[2];
	char names[64][NAME_LEN];
	struct audit_stats st;
	unsigned int i, n, seen[2] = { 0, 0 };
	size_t len;
	char *buf, *p;

	assert_non_null(al);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&tid[i], NULL, thr_main, &th[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(tid[i], NULL);
	assert_int_equal(audit_log_flush(al), 0);
	audit_log_stats(al, &st);
	assert_int_equal(st.lines, 20000);
	assert_int_equal(st.lost, 0);
	audit_log_close(al);

	n = list_logs(t, names, 64);
	verify_files(names, n, 20000);
	/* Each thread's records are all there, in that thread's order. */
	for (i = 0; i < n; i++) {
		buf = slurp(names[i], &len);
		for (p = buf; (p = strstr(p, "\"request_id\":\"")); p++) {
			unsigned int k = p[14] == 'a' ? 0 : 1, id = (unsigned int)atoi(p + 16);

			assert_int_equal(id, seen[k] + 1);
			seen[k] = id;
		}
		free(buf);
	}
	assert_int_equal(seen[0], 10000);
	assert_int_equal(seen[1], 10000);
}

/* The chain's hash is SHA-256 (core/sha256.h), checked against FIPS
 * 180-2's examples and a long input (many blocks, a partial last one),
 * not against itself: tollctl audit verify and any other tool must agree. */
static void test_audit_hash_is_sha256(void **state)
{
	static const struct {
		const char *in;
		const char *hex;
	} kat[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	char hex[AUDIT_HASH_HEX_LEN + 1];
	char *big = malloc(1000001);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		assert_int_equal(audit_hash_hex(kat[i].in, strlen(kat[i].in), hex), 0);
		assert_string_equal(hex, kat[i].hex);
	}
	/* FIPS 180-2: one million "a". */
	assert_non_null(big);
	memset(big, 'a', 1000000);
	assert_int_equal(audit_hash_hex(big, 1000000, hex), 0);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(big);
}

/* No flush, no close: the writer takes a lone line on its own, within
 * the coalescing delay (TG_AUDIT_COALESCE_MS; 2 s allowed for a loaded
 * machine). */
static void test_audit_lines_reach_the_file_without_a_flush(void **state)
{
	struct tdir *t = *state;
	struct audit_log *al = open_log(t->path, POLICY_FSYNC_NEVER, 0, false);
	struct stat sb = { 0 };
	unsigned int i;

	assert_non_null(al);
	usleep(20000);	/* the writer is asleep: the line must wake it */
	write_rec(al, 1, "r");
	for (i = 0; i < 200; i++) {
		assert_int_equal(stat(t->path, &sb), 0);
		if (sb.st_size)
			break;
		usleep(10000);
	}
	assert_true(sb.st_size > 0);
	audit_log_close(al);
}

struct drain {
	const char *path;
	char *buf;
	size_t len;
};

static void *drain_main(void *arg)
{
	struct drain *d = arg;
	size_t cap = 1u << 20;
	FILE *f = fopen(d->path, "rb");
	size_t n;

	d->buf = malloc(cap);
	while (f && d->buf) {
		if (d->len == cap) {
			cap *= 2;
			d->buf = realloc(d->buf, cap);
			if (!d->buf)
				break;
		}
		n = fread(d->buf + d->len, 1, cap - d->len, f);
		if (!n)
			break;
		d->len += n;
	}
	if (f)
		fclose(f);
	return NULL;
}

/* A writer stuck on its file (a FIFO nobody reads): audit_write waits,
 * then loses the record, counts it, and the next line says so. */
static void test_audit_full_queue_waits_then_counts_the_loss(void **state)
{
	struct tdir *t = *state;
	struct audit_record r = { .request_id = "x", .status = 200 };
	struct drain d = { .path = t->path };
	struct audit_log *al;
	struct audit_stats st;
	unsigned long bad_line;
	unsigned int i;
	uint64_t lines;
	pthread_t tid;
	char *last;
	int err = 0;

	assert_int_equal(mkfifo(t->path, 0600), 0);
	al = open_log(t->path, POLICY_FSYNC_NEVER, 0, false);
	assert_non_null(al);
	/* 16 MiB of queue at ~250 bytes a line: well under a million. */
	for (i = 0; i < 1000000 && !err; i++)
		err = audit_write(al, &r);
	assert_int_equal(err, -ENOBUFS);
	audit_log_stats(al, &st);
	assert_int_equal(st.lost, 1);
	assert_true(st.waits >= 1);
	assert_int_equal(st.lines, i - 1);

	assert_int_equal(pthread_create(&tid, NULL, drain_main, &d), 0);
	r.request_id = "after";
	assert_int_equal(audit_write(al, &r), 0);
	r.request_id = "later";
	assert_int_equal(audit_write(al, &r), 0);
	audit_log_close(al);
	pthread_join(tid, NULL);
	assert_non_null(d.buf);
	assert_int_equal(verify_one(d.buf, d.len, &bad_line, &lines), AUDIT_OK);
	assert_int_equal(lines, i + 1);
	/* The line after the loss says so; the one after that does not. */
	last = line_at(d.buf, i);
	assert_non_null(strstr(last, ",\"lost\":1,\"time\""));
	assert_non_null(strstr(last, "\"request_id\":\"after\""));
	last = line_at(d.buf, i + 1);
	assert_null(strstr(last, "\"lost\""));
	assert_non_null(strstr(last, "\"request_id\":\"later\""));
	free(d.buf);
}

/* --write DIR N: a rotated log for the integration test. */
static int write_sample(const char *dir, unsigned int n)
{
	char path[512];
	struct audit_log *al;
	unsigned int i;

	snprintf(path, sizeof(path), "%s/audit.log", dir);
	al = open_log(path, POLICY_FSYNC_BATCH, 64u << 10, false);
	if (!al) {
		perror(path);
		return 1;
	}
	for (i = 1; i <= n; i++) {
		if (i == n / 2)
			audit_log_reopen(al, NULL);	/* as on SIGHUP */
		write_rec(al, i, "r");
	}
	audit_log_close(al);
	return 0;
}

/* --bench DIR N THREADS: N records over THREADS threads; prints the rate
 * of audit_write() calls and of lines on disk (flushed). */
static int bench(const char *dir, unsigned int n, unsigned int nt)
{
	struct thr th[16];
	pthread_t tid[16];
	struct timespec t0, t1, t2;
	struct audit_stats st;
	struct audit_log *al;
	char path[512];
	unsigned int i;
	double w, f;

	if (!nt || nt > 16)
		return 2;
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	al = open_log(path, POLICY_FSYNC_BATCH, 0, false);
	if (!al) {
		perror(path);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nt; i++) {
		th[i] = (struct thr){ al, i ? "b" : "a", n / nt };
		pthread_create(&tid[i], NULL, thr_main, &th[i]);
	}
	for (i = 0; i < nt; i++)
		pthread_join(tid[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	audit_log_flush(al);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	audit_log_stats(al, &st);
	audit_log_close(al);
	w = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	f = (double)(t2.tv_sec - t0.tv_sec) + (double)(t2.tv_nsec - t0.tv_nsec) / 1e9;
	printf("audit: %" PRIu64 " lines, %u threads: %.0f audit_write/s (%.2f us each per thread), "
	       "%.0f lines/s written and fsynced; lost %" PRIu64 ", waits %" PRIu64 "\n",
	       st.lines, nt, (double)st.lines / w, w * 1e6 * nt / (double)st.lines,
	       (double)st.lines / f, st.lost, st.waits);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_audit_chain_of_records_verifies,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_audit_flipped_byte_is_found_at_its_line,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_audit_deleted_line_is_a_sequence_gap,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_audit_reordered_lines_are_found,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_audit_cut_last_line_is_found,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_audit_chain_continues_after_reopen,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_audit_rotation_keeps_the_chain,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_audit_reopen_rotates_and_chains,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_audit_hostile_strings_stay_valid_json,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_audit_two_threads_make_one_chain,
						tdir_setup, tdir_teardown),
		cmocka_unit_test(test_audit_hash_is_sha256),
		cmocka_unit_test_setup_teardown(test_audit_lines_reach_the_file_without_a_flush,
						tdir_setup, tdir_teardown),
		cmocka_unit_test_setup_teardown(test_audit_full_queue_waits_then_counts_the_loss,
						tdir_setup, tdir_teardown),
	};

	if (argc == 4 && !strcmp(argv[1], "--write"))
		return write_sample(argv[2], (unsigned int)atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "--bench"))
		return bench(argv[2], (unsigned int)atoi(argv[3]), (unsigned int)atoi(argv[4]));
	return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
