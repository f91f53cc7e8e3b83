// SPDX-License-Identifier: Apache-2.0
/*
 * user/kern/maps without a datapath: source keys parsed zero-padded, the
 * pin directory's precedence, and the "not attached" error. The maps
 * themselves are covered by tests/integration/test_inspect.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include <tollgate/abi.h>

#include "kern/maps.h"

static void test_maps_src_key_ipv4_is_word0_zero_padded(void **state)
{
	struct tg_src_key k;

	(void)state;
	memset(&k, 0xa5, sizeof(k));
	assert_int_equal(kern_src_key_parse("192.0.2.7", &k), 0);
	assert_int_equal(k.family, TG_FAMILY_IPV4);
	assert_int_equal(k.addr[0], htonl(0xc0000207));
	assert_int_equal(k.addr[1] | k.addr[2] | k.addr[3], 0);
	assert_int_equal(k.pad[0] | k.pad[1] | k.pad[2], 0);
}

static void test_maps_src_key_ipv6(void **state)
{
	struct tg_src_key k;
	char buf[64];

	(void)state;
	memset(&k, 0xa5, sizeof(k));
	assert_int_equal(kern_src_key_parse("2001:DB8:0::1", &k), 0);
	assert_int_equal(k.family, TG_FAMILY_IPV6);
	assert_int_equal(k.pad[0] | k.pad[1] | k.pad[2], 0);
	assert_string_equal(kern_addr_format(k.family, k.addr, buf, sizeof(buf)),
			    "2001:db8::1");
}

static void test_maps_src_key_rejects_prefixes_and_garbage(void **state)
{
	static const char *const bad[] = {
		"", "10.0.0.0/24", "2001:db8::/32", "10.0.0", "10.0.0.256",
		"example", " 10.0.0.1", "10.0.0.1 ", "::1%lo", "[::1]",
	};
	struct tg_src_key k;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kern_src_key_parse(bad[i], &k), -EINVAL);
}

static void test_maps_addr_format_unknown_family(void **state)
{
	const __u32 a[4] = { 0 };
	char buf[64];

	(void)state;
	assert_string_equal(kern_addr_format(0, a, buf, sizeof(buf)), "?");
}

static void test_maps_pin_dir_precedence(void **state)
{
	(void)state;
	unsetenv(KERN_PIN_DIR_ENV);
	assert_string_equal(kern_pin_dir(NULL), TG_PIN_DIR);
	setenv(KERN_PIN_DIR_ENV, "", 1);
	assert_string_equal(kern_pin_dir(NULL), TG_PIN_DIR);
	setenv(KERN_PIN_DIR_ENV, "/sys/fs/bpf/other", 1);
	assert_string_equal(kern_pin_dir(NULL), "/sys/fs/bpf/other");
	assert_string_equal(kern_pin_dir("/given"), "/given");
	unsetenv(KERN_PIN_DIR_ENV);
}

static void test_maps_open_missing_dir_says_run_attach(void **state)
{
	char err[512];
	struct kern_maps *m;

	(void)state;
	errno = 0;
	m = kern_maps_open("/nonexistent/tollgate-test", err, sizeof(err));
	assert_null(m);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(err, "no tollgate maps pinned under /nonexistent/tollgate-test: "
			    "run tollctl attach");
}

static void test_maps_open_dir_without_maps_says_run_attach(void **state)
{
	char dir[] = "/tmp/tg-test-maps-XXXXXX", err[512];
	struct kern_maps *m;

	(void)state;
	assert_non_null(mkdtemp(dir));
	errno = 0;
	m = kern_maps_open(dir, err, sizeof(err));
	rmdir(dir);
	assert_null(m);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "run tollctl attach"));
}

static void test_maps_names_and_hooks(void **state)
{
	(void)state;
	assert_string_equal(kern_map_name(KERN_MAP_FLOWS), TG_MAP_FLOWS);
	assert_string_equal(kern_map_name(KERN_MAP_EVENTS), TG_MAP_EVENTS);
	assert_string_equal(kern_map_name(KERN_MAP__COUNT), "unknown");
	assert_string_equal(kern_hook_name(TG_HOOK_XDP_INGRESS), "xdp_ingress");
	assert_string_equal(kern_hook_name(TG_HOOK_TC_EGRESS), "tc_egress");
	assert_string_equal(kern_hook_name(TG_HOOK__COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps_src_key_ipv4_is_word0_zero_padded),
		cmocka_unit_test(test_maps_src_key_ipv6),
		cmocka_unit_test(test_maps_src_key_rejects_prefixes_and_garbage),
		cmocka_unit_test(test_maps_addr_format_unknown_family),
		cmocka_unit_test(test_maps_pin_dir_precedence),
		cmocka_unit_test(test_maps_open_missing_dir_says_run_attach),
		cmocka_unit_test(test_maps_open_dir_without_maps_says_run_attach),
		cmocka_unit_test(test_maps_names_and_hooks),
	};

	return cmocka_run_group_tests_name("maps", tests, NULL, NULL);
}
