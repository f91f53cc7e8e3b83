// SPDX-License-Identifier: Apache-2.0
/*
 * Measuring driver for tests/estimate/measure.mjs: reads records
 * "<length>\n<bytes>" from stdin and prints, per record, the estimate and
 * the estimator's feature counts ("est f0 f1 ..."). It includes the
 * estimator's source so it sees the static counting pass that the
 * library keeps private; the estimate itself is the library's function.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../user/llm/estimate.c"

int main(void)
{
	size_t cap = 0, len;
	char *buf = NULL;

	while (scanf("%zu", &len) == 1 && getchar() == '\n') {
		struct est_state st = { .run = EST_F_NR };
		int f;

		if (len > cap) {
			char *nb = realloc(buf, len);

			if (!nb) {
				fprintf(stderr, "driver: out of memory\n");
				free(buf);
				return 1;
			}
			buf = nb;
			cap = len;
		}
		if (fread(buf, 1, len, stdin) != len) {
			fprintf(stderr, "driver: short record\n");
			free(buf);
			return 1;
		}
		est_count(&st, buf, len);
		printf("%" PRIu64, llm_estimate_tokens(buf, len));
		for (f = 0; f < EST_F_NR; f++)
			printf(" %" PRIu64, st.count[f]);
		printf("\n");
	}
	free(buf);
	return 0;
}
