// SPDX-License-Identifier: Apache-2.0
/*
 * Translation of requests, whole answers and errors between the LLM wire
 * formats (user/llm/xlate_req.c). Outputs are compared as parsed JSON
 * (json_equal), never as strings. Inputs sit right before a guard page, so
 * reading past a body crashes. JSON in this file is written with ' for "
 * (q() swaps them back) to keep it readable.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "guard_page.h"
#include "llm/xlate.h"

/* s with every ' turned into ", in a buffer the caller frees. */
static char *q(const char *s)
{
	char *out = strdup(s), *p;

	assert_non_null(out);
	for (p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

static json_t *J(const char *s)
{
	char *t = q(s);
	json_error_t e;
	json_t *j = json_loads(t, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);

	if (!j)
		fail_msg("test JSON does not parse: %s at %d: %s", e.text, e.position, t);
	free(t);
	return j;
}

static void expect_json(const struct buf *out, const char *want_q, const char *name)
{
	json_t *want = J(want_q), *got = json_loadb(out->p, out->len, JSON_REJECT_DUPLICATES, NULL);

	if (!got || !json_equal(got, want)) {
		char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
		char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

		print_error("%s:\n want %s\n  got %s\n raw  %.*s\n", name, w, g ? g : "(not JSON)",
			    (int)out->len, out->p);
		free(w);
		free(g);
		json_decref(want);
		json_decref(got);
		fail();
	}
	json_decref(want);
	json_decref(got);
}

static int request(enum xl_dialect from, enum xl_dialect to, const char *body, size_t len,
		   const char *model, bool stream, struct buf *out, char *err, size_t errlen)
{
	struct guarded g = { 0 };
	int rc;

	assert_int_equal(guarded_init(&g, body, len), 0);
	rc = xl_request(from, to, g.data, len, model, stream, out, err, errlen);
	guarded_fini(&g);
	return rc;
}

static int response(enum xl_dialect from, enum xl_dialect to, const char *body, size_t len,
		    const char *model, const char *id, struct buf *out)
{
	struct guarded g = { 0 };
	int rc;

	assert_int_equal(guarded_init(&g, body, len), 0);
	rc = xl_response(from, to, g.data, len, model, id, out);
	guarded_fini(&g);
	return rc;
}

/* ---- whole requests, every pair ------------------------------------------- */

#define SCHEMA_CITY \
	"{'type':'object','properties':{'city':{'type':'string'}},'required':['city']}"

static const char OA_FULL[] =
	"{'model':'gpt-4o','messages':["
	"{'role':'system','content':'Be brief.'},"
	"{'role':'developer','content':[{'type':'text','text':'Use metric units.'}]},"
	"{'role':'user','content':'Weather in Paris?'},"
	"{'role':'assistant','content':null,'tool_calls':[{'id':'call_1','type':'function',"
	"'function':{'name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}}]},"
	"{'role':'tool','tool_call_id':'call_1','content':'{\\'temp\\':21}'},"
	"{'role':'user','content':[{'type':'text','text':'And '},{'type':'text','text':'tomorrow?'}]}],"
	"'tools':[{'type':'function','function':{'name':'get_weather','description':'Weather of a city',"
	"'parameters':" SCHEMA_CITY "}}],"
	"'tool_choice':'auto','max_tokens':100,'temperature':0.5,'top_p':0.9,'stop':'END',"
	"'stream':true,'n':1,'logprobs':false,'service_tier':'auto'}";

#define SCHEMA_CMD \
	"{'type':'object','properties':{'cmd':{'type':'string'}},'required':['cmd']," \
	"'additionalProperties':false}"

static const char AN_FULL[] =
	"{'model':'claude-x','max_tokens':200,'system':'You are terse.','messages':["
	"{'role':'user','content':'List files'},"
	"{'role':'assistant','content':[{'type':'thinking','thinking':'hm','signature':'s'},"
	"{'type':'text','text':'Running ls.'},"
	"{'type':'tool_use','id':'toolu_9','name':'shell','input':{'cmd':'ls'}}]},"
	"{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_9','content':'a.txt b.txt',"
	"'is_error':false}]},"
	"{'role':'assistant','content':'Two files.'},"
	"{'role':'user','content':[{'type':'text','text':'Thanks','cache_control':{'type':'ephemeral'}},"
	"{'type':'image','source':{'type':'base64','media_type':'image/png','data':'iVBORw0KGgo='}}]}],"
	"'tools':[{'name':'shell','description':'Run a command','input_schema':" SCHEMA_CMD "}],"
	"'tool_choice':{'type':'tool','name':'shell'},"
	"'temperature':0.2,'top_k':40,'stop_sequences':['###'],'metadata':{'user_id':'u-1'},"
	"'stream':true}";

struct req_case {
	const char *name;
	enum xl_dialect from, to;
	const char *model;
	bool stream;
	const char *in, *want;
};

static const struct req_case full_cases[] = {
	{ "openai to anthropic", XL_OPENAI, XL_ANTHROPIC, "claude-x", true, OA_FULL,
	  "{'model':'claude-x','max_tokens':100,"
	  "'system':[{'type':'text','text':'Be brief.'},{'type':'text','text':'Use metric units.'}],"
	  "'messages':["
	  "{'role':'user','content':[{'type':'text','text':'Weather in Paris?'}]},"
	  "{'role':'assistant','content':[{'type':'tool_use','id':'call_1','name':'get_weather',"
	  "'input':{'city':'Paris'}}]},"
	  "{'role':'user','content':[{'type':'tool_result','tool_use_id':'call_1',"
	  "'content':[{'type':'text','text':'{\\'temp\\':21}'}]},"
	  "{'type':'text','text':'And '},{'type':'text','text':'tomorrow?'}]}],"
	  "'tools':[{'name':'get_weather','description':'Weather of a city','input_schema':"
	  SCHEMA_CITY "}],'tool_choice':{'type':'auto'},"
	  "'temperature':0.5,'top_p':0.9,'stop_sequences':['END'],'stream':true}" },
	{ "openai to gemini", XL_OPENAI, XL_GEMINI, "gemini-2.0-flash", true, OA_FULL,
	  "{'contents':["
	  "{'role':'user','parts':[{'text':'Weather in Paris?'}]},"
	  "{'role':'model','parts':[{'functionCall':{'name':'get_weather','args':{'city':'Paris'}}}]},"
	  "{'role':'user','parts':[{'functionResponse':{'name':'get_weather','response':{'temp':21}}},"
	  "{'text':'And '},{'text':'tomorrow?'}]}],"
	  "'systemInstruction':{'parts':[{'text':'Be brief.'},{'text':'Use metric units.'}]},"
	  "'tools':[{'functionDeclarations':[{'name':'get_weather','description':'Weather of a city',"
	  "'parameters':{'type':'OBJECT','properties':{'city':{'type':'STRING'}},'required':['city']}}]}],"
	  "'toolConfig':{'functionCallingConfig':{'mode':'AUTO'}},"
	  "'generationConfig':{'maxOutputTokens':100,'temperature':0.5,'topP':0.9,"
	  "'stopSequences':['END']}}" },
	{ "openai to bedrock", XL_OPENAI, XL_BEDROCK, "anthropic.claude", false, OA_FULL,
	  "{'messages':["
	  "{'role':'user','content':[{'text':'Weather in Paris?'}]},"
	  "{'role':'assistant','content':[{'toolUse':{'toolUseId':'call_1','name':'get_weather',"
	  "'input':{'city':'Paris'}}}]},"
	  "{'role':'user','content':[{'toolResult':{'toolUseId':'call_1','content':[{'text':"
	  "'{\\'temp\\':21}'}]}},{'text':'And '},{'text':'tomorrow?'}]}],"
	  "'system':[{'text':'Be brief.'},{'text':'Use metric units.'}],"
	  "'inferenceConfig':{'maxTokens':100,'temperature':0.5,'topP':0.9,'stopSequences':['END']},"
	  "'toolConfig':{'tools':[{'toolSpec':{'name':'get_weather','description':'Weather of a city',"
	  "'inputSchema':{'json':" SCHEMA_CITY "}}}],'toolChoice':{'auto':{}}}}" },
	{ "anthropic to openai", XL_ANTHROPIC, XL_OPENAI, "gpt-4o", true, AN_FULL,
	  "{'model':'gpt-4o','messages':["
	  "{'role':'system','content':'You are terse.'},"
	  "{'role':'user','content':'List files'},"
	  "{'role':'assistant','content':'Running ls.','tool_calls':[{'id':'toolu_9','type':'function',"
	  "'function':{'name':'shell','arguments':'{\\'cmd\\':\\'ls\\'}'}}]},"
	  "{'role':'tool','tool_call_id':'toolu_9','content':'a.txt b.txt'},"
	  "{'role':'assistant','content':'Two files.'},"
	  "{'role':'user','content':[{'type':'text','text':'Thanks'},{'type':'image_url',"
	  "'image_url':{'url':'data:image/png;base64,iVBORw0KGgo='}}]}],"
	  "'tools':[{'type':'function','function':{'name':'shell','description':'Run a command',"
	  "'parameters':" SCHEMA_CMD "}}],"
	  "'tool_choice':{'type':'function','function':{'name':'shell'}},"
	  "'max_completion_tokens':200,'temperature':0.2,'stop':['###'],'user':'u-1',"
	  "'stream':true,'stream_options':{'include_usage':true}}" },
	{ "anthropic to gemini", XL_ANTHROPIC, XL_GEMINI, "gemini-2.5-pro", true, AN_FULL,
	  "{'contents':["
	  "{'role':'user','parts':[{'text':'List files'}]},"
	  "{'role':'model','parts':[{'text':'Running ls.'},{'functionCall':{'name':'shell',"
	  "'args':{'cmd':'ls'}}}]},"
	  "{'role':'user','parts':[{'functionResponse':{'name':'shell','response':"
	  "{'content':'a.txt b.txt'}}}]},"
	  "{'role':'model','parts':[{'text':'Two files.'}]},"
	  "{'role':'user','parts':[{'text':'Thanks'},{'inlineData':{'mimeType':'image/png',"
	  "'data':'iVBORw0KGgo='}}]}],"
	  "'systemInstruction':{'parts':[{'text':'You are terse.'}]},"
	  "'tools':[{'functionDeclarations':[{'name':'shell','description':'Run a command',"
	  "'parametersJsonSchema':" SCHEMA_CMD "}]}],"
	  "'toolConfig':{'functionCallingConfig':{'mode':'ANY','allowedFunctionNames':['shell']}},"
	  "'generationConfig':{'maxOutputTokens':200,'temperature':0.2,'topK':40,"
	  "'stopSequences':['###']}}" },
	{ "anthropic to bedrock", XL_ANTHROPIC, XL_BEDROCK, "m", true, AN_FULL,
	  "{'messages':["
	  "{'role':'user','content':[{'text':'List files'}]},"
	  "{'role':'assistant','content':[{'text':'Running ls.'},{'toolUse':{'toolUseId':'toolu_9',"
	  "'name':'shell','input':{'cmd':'ls'}}}]},"
	  "{'role':'user','content':[{'toolResult':{'toolUseId':'toolu_9','content':"
	  "[{'text':'a.txt b.txt'}]}}]},"
	  "{'role':'assistant','content':[{'text':'Two files.'}]},"
	  "{'role':'user','content':[{'text':'Thanks'},{'image':{'format':'png','source':"
	  "{'bytes':'iVBORw0KGgo='}}}]}],"
	  "'system':[{'text':'You are terse.'}],"
	  "'inferenceConfig':{'maxTokens':200,'temperature':0.2,'stopSequences':['###']},"
	  "'toolConfig':{'tools':[{'toolSpec':{'name':'shell','description':'Run a command',"
	  "'inputSchema':{'json':" SCHEMA_CMD "}}}],'toolChoice':{'tool':{'name':'shell'}}}}" },
};

/* Smaller cases, one rule each. */
static const struct req_case rule_cases[] = {
	{ "anthropic gets the default max_tokens and no stream flag", XL_OPENAI, XL_ANTHROPIC,
	  "c", false, "{'model':'gpt','messages':[{'role':'user','content':'hi'}]}",
	  "{'model':'c','max_tokens':4096,'messages':[{'role':'user','content':"
	  "[{'type':'text','text':'hi'}]}]}" },
	{ "bedrock gets the default maxTokens too", XL_OPENAI, XL_BEDROCK, "m", false,
	  "{'messages':[{'role':'user','content':'hi'}]}",
	  "{'messages':[{'role':'user','content':[{'text':'hi'}]}],"
	  "'inferenceConfig':{'maxTokens':4096}}" },
	{ "max_completion_tokens wins over max_tokens", XL_OPENAI, XL_GEMINI, "m", false,
	  "{'messages':[{'role':'user','content':'hi'}],'max_tokens':9,'max_completion_tokens':7}",
	  "{'contents':[{'role':'user','parts':[{'text':'hi'}]}],"
	  "'generationConfig':{'maxOutputTokens':7}}" },
	{ "consecutive user turns merge and empty text is dropped", XL_OPENAI, XL_ANTHROPIC, "c",
	  false, "{'messages':[{'role':'user','content':'a'},{'role':'user','content':''},"
	  "{'role':'user','content':'b'},{'role':'assistant','content':''},"
	  "{'role':'assistant','content':'c'}]}",
	  "{'model':'c','max_tokens':4096,'messages':[{'role':'user','content':"
	  "[{'type':'text','text':'a'},{'type':'text','text':'b'}]},"
	  "{'role':'assistant','content':[{'type':'text','text':'c'}]}]}" },
	{ "model comes from the body when none is given", XL_ANTHROPIC, XL_OPENAI, NULL, false,
	  "{'model':'claude-x','max_tokens':5,'messages':[{'role':'user','content':'hi'}]}",
	  "{'model':'claude-x','messages':[{'role':'user','content':'hi'}],"
	  "'max_completion_tokens':5}" },
	{ "tool_choice none to anthropic", XL_OPENAI, XL_ANTHROPIC, "c", false,
	  "{'messages':[{'role':'user','content':'hi'}],'tool_choice':'none',"
	  "'tools':[{'type':'function','function':{'name':'f'}}]}",
	  "{'model':'c','max_tokens':4096,'messages':[{'role':'user','content':"
	  "[{'type':'text','text':'hi'}]}],'tools':[{'name':'f','input_schema':"
	  "{'type':'object','properties':{}}}],'tool_choice':{'type':'none'}}" },
	{ "tool_choice required and no parallel calls to anthropic", XL_OPENAI, XL_ANTHROPIC, "c",
	  false, "{'messages':[{'role':'user','content':'hi'}],'tool_choice':'required',"
	  "'parallel_tool_calls':false,'tools':[{'type':'function','function':{'name':'f',"
	  "'parameters':" SCHEMA_CITY "}}]}",
	  "{'model':'c','max_tokens':4096,'messages':[{'role':'user','content':"
	  "[{'type':'text','text':'hi'}]}],'tools':[{'name':'f','input_schema':" SCHEMA_CITY "}],"
	  "'tool_choice':{'type':'any','disable_parallel_tool_use':true}}" },
	{ "anthropic any and no parallel calls to openai", XL_ANTHROPIC, XL_OPENAI, "g", false,
	  "{'max_tokens':5,'messages':[{'role':'user','content':'hi'}],'tools':[{'name':'f',"
	  "'input_schema':" SCHEMA_CITY "}],'tool_choice':{'type':'any',"
	  "'disable_parallel_tool_use':true}}",
	  "{'model':'g','messages':[{'role':'user','content':'hi'}],'tools':[{'type':'function',"
	  "'function':{'name':'f','parameters':" SCHEMA_CITY "}}],'tool_choice':'required',"
	  "'parallel_tool_calls':false,'max_completion_tokens':5}" },
	{ "tool_choice named and required to gemini, no parameters left out", XL_OPENAI,
	  XL_GEMINI, "m", false,
	  "{'messages':[{'role':'user','content':'hi'}],'tool_choice':{'type':'function',"
	  "'function':{'name':'f'}},'tools':[{'type':'function','function':{'name':'f',"
	  "'parameters':{'type':'object','properties':{}}}}]}",
	  "{'contents':[{'role':'user','parts':[{'text':'hi'}]}],'tools':[{'functionDeclarations':"
	  "[{'name':'f'}]}],'toolConfig':{'functionCallingConfig':{'mode':'ANY',"
	  "'allowedFunctionNames':['f']}}}" },
	{ "tool_choice none to gemini", XL_OPENAI, XL_GEMINI, "m", false,
	  "{'messages':[{'role':'user','content':'hi'}],'tool_choice':'none',"
	  "'tools':[{'type':'function','function':{'name':'f'}}]}",
	  "{'contents':[{'role':'user','parts':[{'text':'hi'}]}],'tools':[{'functionDeclarations':"
	  "[{'name':'f'}]}],'toolConfig':{'functionCallingConfig':{'mode':'NONE'}}}" },
	{ "tool_choice none to bedrock leaves the tools out", XL_OPENAI, XL_BEDROCK, "m", false,
	  "{'messages':[{'role':'user','content':'hi'}],'tool_choice':'none',"
	  "'tools':[{'type':'function','function':{'name':'f'}}]}",
	  "{'messages':[{'role':'user','content':[{'text':'hi'}]}],"
	  "'inferenceConfig':{'maxTokens':4096}}" },
	{ "tool_choice none to bedrock keeps tools when the history uses them", XL_OPENAI,
	  XL_BEDROCK, "m", false,
	  "{'messages':[{'role':'user','content':'hi'},{'role':'assistant','tool_calls':[{'id':'c1',"
	  "'type':'function','function':{'name':'f','arguments':''}}]},{'role':'tool',"
	  "'tool_call_id':'c1','content':'ok'}],'tool_choice':'none',"
	  "'tools':[{'type':'function','function':{'name':'f'}}]}",
	  "{'messages':[{'role':'user','content':[{'text':'hi'}]},{'role':'assistant','content':"
	  "[{'toolUse':{'toolUseId':'c1','name':'f','input':{}}}]},{'role':'user','content':"
	  "[{'toolResult':{'toolUseId':'c1','content':[{'text':'ok'}]}}]}],"
	  "'inferenceConfig':{'maxTokens':4096},'toolConfig':{'tools':[{'toolSpec':{'name':'f',"
	  "'inputSchema':{'json':{'type':'object','properties':{}}}}}]}}" },
	{ "tool_choice required to bedrock is any", XL_OPENAI, XL_BEDROCK, "m", false,
	  "{'messages':[{'role':'user','content':'hi'}],'tool_choice':'required',"
	  "'tools':[{'type':'function','function':{'name':'f','description':'d'}}]}",
	  "{'messages':[{'role':'user','content':[{'text':'hi'}]}],"
	  "'inferenceConfig':{'maxTokens':4096},'toolConfig':{'tools':[{'toolSpec':{'name':'f',"
	  "'description':'d','inputSchema':{'json':{'type':'object','properties':{}}}}}],"
	  "'toolChoice':{'any':{}}}}" },
	{ "json_schema to gemini with a compatible schema", XL_OPENAI, XL_GEMINI, "m", false,
	  "{'messages':[{'role':'user','content':'hi'}],'response_format':{'type':'json_schema',"
	  "'json_schema':{'name':'x','schema':" SCHEMA_CITY "}}}",
	  "{'contents':[{'role':'user','parts':[{'text':'hi'}]}],'generationConfig':"
	  "{'responseMimeType':'application/json','responseSchema':{'type':'OBJECT','properties':"
	  "{'city':{'type':'STRING'}},'required':['city']}}}" },
	{ "json_schema to gemini with an incompatible schema: the mime type only", XL_OPENAI,
	  XL_GEMINI, "m", false,
	  "{'messages':[{'role':'user','content':'hi'}],'response_format':{'type':'json_schema',"
	  "'json_schema':{'name':'x','strict':true,'schema':" SCHEMA_CMD "}}}",
	  "{'contents':[{'role':'user','parts':[{'text':'hi'}]}],'generationConfig':"
	  "{'responseMimeType':'application/json'}}" },
	{ "json_object to gemini", XL_OPENAI, XL_GEMINI, "m", false,
	  "{'messages':[{'role':'user','content':'hi'}],'response_format':{'type':'json_object'},"
	  "'seed':3,'presence_penalty':0.5,'frequency_penalty':0.25}",
	  "{'contents':[{'role':'user','parts':[{'text':'hi'}]}],'generationConfig':"
	  "{'seed':3,'presencePenalty':0.5,'frequencyPenalty':0.25,"
	  "'responseMimeType':'application/json'}}" },
	{ "response_format has no anthropic equivalent and is left out", XL_OPENAI, XL_ANTHROPIC,
	  "c", false, "{'messages':[{'role':'user','content':'hi'}],'response_format':"
	  "{'type':'json_object'},'user':'u7'}",
	  "{'model':'c','max_tokens':4096,'messages':[{'role':'user','content':"
	  "[{'type':'text','text':'hi'}]}],'metadata':{'user_id':'u7'}}" },
	{ "temperature over 1 is clamped for anthropic", XL_OPENAI, XL_ANTHROPIC, "c", false,
	  "{'messages':[{'role':'user','content':'hi'}],'temperature':1.5}",
	  "{'model':'c','max_tokens':4096,'messages':[{'role':'user','content':"
	  "[{'type':'text','text':'hi'}]}],'temperature':1.0}" },
	{ "a data: image to anthropic", XL_OPENAI, XL_ANTHROPIC, "c", false,
	  "{'messages':[{'role':'user','content':[{'type':'image_url','image_url':"
	  "{'url':'data:image/jpeg;base64,/9j/4AAQ','detail':'low'}}]}]}",
	  "{'model':'c','max_tokens':4096,'messages':[{'role':'user','content':[{'type':'image',"
	  "'source':{'type':'base64','media_type':'image/jpeg','data':'/9j/4AAQ'}}]}]}" },
	{ "a remote image to anthropic is a url source", XL_OPENAI, XL_ANTHROPIC, "c", false,
	  "{'messages':[{'role':'user','content':[{'type':'image_url','image_url':"
	  "{'url':'https://example.com/a.png'}}]}]}",
	  "{'model':'c','max_tokens':4096,'messages':[{'role':'user','content':[{'type':'image',"
	  "'source':{'type':'url','url':'https://example.com/a.png'}}]}]}" },
	{ "a data: image to bedrock", XL_OPENAI, XL_BEDROCK, "m", false,
	  "{'messages':[{'role':'user','content':[{'type':'text','text':'see'},{'type':'image_url',"
	  "'image_url':{'url':'data:image/webp;base64,UklG'}}]}]}",
	  "{'messages':[{'role':'user','content':[{'text':'see'},{'image':{'format':'webp',"
	  "'source':{'bytes':'UklG'}}}]}],'inferenceConfig':{'maxTokens':4096}}" },
	{ "gemini takes the function name of the nearest call with the id", XL_OPENAI, XL_GEMINI,
	  "m", false,
	  "{'messages':[{'role':'user','content':'go'},"
	  "{'role':'assistant','tool_calls':[{'id':'call_0','type':'function','function':"
	  "{'name':'first','arguments':'{}'}}]},"
	  "{'role':'tool','tool_call_id':'call_0','content':'[1,2]'},"
	  "{'role':'assistant','tool_calls':[{'id':'call_0','type':'function','function':"
	  "{'name':'second','arguments':'{}'}}]},"
	  "{'role':'tool','tool_call_id':'call_0','content':''}]}",
	  "{'contents':[{'role':'user','parts':[{'text':'go'}]},"
	  "{'role':'model','parts':[{'functionCall':{'name':'first','args':{}}}]},"
	  "{'role':'user','parts':[{'functionResponse':{'name':'first','response':"
	  "{'content':'[1,2]'}}}]},"
	  "{'role':'model','parts':[{'functionCall':{'name':'second','args':{}}}]},"
	  "{'role':'user','parts':[{'functionResponse':{'name':'second','response':"
	  "{'content':''}}}]}]}" },
	{ "an error result to gemini and bedrock", XL_ANTHROPIC, XL_GEMINI, "m", false,
	  "{'max_tokens':5,'messages':[{'role':'user','content':'go'},"
	  "{'role':'assistant','content':[{'type':'tool_use','id':'t1','name':'f','input':{}}]},"
	  "{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1','is_error':true,"
	  "'content':[{'type':'text','text':'boom'}]},{'type':'text','text':'again'}]}]}",
	  "{'contents':[{'role':'user','parts':[{'text':'go'}]},"
	  "{'role':'model','parts':[{'functionCall':{'name':'f','args':{}}}]},"
	  "{'role':'user','parts':[{'functionResponse':{'name':'f','response':{'error':'boom'}}},"
	  "{'text':'again'}]}],'generationConfig':{'maxOutputTokens':5}}" },
	{ "an error result to bedrock", XL_ANTHROPIC, XL_BEDROCK, "m", false,
	  "{'max_tokens':5,'messages':[{'role':'user','content':'go'},"
	  "{'role':'assistant','content':[{'type':'tool_use','id':'t1','name':'f','input':{}}]},"
	  "{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1','is_error':true,"
	  "'content':'boom'}]}]}",
	  "{'messages':[{'role':'user','content':[{'text':'go'}]},"
	  "{'role':'assistant','content':[{'toolUse':{'toolUseId':'t1','name':'f','input':{}}}]},"
	  "{'role':'user','content':[{'toolResult':{'toolUseId':'t1','content':[{'text':'boom'}],"
	  "'status':'error'}}]}],'inferenceConfig':{'maxTokens':5}}" },
	{ "an error result and text order to openai: tool message first", XL_ANTHROPIC, XL_OPENAI,
	  "g", false,
	  "{'max_tokens':5,'messages':[{'role':'user','content':'go'},"
	  "{'role':'assistant','content':[{'type':'tool_use','id':'t1','name':'f','input':{'a':[1]}}]},"
	  "{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1','content':"
	  "[{'type':'text','text':'x'},{'type':'text','text':'y'}]},{'type':'text','text':'more'}]}]}",
	  "{'model':'g','messages':[{'role':'user','content':'go'},{'role':'assistant','content':null,"
	  "'tool_calls':[{'id':'t1','type':'function','function':{'name':'f','arguments':"
	  "'{\\'a\\':[1]}'}}]},{'role':'tool','tool_call_id':'t1','content':'xy'},"
	  "{'role':'user','content':'more'}],'max_completion_tokens':5}" },
	{ "system text blocks to openai become one message of parts", XL_ANTHROPIC, XL_OPENAI,
	  "g", false,
	  "{'max_tokens':5,'system':[{'type':'text','text':'a'},{'type':'text','text':'b',"
	  "'cache_control':{'type':'ephemeral'}}],'messages':[{'role':'user','content':'hi'}]}",
	  "{'model':'g','messages':[{'role':'system','content':[{'type':'text','text':'a'},"
	  "{'type':'text','text':'b'}]},{'role':'user','content':'hi'}],'max_completion_tokens':5}" },
	{ "gemini may start with a model turn", XL_OPENAI, XL_GEMINI, "m", false,
	  "{'messages':[{'role':'assistant','content':'Hello!'},{'role':'user','content':'hi'}]}",
	  "{'contents':[{'role':'model','parts':[{'text':'Hello!'}]},"
	  "{'role':'user','parts':[{'text':'hi'}]}]}" },
};

static void run_cases(const struct req_case *c, size_t n)
{
	char err[256];
	size_t i;

	for (i = 0; i < n; i++) {
		struct buf out = { 0 };
		char *in = q(c[i].in);
		int rc = request(c[i].from, c[i].to, in, strlen(in), c[i].model, c[i].stream, &out,
				 err, sizeof(err));

		if (rc)
			fail_msg("%s: rc %d: %s", c[i].name, rc, err);
		expect_json(&out, c[i].want, c[i].name);
		free(in);
		buf_free(&out);
	}
}

static void test_xlate_request_full_conversation_every_pair(void **state)
{
	(void)state;
	run_cases(full_cases, sizeof(full_cases) / sizeof(full_cases[0]));
}

static void test_xlate_request_rules(void **state)
{
	(void)state;
	run_cases(rule_cases, sizeof(rule_cases) / sizeof(rule_cases[0]));
}

static void test_xlate_request_appends_to_out(void **state)
{
	struct buf out = { 0 };
	char *in = q("{'messages':[{'role':'user','content':'hi'}]}");

	(void)state;
	assert_int_equal(buf_append(&out, "X", 1, 16), 0);
	assert_int_equal(request(XL_OPENAI, XL_GEMINI, in, strlen(in), "m", false, &out, NULL, 0),
			 0);
	assert_true(out.len > 1 && out.p[0] == 'X' && out.p[1] == '{');
	free(in);
	buf_free(&out);
}

/* ---- bad requests ---------------------------------------------------------- */

struct bad_case {
	enum xl_dialect from, to;
	const char *in;
	const char *msg;	/* a substring of the message */
};

static const struct bad_case bad_cases[] = {
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'user','content':'x'},{'role':'assistant',"
	  "'tool_calls':[{'id':'c','type':'function','function':{'name':'f','arguments':'{oops'}}]}]}",
	  "messages[1].tool_calls[0].function.arguments: not a JSON object" },
	{ XL_OPENAI, XL_GEMINI, "{'messages':[{'role':'user','content':'x'},{'role':'assistant',"
	  "'tool_calls':[{'id':'c','type':'function','function':{'name':'f','arguments':'[1]'}}]}]}",
	  "arguments: not a JSON object" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'user','content':'x'},{'role':'tool',"
	  "'tool_call_id':'nope','content':'r'}]}",
	  "messages[1]: tool_call_id 'nope' matches no earlier tool call" },
	{ XL_OPENAI, XL_BEDROCK, "{'messages':[{'role':'user','content':[{'type':'audio',"
	  "'audio':'x'}]}]}", "messages[0].content[0]: unknown part type 'audio'" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'user','content':[{'type':'input_audio',"
	  "'input_audio':{}}]}]}", "messages[0].content[0]: part type 'input_audio' cannot be" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'n':2,'messages':[{'role':'user','content':'x'}]}",
	  "n: only one choice" },
	/* Found by fuzz_xlate_req: a media type with a comma broke the data:
	 * URL written for OpenAI and went to Gemini as is. */
	{ XL_ANTHROPIC, XL_OPENAI, "{'max_tokens':1,'messages':[{'role':'user','content':[{'type':"
	  "'image','source':{'type':'base64','media_type':'image/png,x','data':'iVBORw0KGgo='}}]}]}",
	  "source.media_type: not a media type" },
	{ XL_OPENAI, XL_GEMINI, "{'messages':[{'role':'user','content':[{'type':'image_url',"
	  "'image_url':{'url':'data:image/p\\\"ng;base64,iVBORw0KGgo='}}]}]}",
	  "media type is malformed" },
	{ XL_OPENAI, XL_ANTHROPIC, "[{'role':'user'}]", "body: must be a JSON object" },
	{ XL_ANTHROPIC, XL_OPENAI, "'text'", "body: must be a JSON object" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'user','content':'x'}", "not valid JSON" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'model':'a','model':'b','messages':[{'role':'user',"
	  "'content':'x'}]}", "not valid JSON" },
	{ XL_OPENAI, XL_ANTHROPIC, "{}", "messages: must be a non-empty array" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[]}", "messages: must be a non-empty array" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'function','content':'x','name':'f'}]}",
	  "messages[0]: role 'function' cannot be translated" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'system','content':'x'}]}",
	  "nothing to send but the system prompt" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'assistant','content':'x'}]}",
	  "start with a user turn" },
	{ XL_OPENAI, XL_BEDROCK, "{'messages':[{'role':'assistant','content':'x'},"
	  "{'role':'user','content':'y'}]}", "start with a user turn" },
	{ XL_OPENAI, XL_GEMINI, "{'messages':[{'role':'user','content':[{'type':'image_url',"
	  "'image_url':{'url':'http://example.com/a.png'}}]}]}",
	  "messages[0].content[0]: a remote image URL cannot be sent to gemini" },
	{ XL_ANTHROPIC, XL_BEDROCK, "{'messages':[{'role':'user','content':[{'type':'image',"
	  "'source':{'type':'url','url':'https://example.com/a.png'}}]}]}",
	  "messages[0].content[0]: a remote image URL cannot be sent to bedrock" },
	{ XL_OPENAI, XL_BEDROCK, "{'messages':[{'role':'user','content':[{'type':'image_url',"
	  "'image_url':{'url':'data:image/tiff;base64,AAAA'}}]}]}", "image type 'image/tiff'" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'user','content':[{'type':'image_url',"
	  "'image_url':{'url':'data:image/png,%89PNG'}}]}]}", "is not base64" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'user','content':[{'type':'image_url',"
	  "'image_url':{'url':'ftp://x/a.png'}}]}]}", "neither a data: URL nor http(s)" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'user','content':'x'}],"
	  "'tools':[{'type':'custom','custom':{'name':'g'}}]}",
	  "tools[0]: type 'custom' cannot be translated" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'user','content':'x'}],'temperature':'hot'}",
	  "temperature: must be a number" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'user','content':'x'}],'max_tokens':0}",
	  "max_tokens: must be a positive integer" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'user','content':'x'}],'stop':[1]}",
	  "stop[0]: must be a string" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'messages':[{'role':'user','content':'x'}],"
	  "'tool_choice':'sometimes'}", "tool_choice: unknown value 'sometimes'" },
	{ XL_ANTHROPIC, XL_OPENAI, "{'max_tokens':5,'messages':[{'role':'user','content':"
	  "[{'type':'tool_result','tool_use_id':'t9','content':'x'}]}]}",
	  "messages[0].content[0]: tool_use_id 't9' matches no earlier tool_use" },
	{ XL_ANTHROPIC, XL_OPENAI, "{'max_tokens':5,'messages':[{'role':'user','content':'x'}],"
	  "'tools':[{'type':'web_search_20250305','name':'web_search'}]}",
	  "tools[0]: server tool 'web_search_20250305' cannot be translated" },
	{ XL_ANTHROPIC, XL_GEMINI, "{'max_tokens':5,'messages':[{'role':'user','content':"
	  "[{'type':'document','source':{}}]}]}",
	  "messages[0].content[0]: block type 'document' cannot be translated" },
	{ XL_ANTHROPIC, XL_GEMINI, "{'max_tokens':5,'messages':[{'role':'user','content':"
	  "[{'type':'audio'}]}]}", "messages[0].content[0]: unknown block type 'audio'" },
	{ XL_ANTHROPIC, XL_OPENAI, "{'max_tokens':5,'messages':[{'role':'user','content':"
	  "[{'type':'tool_use','id':'a','name':'f','input':{}}]}]}",
	  "tool_use is not allowed in a user turn" },
	{ XL_ANTHROPIC, XL_OPENAI, "{'max_tokens':5,'messages':[{'role':'system','content':'x'}]}",
	  "messages[0].role: must be user or assistant" },
	{ XL_ANTHROPIC, XL_OPENAI, "{'max_tokens':5,'stop_sequences':['a','b','c','d','e'],"
	  "'messages':[{'role':'user','content':'x'}]}", "openai takes at most 4" },
	{ XL_ANTHROPIC, XL_OPENAI, "{'max_tokens':5,'messages':[{'role':'user','content':'x'},"
	  "{'role':'assistant','content':[{'type':'tool_use','id':'a','name':'f','input':{}}]},"
	  "{'role':'user','content':[{'type':'tool_result','tool_use_id':'a','content':[{'type':"
	  "'image','source':{'type':'base64','media_type':'image/png','data':'AA=='}}]}]}]}",
	  "an image in a tool result cannot be sent to openai" },
	{ XL_GEMINI, XL_OPENAI, "{'contents':[]}", "no translation from gemini to openai" },
	{ XL_OPENAI, XL_OPENAI, "{'messages':[{'role':'user','content':'x'}]}",
	  "no translation from openai to openai" },
};

