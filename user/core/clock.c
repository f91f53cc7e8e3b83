// SPDX-License-Identifier: Apache-2.0
/* The per-thread clock readings of clock.h. */
#include "core/clock.h"

__thread struct clock_cache clock_cache;
