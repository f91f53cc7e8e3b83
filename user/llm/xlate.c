// SPDX-License-Identifier: Apache-2.0
/*
 * What the translators share: dialect names and the finish reasons each
 * format writes. The translators are xlate_req.c (requests, whole answers,
 * errors) and xlate_stream.c (streams).
 */
#include <string.h>

#include "llm/xlate.h"

const char *xl_dialect_name(enum xl_dialect d)
{
	switch (d) {
	case XL_OPENAI: return "openai";
	case XL_ANTHROPIC: return "anthropic";
	case XL_GEMINI: return "gemini";
	case XL_BEDROCK: return "bedrock";
	}
	return "?";
}

/* Indexed by enum xl_finish, then enum xl_dialect. */
static const char *const finish_names[][4] = {
	[XL_FIN_NONE]	= { NULL, NULL, NULL, NULL },
	[XL_FIN_STOP]	= { "stop", "end_turn", "STOP", "end_turn" },
	[XL_FIN_LENGTH]	= { "length", "max_tokens", "MAX_TOKENS", "max_tokens" },
	[XL_FIN_TOOL]	= { "tool_calls", "tool_use", "STOP", "tool_use" },
	[XL_FIN_FILTER]	= { "content_filter", "refusal", "SAFETY", "content_filtered" },
};

const char *xl_finish_name(enum xl_dialect d, enum xl_finish f)
{
	if ((unsigned)f >= sizeof(finish_names) / sizeof(finish_names[0]) || (unsigned)d > XL_BEDROCK)
		return NULL;
	return finish_names[f][d];
}

enum xl_finish xl_finish_parse(enum xl_dialect d, const char *s)
{
	static const char *const filtered[] = {
		/* Gemini */ "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY",
		/* Bedrock */ "content_filtered", "guardrail_intervened",
		/* OpenAI, Anthropic */ "content_filter", "refusal",
	};
	size_t i;

	if (!s)
		return XL_FIN_NONE;
	for (i = 0; i < sizeof(filtered) / sizeof(filtered[0]); i++)
		if (!strcmp(s, filtered[i]))
			return XL_FIN_FILTER;
	if (!strcmp(s, "length") || !strcmp(s, "max_tokens") || !strcmp(s, "MAX_TOKENS"))
		return XL_FIN_LENGTH;
	/* Gemini says STOP after a function call too: its callers look at
	 * the parts. */
	if (d != XL_GEMINI && (!strcmp(s, "tool_calls") || !strcmp(s, "tool_use") ||
			       !strcmp(s, "function_call")))
		return XL_FIN_TOOL;
	return XL_FIN_STOP;
}