static void test_xlate_request_refuses_what_it_cannot_translate(void **state)
{
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct buf out = { 0 };
		char *in = q(bad_cases[i].in);
		int rc = request(bad_cases[i].from, bad_cases[i].to, in, strlen(in), "m", false,
				 &out, err, sizeof(err));

		if (rc != -EINVAL || !strstr(err, bad_cases[i].msg))
			fail_msg("case %zu: rc %d, err '%s', want -EINVAL and '%s'", i, rc, err,
				 bad_cases[i].msg);
		assert_int_equal(out.len, 0);
		free(in);
		buf_free(&out);
	}
}

/* Every node of a valid request replaced by each JSON type in turn, and
 * every prefix of it: the translators answer 0 or -EINVAL with a message,
 * and never crash (this file runs under ASan too). */
static size_t mutate_nth(json_t *node, size_t *k, json_t *with)
{
	size_t i;
	const char *key;
	json_t *v;

	if (json_is_object(node)) {
		json_object_foreach(node, key, v) {
			if ((*k)-- == 0) {
				json_object_set(node, key, with);
				return 1;
			}
			if (mutate_nth(v, k, with))
				return 1;
		}
	} else if (json_is_array(node)) {
		json_array_foreach(node, i, v) {
			if ((*k)-- == 0) {
				json_array_set(node, i, with);
				return 1;
			}
			if (mutate_nth(v, k, with))
				return 1;
		}
	}
	return 0;
}

