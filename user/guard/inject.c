// SPDX-License-Identifier: Apache-2.0
/*
 * The shipped prompt-injection and jailbreak patterns. Each has a weight;
 * a prompt's score is the sum of the weights of the distinct patterns that
 * match, and it is an injection at GUARD_INJECTION_THRESHOLD. A weight of
 * the threshold means one match is enough (phrasings that have no benign
 * reading); smaller weights are hints that count only together. The list
 * and its rationale are in docs/guard.md ("Injection patterns"); keep the
 * two in step.
 *
 * Hyperscan syntax (PCRE subset), matched case-insensitively unless the
 * pattern says (?-i).
 */
#include "guard/inject.h"

const struct guard_builtin guard_injection_builtin[] = {
	{ "ignore_previous",
	  "\\b(ignore|disregard|forget|skip|override|bypass)\\s+(all\\s+|any\\s+|the\\s+|your\\s+|my\\s+|every\\s+|of\\s+)*"
	  "(previous|prior|above|earlier|preceding|foregoing|original|initial|system)\\s+"
	  "(instructions?|prompts?|directions?|rules|guidelines|context|messages?|commands?)", 10 },
	{ "system_prompt_leak",
	  "\\b(reveal|show|print|repeat|output|display|leak|dump|tell\\s+me|give\\s+me|share|what\\s+(is|are|was|were))\\s+"
	  "(me\\s+)?(your|the)\\s+(full\\s+|entire\\s+|original\\s+|hidden\\s+|initial\\s+|exact\\s+|secret\\s+)*"
	  "(system\\s+prompt|system\\s+message|initial\\s+instructions|hidden\\s+instructions|instructions\\s+above|developer\\s+message)", 10 },
	{ "repeat_above",
	  "\\brepeat\\s+(everything|all|the\\s+text|the\\s+words|the\\s+instructions)\\s+(above|before|preceding)", 8 },
	{ "dan",
	  "(?-i)\\bDAN\\b|\\bdo\\s+anything\\s+now\\b", 6 },
	{ "developer_mode",
	  "\\b(developer|god|jailbreak|jailbroken|unrestricted|unfiltered|dan)\\s+mode\\b", 6 },
	{ "you_are_now",
	  "\\byou\\s+are\\s+now\\s+(a|an|in|my|the|no\\s+longer|free|unrestricted|DAN)\\b", 5 },
	{ "new_instructions",
	  "\\b(new|updated|revised|real|actual)\\s+(system\\s+)?instructions?\\s*:", 5 },
	{ "no_restrictions",
	  "\\b(without|no|free\\s+of|bypass(ing)?|ignore|ignoring|remove|disable|turn\\s+off)\\s+(any\\s+|all\\s+|your\\s+|the\\s+)*"
	  "(restrictions|filters|guardrails|safety\\s+(guidelines|filters|measures|rules)|content\\s+polic(y|ies)|ethical\\s+guidelines|moral\\s+constraints)", 5 },
	{ "pretend_unrestricted",
	  "\\b(pretend|act\\s+as\\s+if|imagine|suppose)\\s+(that\\s+)?you\\s+(are|were|have)\\s+"
	  "(not\\s+bound|no\\s+(rules|restrictions|limits|filters|guidelines)|an?\\s+(unfiltered|uncensored|unrestricted|evil|jailbroken|amoral))", 6 },
	{ "from_now_on",
	  "\\b(from\\s+now\\s+on|for\\s+the\\s+rest\\s+of\\s+(this|the)\\s+conversation)\\s*,?\\s+you\\s+(will|are|must|shall|should)\\b", 3 },
	{ "stay_in_character",
	  "\\b(stay|remain)\\s+in\\s+character\\b", 3 },
	{ "fake_role_tag",
	  "<\\|?(im_start|im_end|system|endoftext)\\|?>|\\[/?(INST|SYS)\\]|<<SYS>>|###\\s*(system|instruction)s?\\s*:", 6 },
	{ "base64_smuggle",
	  "\\b(decode|base64[- ]?decode)\\s+(this|the\\s+following|it)\\s*(and|,|then|:)?\\s*(then\\s+)?(follow|execute|run|obey|do\\s+what)", 10 },
	{ "base64_blob",
	  "\\bbase64\\s*[:=]\\s*[A-Za-z0-9+/]{40}", 3 },
	{ "previous_void",
	  "\\byour\\s+(previous|prior|original|old)\\s+(instructions|programming|rules|guidelines)\\s+(are|were|have\\s+been|no\\s+longer)", 6 },
	{ "persona_jailbreak",
	  "\\b(evil\\s+confidant|opposite\\s+mode|anti-?gpt|betterdan|aim\\s+mode|unaligned\\s+ai)\\b", 6 },
	{ "privilege_claim",
	  "\\b(admin|sudo|root|developer)\\s+(override|access\\s+granted|mode\\s+(enabled|activated))", 4 },
	{ "precedence_claim",
	  "\\bthis\\s+(message|instruction|prompt)\\s+(overrides|supersedes|takes\\s+precedence\\s+over)", 6 },
	{ "hide_from_user",
	  "\\b(do\\s+not|don't|never)\\s+(tell|inform|mention\\s+(this\\s+)?to|reveal\\s+(this\\s+)?to|let)\\s+the\\s+user", 5 },
	{ "markdown_exfil",
	  "!\\[[^\\]\\n]*\\]\\(https?://[^)\\s]*[?&](data|q|secret|prompt|p|d)=", 4 },
};

const unsigned int guard_injection_n_builtin =
	sizeof(guard_injection_builtin) / sizeof(guard_injection_builtin[0]);
