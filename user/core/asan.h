/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TG_ASAN is 1 in builds under AddressSanitizer, gcc's and clang's alike
 * (clang 14 does not define __SANITIZE_ADDRESS__; the libFuzzer targets
 * are built with it). Code that keeps freed memory for reuse (the block
 * cache, spare call objects) gives it back to malloc there instead, so a
 * use after free still shows.
 */
#ifndef TOLLGATE_ASAN_H
#define TOLLGATE_ASAN_H

#if defined(__SANITIZE_ADDRESS__)
#define TG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_ASAN 1
#endif
#endif
#ifndef TG_ASAN
#define TG_ASAN 0
#endif

#endif /* TOLLGATE_ASAN_H */