static void check_any(enum xl_dialect from, const char *body, size_t len, size_t *ok)
{
	enum xl_dialect to;
	char err[128];

	for (to = XL_OPENAI; to <= XL_BEDROCK; to++) {
		struct buf out = { 0 };
		int rc;

		if (to == from)
			continue;
		err[0] = 'Z';
		rc = request(from, to, body, len, "m", true, &out, err, sizeof(err));
		if (rc != 0 && rc != -EINVAL)
			fail_msg("rc %d for %.*s", rc, (int)len, body);
		if (rc)
			assert_true(err[0] && err[0] != 'Z');
		else
			(*ok)++;
		buf_free(&out);
	}
}

static void test_xlate_request_survives_mutated_and_truncated_bodies(void **state)
{
	static const char *const kinds[] = { "null", "1", "-3.5", "'x'", "[]", "{}", "true",
					     "[{}]", "{'type':'text'}" };
	const char *const bodies[] = { OA_FULL, AN_FULL };
	size_t b, k, t, len, ok = 0;

	(void)state;
	for (b = 0; b < 2; b++) {
		enum xl_dialect from = b ? XL_ANTHROPIC : XL_OPENAI;
		char *in = q(bodies[b]);

		len = strlen(in);
		for (k = 0; k < len; k++)
			check_any(from, in, k, &ok);
		for (t = 0; t < sizeof(kinds) / sizeof(kinds[0]); t++) {
			for (k = 0;; k++) {
				json_t *doc = J(bodies[b]), *with = J(kinds[t]);
				size_t n = k;
				char *s;

				if (!mutate_nth(doc, &n, with)) {
					json_decref(doc);
					json_decref(with);
					break;
				}
				s = json_dumps(doc, JSON_COMPACT);
				check_any(from, s, strlen(s), &ok);
				free(s);
				json_decref(doc);
				json_decref(with);
			}
		}
		free(in);
	}
	/* Some mutations are harmless (an unknown field, a null): the test
	 * went through both paths. */
	assert_true(ok > 0);
}

