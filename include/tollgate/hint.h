/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
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

#endif /* TOLLGATE_HINT_H */
