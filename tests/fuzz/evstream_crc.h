/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For the fuzz targets that feed AWS event streams (fuzz_evstream,
 * fuzz_xlate_stream): rewriting the CRCs of mutated input lets the fuzzer
 * reach past the checksum checks into the headers and the JSON.
 */
#ifndef TOLLGATE_FUZZ_EVSTREAM_CRC_H
#define TOLLGATE_FUZZ_EVSTREAM_CRC_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "llm/evstream.h"

static inline void fuzz_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Rewrites each message's prelude and message CRCs as far as the lengths
 * allow. */
static inline void fuzz_fix_crcs(uint8_t *p, size_t len)
{
	size_t pos = 0;

	while (len - pos >= EVSTREAM_PRELUDE_LEN) {
		uint8_t *m = p + pos;
		uint32_t total = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 |
				 (uint32_t)m[2] << 8 | m[3];

		fuzz_put32(m + 8, (uint32_t)crc32(0, m, 8));
		if (total < EVSTREAM_OVERHEAD || total > len - pos)
			break;
		fuzz_put32(m + total - 4, (uint32_t)crc32(0, m, total - 4));
		pos += total;
	}
}

#endif /* TOLLGATE_FUZZ_EVSTREAM_CRC_H */