/* ---- answers ------------------------------------------------------------------ */

struct resp_case {
	const char *name;
	enum xl_dialect from, to;
	const char *in, *want;	/* want without "created" */
};

static const char OA_ANSWER[] =
	"{'id':'chatcmpl-abc','object':'chat.completion','created':1700000000,'model':'gpt-4o',"
	"'choices':[{'index':0,'message':{'role':'assistant','content':'Let me look.','refusal':null,"
	"'tool_calls':[{'id':'call_7','type':'function','function':{'name':'get_weather',"
	"'arguments':'{\\'city\\':\\'Oslo\\'}'}}]},'logprobs':null,'finish_reason':'tool_calls'}],"
	"'usage':{'prompt_tokens':120,'completion_tokens':30,'total_tokens':150,"
	"'prompt_tokens_details':{'cached_tokens':100,'audio_tokens':0}},'system_fingerprint':'x'}";

static const char AN_ANSWER[] =
	"{'id':'msg_01','type':'message','role':'assistant','model':'claude-x','content':["
	"{'type':'thinking','thinking':'...','signature':'s'},"
	"{'type':'text','text':'Checking.'},"
	"{'type':'tool_use','id':'toolu_01','name':'shell','input':{'cmd':'ls -l'}}],"
	"'stop_reason':'tool_use','stop_sequence':null,'usage':{'input_tokens':10,"
	"'cache_creation_input_tokens':5,'cache_read_input_tokens':90,'output_tokens':7}}";

