/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Hints both sides of the kernel boundary compute alike: the XDP program,
 * which reads them, and user space (and the tests), which write them.
 *
 * The penalty box's hint (tg_penalty_hint, abi.h): which bits of which word
 * a source address sets. Compiled unchanged by the XDP program, which tests
 * the bits before it looks the address up, and by user space, which sets
 * them when it puts an address in the box: the two must agree bit for bit,
 * so this is the one definition. A source whose bits are not all set is not
 * in the box, and its packet skips the hash lookup (a cache miss per packet
 * of a spoofed flood); bits are never cleared while maps stay pinned, so an
 * address once in the box only costs a lookup, never a wrong verdict.
 */
#ifndef TOLLGATE_HINT_H
#define TOLLGATE_HINT_H

#include <linux/types.h>

#include <tollgate/abi.h>
#include <tollgate/limits.h>

/* Two bits of one word per address (one cache line to read). */
static __inline__ __attribute__((always_inline)) void
tg_penalty_hint_of(const struct tg_src_key *k, __u32 *word, __u64 *bits)
{
	__u64 h;

	h = ((__u64)k->addr[0] << 32 | k->addr[1]) * 0x9e3779b97f4a7c15ull;
	h ^= ((__u64)k->addr[2] << 32 | k->addr[3]) * 0xc2b2ae3d27d4eb4full;
	h ^= k->family;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	*word = (__u32)h & (TG_PENALTY_HINT_WORDS - 1);
	*bits = (1ull << ((h >> 40) & 63)) | (1ull << ((h >> 46) & 63));
}

/* tg_tenant_cache (abi.h): the slot of an IPv4 source (network order),
 * placed by the node's seed so that nobody outside can choose which
 * sources evict each other, and the word that caches its tenant. */
_Static_assert(TG_KERN_TENANT_SLOTS <= 0xffff, "a tenant id fits tg_tenant_cache's 16 bits");

static __inline__ __attribute__((always_inline)) __u32
tg_tenant_cache_slot(__u32 addr, __u32 seed)
{
	__u64 h = ((__u64)seed << 32 | addr) * 0x9e3779b97f4a7c15ull;

	return (__u32)(h >> 40) & (TG_TENANT_CACHE_SLOTS - 1);
}

static __inline__ __attribute__((always_inline)) __u64
tg_tenant_cache_word(__u32 addr, __u32 tenant, __u16 gen)
{
	return (__u64)addr << 32 | (__u64)(tenant & 0xffff) << 16 | gen;
}

#endif /* TOLLGATE_HINT_H */
