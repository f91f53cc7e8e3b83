// SPDX-License-Identifier: Apache-2.0
/*
 * The audit line's hand-written members against what printf would write:
 * "cost" is "%.12g" of the record's cost whether the fast path (a cost of
 * k / 1e9) or snprintf wrote it, and the chain prefix ({"seq":N,"prev":...}
 * and "lost") reads back as the numbers written. Lines are written through
 * audit_write() and read back from the file.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "obs/audit.h"
#include "policy/policy.h"

struct tlog {
	char dir[64];
	char path[128];
	struct audit_log *al;
};

static int tlog_setup(void **state)
{
	struct policy_audit cfg = { .enabled = true, .fsync = POLICY_FSYNC_NEVER };
	struct tlog *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/test-audit-fmt-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/audit.log", t->dir);
	cfg.path = t->path;
	t->al = audit_log_open(&cfg);
	if (!t->al) {
		rmdir(t->dir);
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int tlog_teardown(void **state)
{
	struct tlog *t = *state;

	audit_log_close(t->al);
	unlink(t->path);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* The text of member `name` (a number) in `line`, into out. */
static void member_text(const char *line, const char *name, char *out, size_t cap)
{
	char key[64];
	const char *p;
	size_t n;

	snprintf(key, sizeof(key), "\"%s\":", name);
	p = strstr(line, key);
	assert_non_null(p);
	p += strlen(key);
	n = strcspn(p, ",}");
	assert_true(n < cap);
	memcpy(out, p, n);
	out[n] = '\0';
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

#define N_COSTS	6000

/* Costs as llm_call_finish makes them (billionths / 1e9) at every
 * magnitude and with every number of trailing zeros, around the %e/%f
 * switch at 1e-4 and the fast path's end at 1000, and doubles that are
 * no such quotient (the snprintf path). */
static double cost_case(unsigned int i)
{
	static const double odd[] = { 0.1, 1.0 / 3, 2.5e-7, 1e-10, 123.456789012345,
				      999.999999999, 999.9999999999, 1000, 1234.5, 1e15,
				      -0.0, -1.5, 5e-324, 0.30000000000000004 };
	static const uint64_t k_edge[] = { 0, 1, 9, 10, 99999, 100000, 100001, 999999,
					   1000000, 54750, 999999999999ull, 1000000000,
					   120000000, 500000 };
	uint64_t k, p10 = 1;
	unsigned int d;

	if (i < sizeof(odd) / sizeof(odd[0]))
		return odd[i];
	i -= sizeof(odd) / sizeof(odd[0]);
	if (i < sizeof(k_edge) / sizeof(k_edge[0]))
		return (double)k_edge[i] / 1e9;
	/* k with d digits, then a run of its low digits zeroed */
	d = 1 + (unsigned int)(rnd() % 12);
	while (--d)
		p10 *= 10;
	k = p10 + rnd() % (9 * p10);
	for (d = (unsigned int)(rnd() % 8), p10 = 1; d; d--)
		p10 *= 10;
	if (k > p10)
		k = k / p10 * p10;
	if (rnd() % 8 == 0)
		return (double)(rnd() % 2000000) / 1e6 + 1e-13;	/* not a quotient */
	return (double)k / 1e9;
}

static void test_audit_cost_is_printf_g12_text(void **state)
{
	struct tlog *t = *state;
	struct audit_record r = { .request_id = "r", .has_cost = true, .status = 200 };
	char line[4096], got[64], want[64];
	unsigned int i;
	FILE *f;

	for (i = 0; i < N_COSTS; i++) {
		r.cost = cost_case(i);
		assert_int_equal(audit_write(t->al, &r), 0);
	}
	assert_int_equal(audit_log_flush(t->al), 0);
	rnd_state = 0x9e3779b97f4a7c15ull;	/* the same costs again */
	f = fopen(t->path, "r");
	assert_non_null(f);
	for (i = 0; i < N_COSTS; i++) {
		double c = cost_case(i);

		assert_non_null(fgets(line, sizeof(line), f));
		member_text(line, "cost", got, sizeof(got));
		snprintf(want, sizeof(want), "%.12g", c);
		if (strcmp(got, want))
			fail_msg("cost %a: wrote %s, %%.12g gives %s", c, got, want);
	}
	fclose(f);
}

static void test_audit_prefix_numbers_read_back(void **state)
{
	struct tlog *t = *state;
	struct audit_record r = { .request_id = "r", .status = 200 };
	char line[4096], got[64], want[64];
	char prev[AUDIT_HASH_HEX_LEN + 1];
	unsigned int i;
	FILE *f;

	for (i = 0; i < 1200; i++)
		assert_int_equal(audit_write(t->al, &r), 0);
	assert_int_equal(audit_log_flush(t->al), 0);
	f = fopen(t->path, "r");
	assert_non_null(f);
	assert_int_equal(audit_hash_hex(AUDIT_GENESIS, strlen(AUDIT_GENESIS), prev), 0);
	for (i = 1; i <= 1200; i++) {
		size_t n;

		assert_non_null(fgets(line, sizeof(line), f));
		n = strlen(line);
		snprintf(want, sizeof(want), "{\"seq\":%u,\"prev\":\"", i);
		assert_memory_equal(line, want, strlen(want));
		assert_memory_equal(line + strlen(want), prev, AUDIT_HASH_HEX_LEN);
		assert_int_equal(line[strlen(want) + AUDIT_HASH_HEX_LEN], '"');
		member_text(line, "seq", got, sizeof(got));
		snprintf(want, sizeof(want), "%u", i);
		assert_string_equal(got, want);
		assert_true(n > 1 && line[n - 1] == '\n');
		assert_int_equal(audit_hash_hex(line, n - 1, prev), 0);
	}
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_audit_cost_is_printf_g12_text, tlog_setup,
						tlog_teardown),
		cmocka_unit_test_setup_teardown(test_audit_prefix_numbers_read_back, tlog_setup,
						tlog_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