static const char GEM_ANSWER[] =
	"{'candidates':[{'content':{'parts':[{'text':'thinking...','thought':true},"
	"{'text':'echo: hi'},{'text':' there'}],'role':'model'},'finishReason':'MAX_TOKENS',"
	"'index':0}],'usageMetadata':{'promptTokenCount':50,'candidatesTokenCount':8,"
	"'totalTokenCount':62,'cachedContentTokenCount':20,'thoughtsTokenCount':4},"
	"'modelVersion':'gemini-2.0-flash','responseId':'gemresp1'}";

static const char GEM_CALLS[] =
	"{'candidates':[{'content':{'parts':[{'functionCall':{'name':'a','args':{'x':1}}},"
	"{'functionCall':{'name':'b'}}],'role':'model'},'finishReason':'STOP','index':0}],"
	"'usageMetadata':{'promptTokenCount':9,'candidatesTokenCount':3,'totalTokenCount':12}}";

static const char BR_ANSWER[] =
	"{'output':{'message':{'role':'assistant','content':[{'text':'On it.'},"
	"{'toolUse':{'toolUseId':'tooluse_1','name':'shell','input':{'cmd':'pwd'}}}]}},"
	"'stopReason':'tool_use','usage':{'inputTokens':11,'outputTokens':5,'totalTokens':16,"
	"'cacheReadInputTokens':3,'cacheWriteInputTokens':2},'metrics':{'latencyMs':1}}";

static const struct resp_case resp_cases[] = {
	{ "openai answer to anthropic", XL_OPENAI, XL_ANTHROPIC, OA_ANSWER,
	  "{'id':'chatcmpl-abc','type':'message','role':'assistant','model':'gpt-4o','content':["
	  "{'type':'text','text':'Let me look.'},{'type':'tool_use','id':'call_7',"
	  "'name':'get_weather','input':{'city':'Oslo'}}],'stop_reason':'tool_use',"
	  "'stop_sequence':null,'usage':{'input_tokens':20,'cache_creation_input_tokens':0,"
	  "'cache_read_input_tokens':100,'output_tokens':30}}" },
	{ "anthropic answer to openai", XL_ANTHROPIC, XL_OPENAI, AN_ANSWER,
	  "{'id':'msg_01','object':'chat.completion','model':'claude-x','choices':[{'index':0,"
	  "'message':{'role':'assistant','content':'Checking.','refusal':null,'tool_calls':"
	  "[{'id':'toolu_01','type':'function','function':{'name':'shell','arguments':"
	  "'{\\'cmd\\':\\'ls -l\\'}'}}]},'logprobs':null,'finish_reason':'tool_calls'}],"
	  "'usage':{'prompt_tokens':105,'completion_tokens':7,'total_tokens':112,"
	  "'prompt_tokens_details':{'cached_tokens':90},"
	  "'completion_tokens_details':{'reasoning_tokens':0}}}" },
	{ "gemini answer to openai", XL_GEMINI, XL_OPENAI, GEM_ANSWER,
	  "{'id':'gemresp1','object':'chat.completion','model':'gemini-2.0-flash','choices':"
	  "[{'index':0,'message':{'role':'assistant','content':'echo: hi there','refusal':null},"
	  "'logprobs':null,'finish_reason':'length'}],'usage':{'prompt_tokens':50,"
	  "'completion_tokens':12,'total_tokens':62,'prompt_tokens_details':{'cached_tokens':20},"
	  "'completion_tokens_details':{'reasoning_tokens':4}}}" },
	{ "gemini answer to anthropic", XL_GEMINI, XL_ANTHROPIC, GEM_ANSWER,
	  "{'id':'gemresp1','type':'message','role':'assistant','model':'gemini-2.0-flash',"
	  "'content':[{'type':'text','text':'echo: hi'},{'type':'text','text':' there'}],"
	  "'stop_reason':'max_tokens','stop_sequence':null,'usage':{'input_tokens':30,"
	  "'cache_creation_input_tokens':0,'cache_read_input_tokens':20,'output_tokens':12}}" },
	{ "gemini calls get ids and the tool reason, to openai", XL_GEMINI, XL_OPENAI, GEM_CALLS,
	  "{'id':'chatcmpl-req9','object':'chat.completion','model':'gemini-x','choices':"
	  "[{'index':0,'message':{'role':'assistant','content':null,'refusal':null,'tool_calls':"
	  "[{'id':'call_0','type':'function','function':{'name':'a','arguments':'{\\'x\\':1}'}},"
	  "{'id':'call_1','type':'function','function':{'name':'b','arguments':'{}'}}]},"
	  "'logprobs':null,'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':9,"
	  "'completion_tokens':3,'total_tokens':12,'prompt_tokens_details':{'cached_tokens':0},"
	  "'completion_tokens_details':{'reasoning_tokens':0}}}" },
	{ "gemini calls get ids and the tool reason, to anthropic", XL_GEMINI, XL_ANTHROPIC,
	  GEM_CALLS,
	  "{'id':'msg_req9','type':'message','role':'assistant','model':'gemini-x','content':"
	  "[{'type':'tool_use','id':'call_0','name':'a','input':{'x':1}},{'type':'tool_use',"
	  "'id':'call_1','name':'b','input':{}}],'stop_reason':'tool_use','stop_sequence':null,"
	  "'usage':{'input_tokens':9,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
	  "'output_tokens':3}}" },
	{ "bedrock answer to openai", XL_BEDROCK, XL_OPENAI, BR_ANSWER,
	  "{'id':'chatcmpl-req9','object':'chat.completion','model':'gemini-x','choices':"
	  "[{'index':0,'message':{'role':'assistant','content':'On it.','refusal':null,"
	  "'tool_calls':[{'id':'tooluse_1','type':'function','function':{'name':'shell',"
	  "'arguments':'{\\'cmd\\':\\'pwd\\'}'}}]},'logprobs':null,'finish_reason':'tool_calls'}],"
	  "'usage':{'prompt_tokens':16,'completion_tokens':5,'total_tokens':21,"
	  "'prompt_tokens_details':{'cached_tokens':3},"
	  "'completion_tokens_details':{'reasoning_tokens':0}}}" },
	{ "bedrock answer to anthropic", XL_BEDROCK, XL_ANTHROPIC, BR_ANSWER,
	  "{'id':'msg_req9','type':'message','role':'assistant','model':'gemini-x','content':"
	  "[{'type':'text','text':'On it.'},{'type':'tool_use','id':'tooluse_1','name':'shell',"
	  "'input':{'cmd':'pwd'}}],'stop_reason':'tool_use','stop_sequence':null,'usage':"
	  "{'input_tokens':11,'cache_creation_input_tokens':2,'cache_read_input_tokens':3,"
	  "'output_tokens':5}}" },
	{ "a blocked gemini prompt is a filtered empty answer", XL_GEMINI, XL_OPENAI,
	  "{'promptFeedback':{'blockReason':'SAFETY'},'usageMetadata':{'promptTokenCount':4,"
	  "'totalTokenCount':4}}",
	  "{'id':'chatcmpl-req9','object':'chat.completion','model':'gemini-x','choices':"
	  "[{'index':0,'message':{'role':'assistant','content':'','refusal':null},"
	  "'logprobs':null,'finish_reason':'content_filter'}],'usage':{'prompt_tokens':4,"
	  "'completion_tokens':0,'total_tokens':4,'prompt_tokens_details':{'cached_tokens':0},"
	  "'completion_tokens_details':{'reasoning_tokens':0}}}" },
	{ "bedrock max_tokens to openai length, no usage given none written", XL_BEDROCK,
	  XL_OPENAI,
	  "{'output':{'message':{'role':'assistant','content':[{'text':'cut'}]}},"
	  "'stopReason':'max_tokens'}",
	  "{'id':'chatcmpl-req9','object':'chat.completion','model':'gemini-x','choices':"
	  "[{'index':0,'message':{'role':'assistant','content':'cut','refusal':null},"
	  "'logprobs':null,'finish_reason':'length'}]}" },
};

static void test_xlate_response_every_dialect_to_both_callers(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++) {
		const struct resp_case *c = &resp_cases[i];
		struct buf out = { 0 };
		char *in = q(c->in);
		json_t *got;
		int rc = response(c->from, c->to, in, strlen(in), "gemini-x", "req9", &out);

		if (rc)
			fail_msg("%s: rc %d", c->name, rc);
		got = json_loadb(out.p, out.len, 0, NULL);
		assert_non_null(got);
		if (c->to == XL_OPENAI) {
			assert_true(json_integer_value(json_object_get(got, "created")) > 1700000000);
			json_object_del(got, "created");
		}
		free(out.p);
		out.p = json_dumps(got, JSON_COMPACT);
		out.len = strlen(out.p);
		out.cap = out.len + 1;	/* the buf owns what json_dumps gave */
		expect_json(&out, c->want, c->name);
		json_decref(got);
		free(in);
		buf_free(&out);
	}
}

static const struct {
	enum xl_dialect from, to;
	const char *in;
} bad_answers[] = {
	{ XL_OPENAI, XL_ANTHROPIC, "not json" },
	{ XL_OPENAI, XL_ANTHROPIC, "[]" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'choices':[]}" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'choices':[{'message':{'content':5}}]}" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'choices':[{'message':{'content':null,'tool_calls':[{'id':'c',"
	  "'function':{'name':'f','arguments':'{bad'}}]}}]}" },
	{ XL_OPENAI, XL_ANTHROPIC, "{'choices':[{'message':{'content':'x'}}],'usage':"
	  "{'prompt_tokens':-1}}" },
	{ XL_ANTHROPIC, XL_OPENAI, "{'type':'message','content':'x'}" },
	{ XL_ANTHROPIC, XL_OPENAI, "{'content':[{'type':'tool_use','name':'f','input':{}}]}" },
	{ XL_ANTHROPIC, XL_OPENAI, "{'content':[],'usage':{'input_tokens':'7'}}" },
	{ XL_ANTHROPIC, XL_OPENAI, "{'content':[],'usage':[]}" },
	{ XL_GEMINI, XL_OPENAI, "{'error':{'code':500}}" },
	{ XL_GEMINI, XL_OPENAI, "{'candidates':{}}" },
	{ XL_GEMINI, XL_OPENAI, "{'candidates':[{'content':{'parts':[{'functionCall':"
	  "{'name':'f','args':[1]}}]}}]}" },
	{ XL_BEDROCK, XL_OPENAI, "{'output':{}}" },
	{ XL_BEDROCK, XL_ANTHROPIC, "{'output':{'message':{'content':[{'toolUse':{'name':'f',"
	  "'input':{}}}]}}}" },
	{ XL_BEDROCK, XL_ANTHROPIC, "{'output':{'message':{'content':[]}},'usage':"
	  "{'inputTokens':1.5}}" },
};

static void test_xlate_response_refuses_bodies_not_in_the_format(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_answers) / sizeof(bad_answers[0]); i++) {
		struct buf out = { 0 };
		char *in = q(bad_answers[i].in);
		int rc = response(bad_answers[i].from, bad_answers[i].to, in, strlen(in), "m", "i",
				  &out);

		if (rc != -EPROTO)
			fail_msg("case %zu: rc %d, want -EPROTO", i, rc);
		assert_int_equal(out.len, 0);
		free(in);
		buf_free(&out);
	}
	/* A pair it does not translate. */
	{
		struct buf out = { 0 };

		assert_int_equal(response(XL_OPENAI, XL_GEMINI, "{}", 2, "m", "i", &out), -EINVAL);
		assert_int_equal(response(XL_OPENAI, XL_OPENAI, "{}", 2, "m", "i", &out), -EINVAL);
	}
}

static void test_xlate_response_survives_truncated_answers(void **state)
{
	const char *const bodies[] = { OA_ANSWER, AN_ANSWER, GEM_ANSWER, BR_ANSWER };
	const enum xl_dialect froms[] = { XL_OPENAI, XL_ANTHROPIC, XL_GEMINI, XL_BEDROCK };
	size_t b, k, len;

	(void)state;
	for (b = 0; b < 4; b++) {
		char *in = q(bodies[b]);

		len = strlen(in);
		for (k = 0; k <= len; k++) {
			enum xl_dialect to;

			for (to = XL_OPENAI; to <= XL_ANTHROPIC; to++) {
				struct buf out = { 0 };
				int rc;

				if (to == froms[b])
					continue;
				rc = response(froms[b], to, in, k, "m", "i", &out);
				assert_int_equal(rc, k == len ? 0 : -EPROTO);
				buf_free(&out);
			}
		}
		free(in);
	}
}

/* An OpenAI caller on an Anthropic provider: the call the provider made
 * comes back to the caller, and the caller's answer to it goes back to the
 * provider, ids, names and arguments intact. */
static void test_xlate_round_trip_keeps_tool_calls(void **state)
{
	struct buf out = { 0 };
	json_t *got, *call, *args;
	char err[256], *in;
	const char *s;

	(void)state;
	in = q(AN_ANSWER);
	assert_int_equal(response(XL_ANTHROPIC, XL_OPENAI, in, strlen(in), "m", "i", &out), 0);
	free(in);
	got = json_loadb(out.p, out.len, 0, NULL);
	call = json_array_get(json_object_get(json_object_get(json_array_get(
		json_object_get(got, "choices"), 0), "message"), "tool_calls"), 0);
	assert_string_equal(json_string_value(json_object_get(call, "id")), "toolu_01");
	s = json_string_value(json_object_get(json_object_get(call, "function"), "arguments"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(call, "function"),
							      "name")), "shell");
	args = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	{
		json_t *want = J("{'cmd':'ls -l'}");

		assert_true(json_equal(args, want));
		json_decref(want);
	}
	json_decref(args);

	/* The caller's next request: the assistant message as it came, and
	 * the tool's answer. */
	{
		json_t *req = J("{'model':'gpt-4o','messages':[{'role':'user','content':'ls please'},"
				"{'role':'tool','tool_call_id':'toolu_01','content':'a b'}]}");
		json_t *msg = json_object_get(json_array_get(json_object_get(got, "choices"), 0),
					      "message");
		json_t *turns, *want;
		char *body;

		json_array_insert(json_object_get(req, "messages"), 1, msg);
		body = json_dumps(req, JSON_COMPACT);
		buf_free(&out);
		assert_int_equal(request(XL_OPENAI, XL_ANTHROPIC, body, strlen(body), "claude-x",
					 false, &out, err, sizeof(err)), 0);
		free(body);
		json_decref(req);
		req = json_loadb(out.p, out.len, 0, NULL);
		turns = json_object_get(req, "messages");
		want = J("[{'role':'user','content':[{'type':'text','text':'ls please'}]},"
			 "{'role':'assistant','content':[{'type':'text','text':'Checking.'},"
			 "{'type':'tool_use','id':'toolu_01','name':'shell','input':{'cmd':'ls -l'}}]},"
			 "{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_01',"
			 "'content':[{'type':'text','text':'a b'}]}]}]");
		assert_true(json_equal(turns, want));
		json_decref(want);
		json_decref(req);
	}
	json_decref(got);
	buf_free(&out);
}

/* Anthropic and Bedrock take tool ids of [A-Za-z0-9_-]{1,64}: another id
 * is rewritten, the same way in the call and in its result, and two ids
 * differing only in a refused character stay apart. */
static void test_xlate_request_rewrites_tool_ids_alike(void **state)
{
	const enum xl_dialect tos[] = { XL_ANTHROPIC, XL_BEDROCK };
	char err[256], *in;
	size_t t, i;

	(void)state;
	in = q("{'messages':[{'role':'user','content':'go'},"
	       "{'role':'assistant','tool_calls':[{'id':'fn:1/a','type':'function','function':"
	       "{'name':'f','arguments':'{}'}},{'id':'fn:1.a','type':'function','function':"
	       "{'name':'f','arguments':'{}'}},{'id':'ok_id-1','type':'function','function':"
	       "{'name':'f','arguments':'{}'}}]},"
	       "{'role':'tool','tool_call_id':'fn:1/a','content':'1'},"
	       "{'role':'tool','tool_call_id':'fn:1.a','content':'2'},"
	       "{'role':'tool','tool_call_id':'ok_id-1','content':'3'}]}");
	for (t = 0; t < 2; t++) {
		struct buf out = { 0 };
		json_t *got, *msgs, *calls, *results;
		const char *ids[3];

		assert_int_equal(request(XL_OPENAI, tos[t], in, strlen(in), "m", false, &out, err,
					 sizeof(err)), 0);
		got = json_loadb(out.p, out.len, 0, NULL);
		msgs = json_object_get(got, "messages");
		calls = json_object_get(json_array_get(msgs, 1), "content");
		results = json_object_get(json_array_get(msgs, 2), "content");
		assert_int_equal(json_array_size(calls), 3);
		assert_int_equal(json_array_size(results), 3);
		for (i = 0; i < 3; i++) {
			json_t *c = json_array_get(calls, i), *r = json_array_get(results, i);
			const char *cid, *rid;
			size_t k;

			cid = t ? json_string_value(json_object_get(json_object_get(c, "toolUse"),
								    "toolUseId"))
				: json_string_value(json_object_get(c, "id"));
			rid = t ? json_string_value(json_object_get(json_object_get(r, "toolResult"),
								    "toolUseId"))
				: json_string_value(json_object_get(r, "tool_use_id"));
			assert_non_null(cid);
			assert_non_null(rid);
			assert_string_equal(cid, rid);
			assert_true(strlen(cid) >= 1 && strlen(cid) <= 64);
			for (k = 0; cid[k]; k++)
				assert_non_null(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
						       "0123456789_-", cid[k]));
			ids[i] = cid;
		}
		assert_string_not_equal(ids[0], ids[1]);
		assert_string_equal(ids[2], "ok_id-1");
		json_decref(got);
		buf_free(&out);
	}
	free(in);
}

/* ---- errors ------------------------------------------------------------------- */

struct err_case {
	enum xl_dialect from, to;
	int status;
	const char *in, *want;
};

static const struct err_case err_cases[] = {
	{ XL_ANTHROPIC, XL_OPENAI, 429, "{'type':'error','error':{'type':'rate_limit_error',"
	  "'message':'Number of requests has exceeded your rate limit'},'request_id':'r'}",
	  "{'error':{'message':'Number of requests has exceeded your rate limit',"
	  "'type':'rate_limit_exceeded','param':null,'code':'rate_limit_exceeded'}}" },
	{ XL_ANTHROPIC, XL_OPENAI, 529, "{'type':'error','error':{'type':'overloaded_error',"
	  "'message':'Overloaded'}}",
	  "{'error':{'message':'Overloaded','type':'server_error','param':null,'code':null}}" },
	{ XL_OPENAI, XL_ANTHROPIC, 401, "{'error':{'message':'Incorrect API key provided.',"
	  "'type':'invalid_request_error','param':null,'code':'invalid_api_key'}}",
	  "{'type':'error','error':{'type':'authentication_error',"
	  "'message':'Incorrect API key provided.'}}" },
	{ XL_GEMINI, XL_OPENAI, 400, "{'error':{'code':400,'message':'API key not valid.',"
	  "'status':'INVALID_ARGUMENT'}}",
	  "{'error':{'message':'API key not valid.','type':'invalid_request_error','param':null,"
	  "'code':null}}" },
	{ XL_GEMINI, XL_ANTHROPIC, 404, "[{'error':{'code':404,'message':'models/x is not found',"
	  "'status':'NOT_FOUND'}}]",
	  "{'type':'error','error':{'type':'not_found_error','message':'models/x is not found'}}" },
	{ XL_GEMINI, XL_ANTHROPIC, 403, "{'error':{'code':403,'message':'Denied',"
	  "'status':'PERMISSION_DENIED'}}",
	  "{'type':'error','error':{'type':'permission_error','message':'Denied'}}" },
	{ XL_BEDROCK, XL_OPENAI, 429, "{'message':'Too many requests, please wait.'}",
	  "{'error':{'message':'Too many requests, please wait.','type':'rate_limit_exceeded',"
	  "'param':null,'code':'rate_limit_exceeded'}}" },
	{ XL_BEDROCK, XL_ANTHROPIC, 500, "{'Message':'The server encountered an internal error.'}",
	  "{'type':'error','error':{'type':'api_error',"
	  "'message':'The server encountered an internal error.'}}" },
	{ XL_BEDROCK, XL_ANTHROPIC, 429, "{'message':'slow down'}",
	  "{'type':'error','error':{'type':'rate_limit_error','message':'slow down'}}" },
	{ XL_OPENAI, XL_ANTHROPIC, 529, "{'error':{'message':'busy'}}",
	  "{'type':'error','error':{'type':'overloaded_error','message':'busy'}}" },
	{ XL_GEMINI, XL_ANTHROPIC, 502, "<html>Bad Gateway</html>",
	  "{'type':'error','error':{'type':'api_error','message':'provider returned status 502'}}" },
	{ XL_BEDROCK, XL_OPENAI, 503, "",
	  "{'error':{'message':'provider returned status 503','type':'server_error','param':null,"
	  "'code':null}}" },
	{ XL_ANTHROPIC, XL_OPENAI, 404, "{'type':'error','error':{'type':'not_found_error'}}",
	  "{'error':{'message':'provider returned status 404','type':'invalid_request_error',"
	  "'param':null,'code':'model_not_found'}}" },
	{ XL_OPENAI, XL_ANTHROPIC, 413, "{'error':{'message':'too big'}}",
	  "{'type':'error','error':{'type':'request_too_large','message':'too big'}}" },
};

static void test_xlate_error_keeps_the_provider_message(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *c = &err_cases[i];
		struct buf out = { 0 };
		struct guarded g = { 0 };
		char *in = q(c->in), name[32];

		assert_int_equal(guarded_init(&g, in, strlen(in)), 0);
		xl_error(c->from, c->to, c->status, g.data, strlen(in), &out);
		guarded_fini(&g);
		snprintf(name, sizeof(name), "error case %zu", i);
		expect_json(&out, c->want, name);
		free(in);
		buf_free(&out);
	}
}

static void test_xlate_error_takes_a_null_body(void **state)
{
	struct buf out = { 0 };

	(void)state;
	xl_error(XL_GEMINI, XL_OPENAI, 500, NULL, 0, &out);
	expect_json(&out, "{'error':{'message':'provider returned status 500','type':'server_error',"
		    "'param':null,'code':null}}", "null body");
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xlate_request_full_conversation_every_pair),
		cmocka_unit_test(test_xlate_request_rules),
		cmocka_unit_test(test_xlate_request_appends_to_out),
		cmocka_unit_test(test_xlate_request_refuses_what_it_cannot_translate),
		cmocka_unit_test(test_xlate_request_survives_mutated_and_truncated_bodies),
		cmocka_unit_test(test_xlate_request_rewrites_tool_ids_alike),
		cmocka_unit_test(test_xlate_response_every_dialect_to_both_callers),
		cmocka_unit_test(test_xlate_response_refuses_bodies_not_in_the_format),
		cmocka_unit_test(test_xlate_response_survives_truncated_answers),
		cmocka_unit_test(test_xlate_round_trip_keeps_tool_calls),
		cmocka_unit_test(test_xlate_error_keeps_the_provider_message),
		cmocka_unit_test(test_xlate_error_takes_a_null_body),
	};

	return cmocka_run_group_tests_name("xlate", tests, NULL, NULL);
}
