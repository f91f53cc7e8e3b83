// SPDX-License-Identifier: Apache-2.0
//
// The provider simulator (tests/sim/provider-sim.mjs) against the official
// SDKs, directly: if the SDKs accept its wire formats (JSON bodies, SSE
// streams, the AWS event-stream framing, SigV4, error objects), the gateway
// tests that put tollgated between the two can trust what they see.
//
// SIM_URL names a running simulator (tests/integration/test_sim.sh starts
// one); without it this file starts its own. Keys are the simulator's
// defaults (docs/simulator.md).
//
//   node --test sim-sdk.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import OpenAI, { AzureOpenAI } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';

const KEYS = {
	openai: 'sk-sim-openai', azure: 'sim-azure-key', anthropic: 'sk-ant-sim', gemini: 'sim-gemini-key',
	awsId: 'AKIASIMULATOR0000000', awsSecret: 'sim/aws/secret/access/key', region: 'us-east-1',
};

let SIM = process.env.SIM_URL;
let child = null;

before(async () => {
	if (SIM)
		return;
	const path = fileURLToPath(new URL('../sim/provider-sim.mjs', import.meta.url));
	child = spawn(process.execPath, [path, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
	const line = await new Promise((resolve, reject) => {
		createInterface({ input: child.stdout }).once('line', resolve);
		child.once('exit', (c) => reject(new Error(`simulator exited ${c}`)));
	});
	SIM = `http://127.0.0.1:${line.split(' ')[1]}`;
});

after(() => {
	if (child)
		child.kill('SIGTERM');
});

// ------------------------------------------------------------ helpers

async function simLog() {
	const text = await (await fetch(`${SIM}/_sim/log`)).text();
	return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// The log entry of the last request whose path ends in PATH.
async function lastEntry(path) {
	const entries = (await simLog()).filter((e) => e.path.endsWith(path));
	assert.ok(entries.length, `no log entry for ${path}`);
	return entries[entries.length - 1];
}

async function queueFault(f) {
	const r = await fetch(`${SIM}/_sim/faults`, { method: 'POST', body: JSON.stringify(f) });
	assert.equal(r.status, 200, await r.text());
}

const openai = (o = {}) => new OpenAI({ apiKey: KEYS.openai, baseURL: `${SIM}/v1`, maxRetries: 0, ...o });
const anthropic = (o = {}) => new Anthropic({ apiKey: KEYS.anthropic, baseURL: SIM, maxRetries: 0, ...o });
const gemini = (o = {}) => new GoogleGenAI({ apiKey: KEYS.gemini,
	httpOptions: { baseUrl: SIM, retryOptions: { attempts: 1 } }, ...o });
const bedrock = (creds = {}) => new BedrockRuntimeClient({ region: KEYS.region, endpoint: SIM,
	maxAttempts: 1, credentials: { accessKeyId: KEYS.awsId, secretAccessKey: KEYS.awsSecret, ...creds } });

const weatherSchema = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } },
	required: ['city', 'days'] };

// By the usage rule: one user message "what is the weather tool for Paris"
// (7 words) costs 4 + 7 = 11 prompt tokens; the call's arguments are
// {"city":"what is the weather tool for Paris","days":7} = 52 characters =
// 6 slices of 10, + 1 for the call: 7 completion tokens.
const TOOL_PROMPT = 'what is the weather tool for Paris';
const TOOL_ARGS = { city: TOOL_PROMPT, days: 7 };
// A Bedrock model id has a ':', which goes %3A-encoded in the path.
const BEDROCK_MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';

// ------------------------------------------------------------ OpenAI

test('openai: chat completion, content and usage by the rule, logged', async () => {
	const c = await openai().chat.completions.create({ model: 'gpt-4o-mini',
		messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello there world' }] });
	assert.equal(c.object, 'chat.completion');
	assert.equal(c.choices[0].message.content, 'echo: hello there world');
	assert.equal(c.choices[0].finish_reason, 'stop');
	// (4 + 2) + (4 + 3) prompt; "echo:" " hello" " there" " world" completion
	assert.deepEqual([c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens], [13, 4, 17]);
	const e = await lastEntry('/v1/chat/completions');
	assert.equal(e.provider, 'openai');
	assert.equal(e.model, 'gpt-4o-mini');
	assert.equal(e.stream, false);
	assert.equal(e.status, 200);
	assert.deepEqual(e.usage, { prompt_tokens: 13, completion_tokens: 4, total_tokens: 17 });
	assert.equal(JSON.parse(e.body).messages[1].content, 'hello there world');
});

test('openai: streaming with include_usage ends on a usage chunk with no choices', async () => {
	const stream = await openai().chat.completions.create({ model: 'gpt-4o', stream: true,
		stream_options: { include_usage: true },
		messages: [{ role: 'user', content: 'one two three four five' }] });
	let text = '';
	const chunks = [];
	for await (const ch of stream) {
		chunks.push(ch);
		text += ch.choices[0]?.delta?.content ?? '';
	}
	assert.equal(text, 'echo: one two three four five');
	const last = chunks[chunks.length - 1];
	assert.deepEqual(last.choices, []);
	assert.equal(chunks[chunks.length - 2].choices[0].finish_reason, 'stop');
	assert.ok(chunks.slice(0, -1).every((ch) => ch.usage === null));
	const e = await lastEntry('/v1/chat/completions');
	assert.equal(e.stream, true);
	assert.equal(e.completed, true);
	assert.deepEqual({ prompt_tokens: last.usage.prompt_tokens, completion_tokens: last.usage.completion_tokens,
		total_tokens: last.usage.total_tokens }, e.usage);
	assert.deepEqual(e.usage, { prompt_tokens: 9, completion_tokens: 6, total_tokens: 15 });
	assert.equal(e.completion_delivered, 6);
});

test('openai: streaming without include_usage carries no usage at all', async () => {
	const stream = await openai().chat.completions.create({ model: 'gpt-4o', stream: true,
		messages: [{ role: 'user', content: 'a b' }] });
	for await (const ch of stream) {
		assert.equal(ch.usage, undefined);
		assert.equal(ch.choices.length, 1);
	}
});

test('openai: tool call, non-streaming then the tool result turn', async () => {
	const client = openai();
	const tools = [{ type: 'function', function: { name: 'get_weather', parameters: weatherSchema } }];
	const messages = [{ role: 'user', content: TOOL_PROMPT }];
	const c = await client.chat.completions.create({ model: 'gpt-4o', tools, messages });
	const call = c.choices[0].message.tool_calls[0];
	assert.equal(c.choices[0].finish_reason, 'tool_calls');
	assert.equal(call.type, 'function');
	assert.equal(call.function.name, 'get_weather');
	assert.deepEqual(JSON.parse(call.function.arguments), TOOL_ARGS);
	assert.equal(c.usage.completion_tokens, 7);
	const c2 = await client.chat.completions.create({ model: 'gpt-4o', tools, messages: [...messages,
		c.choices[0].message, { role: 'tool', tool_call_id: call.id, content: 'sunny 21C' }] });
	assert.equal(c2.choices[0].finish_reason, 'stop');
	assert.equal(c2.choices[0].message.content, 'echo: sunny 21C');
});

test('openai: tool call streamed, accumulated by the SDK stream helper', async () => {
	const tools = [{ type: 'function', function: { name: 'get_weather', parameters: weatherSchema } },
		{ type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } }];
	const runner = openai().chat.completions.stream({ model: 'gpt-4o', tools,
		stream_options: { include_usage: true },
		messages: [{ role: 'user', content: 'call the get_time tool' }] });
	const final = await runner.finalChatCompletion();
	const call = final.choices[0].message.tool_calls[0];
	assert.equal(call.function.name, 'get_time');
	assert.deepEqual(JSON.parse(call.function.arguments), {});
	assert.equal(final.choices[0].finish_reason, 'tool_calls');
	// (4 + 4) prompt; "{}" is one slice, + 1 for the call
	assert.deepEqual([final.usage.prompt_tokens, final.usage.completion_tokens], [8, 2]);
});

test('openai: response_format json_schema and json_object answer JSON', async () => {
	const schema = { type: 'object', properties: { answer: { type: 'string' }, words: { type: 'integer' },
		ok: { type: 'boolean' } }, required: ['answer', 'words', 'ok'] };
	const c = await openai().chat.completions.create({ model: 'gpt-4o',
		response_format: { type: 'json_schema', json_schema: { name: 'r', schema, strict: true } },
		messages: [{ role: 'user', content: 'give me json' }] });
	assert.deepEqual(JSON.parse(c.choices[0].message.content), { answer: 'give me json', words: 3, ok: true });
	const o = await openai().chat.completions.create({ model: 'gpt-4o', response_format: { type: 'json_object' },
		messages: [{ role: 'user', content: 'as json' }] });
	assert.deepEqual(JSON.parse(o.choices[0].message.content), { echo: 'as json' });
});

test('openai: max_tokens cuts the answer with finish_reason length', async () => {
	const c = await openai().chat.completions.create({ model: 'gpt-4o', max_completion_tokens: 2,
		messages: [{ role: 'user', content: 'a b c d' }] });
	assert.equal(c.choices[0].message.content, 'echo: a');
	assert.equal(c.choices[0].finish_reason, 'length');
	assert.equal(c.usage.completion_tokens, 2);
});

test('openai: embeddings, base64 (SDK default) and float, deterministic unit vectors', async () => {
	const client = openai();
	const a = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha beta', 'gamma'] });
	assert.equal(a.data.length, 2);
	assert.equal(a.data[0].embedding.length, 16);
	const norm = Math.sqrt(a.data[0].embedding.reduce((s, x) => s + x * x, 0));
	assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
	assert.equal(a.usage.prompt_tokens, 3);
	const b = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'alpha beta',
		encoding_format: 'float', dimensions: 16 });
	assert.deepEqual(b.data[0].embedding, a.data[0].embedding);
	assert.notDeepEqual(a.data[1].embedding, a.data[0].embedding);
	const big = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x', dimensions: 1536 });
	assert.equal(big.data[0].embedding.length, 1536);
});

test('openai: models list and retrieve, unknown model 404', async () => {
	const client = openai();
	const ids = [];
	for await (const m of client.models.list())
		ids.push(m.id);
	assert.ok(ids.includes('gpt-4o'));
	assert.equal((await client.models.retrieve('gpt-4o-mini')).id, 'gpt-4o-mini');
	await assert.rejects(client.models.retrieve('no-such-model'), OpenAI.NotFoundError);
	await assert.rejects(client.chat.completions.create({ model: 'nonexistent-x',
		messages: [{ role: 'user', content: 'x' }] }), (e) => e instanceof OpenAI.NotFoundError &&
		e.code === 'model_not_found');
});

test('openai: legacy completions, plain and streamed with usage', async () => {
	const client = openai();
	const c = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'say this' });
	assert.equal(c.choices[0].text, 'echo: say this');
	assert.deepEqual([c.usage.prompt_tokens, c.usage.completion_tokens], [6, 3]);
	const s = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'say this',
		stream: true, stream_options: { include_usage: true } });
	let text = '', usage = null;
	for await (const ch of s) {
		text += ch.choices[0]?.text ?? '';
		usage = ch.usage ?? usage;
	}
	assert.equal(text, 'echo: say this');
	assert.equal(usage.total_tokens, 9);
});

test('openai: responses API, non-streaming and streamed with the real event names', async () => {
	const client = openai();
	const r = await client.responses.create({ model: 'gpt-4o', instructions: 'be kind', input: 'tell me more' });
	assert.equal(r.status, 'completed');
	assert.equal(r.output_text, 'echo: tell me more');
	assert.deepEqual([r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens], [13, 4, 17]);
	const s = client.responses.stream({ model: 'gpt-4o', input: [{ role: 'user', content: 'tell me more' }] });
	const types = [];
	let text = '';
	for await (const ev of s) {
		types.push(ev.type);
		if (ev.type === 'response.output_text.delta')
			text += ev.delta;
	}
	const final = await s.finalResponse();
	assert.equal(text, 'echo: tell me more');
	assert.equal(final.output_text, 'echo: tell me more');
	assert.deepEqual(types.filter((t) => t !== 'response.output_text.delta'), ['response.created',
		'response.in_progress', 'response.output_item.added', 'response.content_part.added',
		'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
		'response.completed']);
	const e = await lastEntry('/v1/responses');
	assert.deepEqual(e.usage, { prompt_tokens: final.usage.input_tokens,
		completion_tokens: final.usage.output_tokens, total_tokens: final.usage.total_tokens });
});

test('openai: responses API function call, streamed', async () => {
	const s = openai().responses.stream({ model: 'gpt-4o', input: TOOL_PROMPT,
		tools: [{ type: 'function', name: 'get_weather', parameters: weatherSchema, strict: false }] });
	let args = '';
	for await (const ev of s)
		if (ev.type === 'response.function_call_arguments.delta')
			args += ev.delta;
	const final = await s.finalResponse();
	assert.equal(final.output[0].type, 'function_call');
	assert.equal(final.output[0].name, 'get_weather');
	assert.deepEqual(JSON.parse(args), TOOL_ARGS);
	assert.equal(final.usage.output_tokens, 7);
});

test('openai: wrong key is a 401 AuthenticationError with an OpenAI error object', async () => {
	await assert.rejects(openai({ apiKey: 'sk-wrong' }).chat.completions.create({ model: 'gpt-4o',
		messages: [{ role: 'user', content: 'x' }] }), (e) => {
		assert.ok(e instanceof OpenAI.AuthenticationError);
		assert.equal(e.status, 401);
		assert.equal(e.code, 'invalid_api_key');
		assert.equal(e.type, 'invalid_request_error');
		return true;
	});
	const e = await lastEntry('/v1/chat/completions');
	assert.equal(e.status, 401);
	assert.equal(e.usage, null);
});

test('openai: x-sim-fault 429 is a RateLimitError with Retry-After and rate-limit headers', async () => {
	await assert.rejects(openai().chat.completions.create({ model: 'gpt-4o',
		messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-fault': '429', 'x-sim-retry-after': '7' } }),
	(e) => {
		assert.ok(e instanceof OpenAI.RateLimitError);
		assert.equal(e.headers.get('retry-after'), '7');
		assert.equal(e.headers.get('x-ratelimit-remaining-requests'), '0');
		assert.equal(e.code, 'rate_limit_exceeded');
		return true;
	});
});

test('openai: x-sim-fault 500 is an InternalServerError', async () => {
	await assert.rejects(openai().chat.completions.create({ model: 'gpt-4o',
		messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-fault': '500' } }),
	(e) => e instanceof OpenAI.InternalServerError && e.status === 500 && e.type === 'server_error');
});

test('faults: queued by /_sim/faults, counted, per provider; the SDK retry gets through', async () => {
	await queueFault({ provider: 'openai', mode: '500', count: 2 });
	await queueFault({ provider: 'anthropic', mode: '429', count: 1, retry_after: 0 });
	const client = openai();
	const msg = { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] };
	await assert.rejects(client.chat.completions.create(msg), OpenAI.InternalServerError);
	await assert.rejects(client.chat.completions.create(msg), OpenAI.InternalServerError);
	assert.equal((await client.chat.completions.create(msg)).choices[0].message.content, 'echo: x');
	// The anthropic fault is still queued; with one retry the SDK sees the
	// 429, waits and succeeds.
	const m = await anthropic({ maxRetries: 1 }).messages.create({ model: 'claude-sonnet-4-20250514',
		max_tokens: 64, messages: [{ role: 'user', content: 'retry me' }] });
	assert.equal(m.content[0].text, 'echo: retry me');
	const statuses = (await simLog()).filter((e) => e.provider === 'anthropic').slice(-2).map((e) => e.status);
	assert.deepEqual(statuses, [429, 200]);
	const bad = await fetch(`${SIM}/_sim/faults`, { method: 'POST', body: JSON.stringify({ mode: 'explode' }) });
	assert.equal(bad.status, 400);
});

test('faults: stall never answers (SDK timeout), stall-after:K stops a stream after K events', async () => {
	await assert.rejects(openai({ timeout: 300 }).chat.completions.create({ model: 'gpt-4o',
		messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-fault': 'stall' } }),
	OpenAI.APIConnectionTimeoutError);
	const stalledEntry = await lastEntry('/v1/chat/completions');
	assert.deepEqual([stalledEntry.status, stalledEntry.stalled, stalledEntry.completed], [null, true, false]);
	const ac = new AbortController();
	const stream = await openai().chat.completions.create({ model: 'gpt-4o', stream: true,
		messages: [{ role: 'user', content: 'a b c d' }] }, { headers: { 'x-sim-fault': 'stall-after:2' },
		signal: ac.signal });
	const got = [];
	const t0 = Date.now();
	const timer = setTimeout(() => ac.abort(), 400);
	try {
		for await (const ch of stream)
			got.push(ch.choices[0].delta.content);
	} catch (e) {
		assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', String(e));
	}
	clearTimeout(timer);
	// Only the abort ended it: the stream itself never finished.
	assert.ok(Date.now() - t0 >= 390, `ended after ${Date.now() - t0} ms`);
	assert.deepEqual(got, ['', 'echo:']);
	const e = await lastEntry('/v1/chat/completions');
	assert.equal(e.events_sent, 2);
	assert.equal(e.completion_delivered, 1);        // "echo:" of 5 pieces
	assert.equal(e.completed, false);
	assert.equal(e.stalled, true);
});

test('faults: reset cuts the connection, mid-body and mid-stream', async () => {
	await assert.rejects(openai().chat.completions.create({ model: 'gpt-4o',
		messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-sim-fault': 'reset' } }),
	(e) => e instanceof OpenAI.APIConnectionError || e instanceof SyntaxError || /terminated|aborted|socket/i.test(String(e)));
	const stream = await anthropic().messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 64,
		stream: true, messages: [{ role: 'user', content: 'a b c d' }] }, { headers: { 'x-sim-fault': 'reset-after:3' } });
	const types = [];
	await assert.rejects((async () => {
		for await (const ev of stream)
			types.push(ev.type);
	})());
	assert.deepEqual(types, ['message_start', 'content_block_start']);   // ping is not yielded
	const e = await lastEntry('/v1/messages');
	assert.equal(e.events_sent, 3);
	assert.equal(e.completion_delivered, 0);        // no text delta yet
	assert.equal(e.reset, true);
});

test('a client that leaves a slow stream early is logged with what it was sent', async () => {
	const stream = await openai().chat.completions.create({ model: 'gpt-4o', stream: true,
		messages: [{ role: 'user', content: 'a b c d e f' }] }, { headers: { 'x-sim-fault': 'slow:100' } });
	for await (const ch of stream)
		if (ch.choices[0].delta.content === 'echo:')
			break;                  // the SDK aborts the request
	await new Promise((r) => setTimeout(r, 250));
	const e = await lastEntry('/v1/chat/completions');
	assert.equal(e.client_closed, true);
	assert.equal(e.completed, false);
	assert.deepEqual([e.events_sent, e.completion_delivered, e.usage.completion_tokens], [2, 1, 7]);
});

test('faults: error-after:K is each provider\'s in-stream error, which each SDK raises', async () => {
	const hdr = (k) => ({ headers: { 'x-sim-fault': `error-after:${k}` } });
	const drain = async (it, seen) => {
		for await (const ev of it)
			seen.push(ev);
	};
	let seen = [];
	const o = await openai().chat.completions.create({ model: 'gpt-4o', stream: true,
		messages: [{ role: 'user', content: 'a b c' }] }, hdr(2));
	await assert.rejects(drain(o, seen), (e) => e instanceof OpenAI.APIError && /server had an error/.test(e.message));
	assert.equal(seen.length, 2);
	seen = [];
	const a = await anthropic().messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 64, stream: true,
		messages: [{ role: 'user', content: 'a b c' }] }, hdr(4));
	await assert.rejects(drain(a, seen), (e) => e instanceof Anthropic.APIError && e.error?.error?.type === 'overloaded_error');
	assert.deepEqual(seen.map((ev) => ev.type), ['message_start', 'content_block_start', 'content_block_delta']);
	seen = [];
	const g = await gemini().models.generateContentStream({ model: 'gemini-2.0-flash', contents: 'a b c',
		config: { httpOptions: { headers: { 'x-sim-fault': 'error-after:1' } } } });
	await assert.rejects(drain(g, seen), (e) => /INTERNAL|internal error/.test(String(e.message)));
	assert.equal(seen.length, 1);
	await queueFault({ provider: 'bedrock', mode: 'error-after:2', count: 1 });
	const b = await bedrock().send(new ConverseStreamCommand({ modelId: BEDROCK_MODEL,
		messages: [{ role: 'user', content: [{ text: 'a b c' }] }] }));
	seen = [];
	await assert.rejects(drain(b.stream, seen), (e) => e.name === 'InternalServerException');
	assert.equal(seen.length, 2);
	const e = await lastEntry(`/model/${encodeURIComponent(BEDROCK_MODEL)}/converse-stream`);
	assert.deepEqual([e.stream_error, e.completed, e.completion_delivered], [true, false, 1]);
});

test('faults: slow:MS delays every event', async () => {
	const t0 = Date.now();
	const stream = await openai().chat.completions.create({ model: 'gpt-4o', stream: true,
		messages: [{ role: 'user', content: 'a b' }] }, { headers: { 'x-sim-fault': 'slow:40' } });
	let n = 0;
	for await (const _ of stream)
		n++;
	// role chunk, 3 words, finish chunk, [DONE]: 6 frames of 40 ms
	assert.equal(n, 5);
	assert.ok(Date.now() - t0 >= 6 * 40, `took ${Date.now() - t0} ms`);
});

// ------------------------------------------------------------ Azure

test('azure: AzureOpenAI client, deployment path, api-key header, streaming', async () => {
	const az = new AzureOpenAI({ endpoint: SIM, apiKey: KEYS.azure, apiVersion: '2024-10-21',
		deployment: 'gpt4o-prod', maxRetries: 0 });
	const c = await az.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi azure' }] });
	assert.equal(c.choices[0].message.content, 'echo: hi azure');
	assert.equal(c.model, 'gpt4o-prod');
	const e = await lastEntry('/openai/deployments/gpt4o-prod/chat/completions');
	assert.equal(e.provider, 'azure');
	assert.equal(e.model, 'gpt4o-prod');
	const s = await az.chat.completions.create({ model: 'gpt-4o', stream: true,
		stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi azure' }] });
	let text = '', usage = null;
	for await (const ch of s) {
		text += ch.choices[0]?.delta?.content ?? '';
		usage = ch.usage ?? usage;
	}
	assert.equal(text, 'echo: hi azure');
	assert.deepEqual([usage.prompt_tokens, usage.completion_tokens], [6, 3]);
	const emb = await az.embeddings.create({ model: 'emb', input: 'x' });
	assert.equal(emb.data[0].embedding.length, 16);
});

test('azure: wrong key 401, missing api-version 400', async () => {
	const az = new AzureOpenAI({ endpoint: SIM, apiKey: 'nope', apiVersion: '2024-10-21',
		deployment: 'd', maxRetries: 0 });
	await assert.rejects(az.chat.completions.create({ model: 'd', messages: [{ role: 'user', content: 'x' }] }),
		OpenAI.AuthenticationError);
	const r = await fetch(`${SIM}/openai/deployments/d/chat/completions`, { method: 'POST',
		headers: { 'api-key': KEYS.azure }, body: JSON.stringify({ messages: [] }) });
	assert.equal(r.status, 400);
	assert.match((await r.json()).error.message, /api-version/);
});

// ------------------------------------------------------------ Anthropic

test('anthropic: message, content and usage by the rule, logged', async () => {
	const m = await anthropic().messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 100,
		system: 'you echo', messages: [{ role: 'user', content: 'hello claude' }] });
	assert.equal(m.type, 'message');
	assert.equal(m.content[0].type, 'text');
	assert.equal(m.content[0].text, 'echo: hello claude');
	assert.equal(m.stop_reason, 'end_turn');
	assert.deepEqual([m.usage.input_tokens, m.usage.output_tokens], [12, 3]);
	const e = await lastEntry('/v1/messages');
	assert.equal(e.provider, 'anthropic');
	assert.deepEqual(e.usage, { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 });
});

test('anthropic: streaming, finalMessage usage equals the logged usage', async () => {
	const s = anthropic().messages.stream({ model: 'claude-sonnet-4-20250514', max_tokens: 100,
		messages: [{ role: 'user', content: [{ type: 'text', text: 'stream these five words please' }] }] });
	let text = '';
	s.on('text', (t) => { text += t; });
	const final = await s.finalMessage();
	assert.equal(text, 'echo: stream these five words please');
	assert.equal(final.content[0].text, text);
	assert.equal(final.stop_reason, 'end_turn');
	const e = await lastEntry('/v1/messages');
	assert.equal(e.stream, true);
	assert.equal(final.usage.input_tokens, e.usage.prompt_tokens);
	assert.equal(final.usage.output_tokens, e.usage.completion_tokens);
	assert.deepEqual([final.usage.input_tokens, final.usage.output_tokens], [9, 6]);
});

test('anthropic: raw stream event order', async () => {
	const s = await anthropic().messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 100,
		stream: true, messages: [{ role: 'user', content: 'a' }] });
	const types = [];
	for await (const ev of s)
		types.push(ev.type);
	assert.deepEqual(types, ['message_start', 'content_block_start', 'content_block_delta',
		'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
});

test('anthropic: tool use, non-streaming and streamed (input_json_delta), then tool_result', async () => {
	const client = anthropic();
	const tools = [{ name: 'get_weather', description: 'weather', input_schema: weatherSchema }];
	const messages = [{ role: 'user', content: TOOL_PROMPT }];
	const m = await client.messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 200, tools, messages });
	assert.equal(m.stop_reason, 'tool_use');
	assert.equal(m.content[0].type, 'tool_use');
	assert.equal(m.content[0].name, 'get_weather');
	assert.deepEqual(m.content[0].input, TOOL_ARGS);
	assert.deepEqual([m.usage.input_tokens, m.usage.output_tokens], [11, 7]);
	const s = client.messages.stream({ model: 'claude-sonnet-4-20250514', max_tokens: 200, tools, messages });
	let partial = '';
	s.on('inputJson', (delta) => { partial += delta; });
	const final = await s.finalMessage();
	assert.deepEqual(final.content[0].input, TOOL_ARGS);
	assert.deepEqual(JSON.parse(partial), TOOL_ARGS);
	assert.equal(final.usage.output_tokens, 7);
	assert.equal((await lastEntry('/v1/messages')).completion_delivered, 7);
	const m2 = await client.messages.create({ model: 'claude-sonnet-4-20250514', max_tokens: 200, tools,
		messages: [...messages, { role: 'assistant', content: m.content },
			{ role: 'user', content: [{ type: 'tool_result', tool_use_id: m.content[0].id, content: 'rain' }] }] });
	assert.equal(m2.stop_reason, 'end_turn');
	assert.equal(m2.content[0].text, 'echo: rain');
});

test('anthropic: count_tokens agrees with the usage of the call', async () => {
	const req = { model: 'claude-sonnet-4-20250514', messages: [{ role: 'user', content: 'count me in' }] };
	const n = await anthropic().messages.countTokens(req);
	const m = await anthropic().messages.create({ ...req, max_tokens: 10 });
	assert.equal(n.input_tokens, m.usage.input_tokens);
});

test('anthropic: errors 401, 429 (with retry-after and ratelimit headers), 500, 529, no version 400', async () => {
	const req = { model: 'claude-sonnet-4-20250514', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] };
	await assert.rejects(anthropic({ apiKey: 'wrong' }).messages.create(req), (e) => {
		assert.ok(e instanceof Anthropic.AuthenticationError);
		assert.equal(e.error.type, 'error');
		assert.equal(e.error.error.type, 'authentication_error');
		return true;
	});
	await assert.rejects(anthropic().messages.create(req, { headers: { 'x-sim-fault': '429' } }), (e) => {
		assert.ok(e instanceof Anthropic.RateLimitError);
		assert.equal(e.headers.get('retry-after'), '1');
		assert.equal(e.headers.get('anthropic-ratelimit-requests-remaining'), '0');
		assert.equal(e.error.error.type, 'rate_limit_error');
		return true;
	});
	await assert.rejects(anthropic().messages.create(req, { headers: { 'x-sim-fault': '500' } }),
		(e) => e instanceof Anthropic.InternalServerError && e.error.error.type === 'api_error');
	await assert.rejects(anthropic().messages.create(req, { headers: { 'x-sim-fault': '529' } }),
		(e) => e.status === 529 && e.error.error.type === 'overloaded_error');
	const r = await fetch(`${SIM}/v1/messages`, { method: 'POST', headers: { 'x-api-key': KEYS.anthropic },
		body: JSON.stringify(req) });
	assert.equal(r.status, 400);
	assert.equal((await r.json()).error.type, 'invalid_request_error');
});

// ------------------------------------------------------------ Gemini

test('gemini: generateContent, text and usageMetadata', async () => {
	const r = await gemini().models.generateContent({ model: 'gemini-2.0-flash', contents: 'hello gemini there',
		config: { systemInstruction: 'terse' } });
	assert.equal(r.text, 'echo: hello gemini there');
	assert.equal(r.candidates[0].finishReason, 'STOP');
	assert.deepEqual([r.usageMetadata.promptTokenCount, r.usageMetadata.candidatesTokenCount,
		r.usageMetadata.totalTokenCount], [12, 4, 16]);
	const e = await lastEntry('/models/gemini-2.0-flash:generateContent');
	assert.equal(e.provider, 'gemini');
	assert.deepEqual(e.usage, { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 });
});

test('gemini: streamGenerateContent (alt=sse), the last chunk carries the final usage', async () => {
	const s = await gemini().models.generateContentStream({ model: 'gemini-2.0-flash', contents: 'one two three' });
	let text = '', last = null;
	for await (const ch of s) {
		text += ch.text ?? '';
		last = ch;
	}
	assert.equal(text, 'echo: one two three');
	const e = await lastEntry('/models/gemini-2.0-flash:streamGenerateContent');
	assert.equal(e.stream, true);
	assert.equal(last.usageMetadata.candidatesTokenCount, e.usage.completion_tokens);
	assert.equal(last.usageMetadata.totalTokenCount, e.usage.total_tokens);
});

test('gemini: functionCall part', async () => {
	const r = await gemini().models.generateContent({ model: 'gemini-2.0-flash', contents: TOOL_PROMPT,
		config: { tools: [{ functionDeclarations: [{ name: 'get_weather', parameters: {
			type: 'OBJECT', properties: { city: { type: 'STRING' }, days: { type: 'INTEGER' } } } }] }] } });
	assert.equal(r.functionCalls[0].name, 'get_weather');
	assert.deepEqual(r.functionCalls[0].args, TOOL_ARGS);
	assert.equal(r.usageMetadata.candidatesTokenCount, 7);
});

test('gemini: bad key 400 API_KEY_INVALID, 429 RESOURCE_EXHAUSTED', async () => {
	await assert.rejects(gemini({ apiKey: 'bad' }).models.generateContent({ model: 'gemini-2.0-flash',
		contents: 'x' }), (e) => e.status === 400 && /API key not valid/.test(e.message));
	await assert.rejects(gemini().models.generateContent({ model: 'gemini-2.0-flash', contents: 'x',
		config: { httpOptions: { headers: { 'x-sim-fault': '429' } } } }),
	(e) => e.status === 429 && /RESOURCE_EXHAUSTED/.test(e.message));
});

// ------------------------------------------------------------ Bedrock

test('bedrock: Converse through SigV4, usage by the rule', async () => {
	const r = await bedrock().send(new ConverseCommand({ modelId: BEDROCK_MODEL,
		system: [{ text: 'be short' }],
		messages: [{ role: 'user', content: [{ text: 'hello bedrock' }] }], inferenceConfig: { maxTokens: 50 } }));
	assert.equal(r.output.message.content[0].text, 'echo: hello bedrock');
	assert.equal(r.stopReason, 'end_turn');
	assert.deepEqual(r.usage, { inputTokens: 12, outputTokens: 3, totalTokens: 15 });
	const e = await lastEntry(`/model/${encodeURIComponent(BEDROCK_MODEL)}/converse`);
	assert.equal(e.provider, 'bedrock');
	assert.equal(e.model, BEDROCK_MODEL);
});

test('bedrock: ConverseStream in the binary event-stream framing, metadata usage', async () => {
	const r = await bedrock().send(new ConverseStreamCommand({ modelId: BEDROCK_MODEL,
		messages: [{ role: 'user', content: [{ text: 'stream from bedrock' }] }] }));
	const kinds = [];
	let text = '', usage = null;
	for await (const ev of r.stream) {
		const k = Object.keys(ev).find((x) => ev[x] !== undefined && x !== '$unknown');
		kinds.push(k);
		if (ev.contentBlockDelta)
			text += ev.contentBlockDelta.delta.text;
		if (ev.metadata)
			usage = ev.metadata.usage;
	}
	assert.equal(text, 'echo: stream from bedrock');
	assert.deepEqual(kinds, ['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockDelta',
		'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata']);
	const e = await lastEntry(`/model/${encodeURIComponent(BEDROCK_MODEL)}/converse-stream`);
	assert.deepEqual(usage, { inputTokens: e.usage.prompt_tokens, outputTokens: e.usage.completion_tokens,
		totalTokens: e.usage.total_tokens });
});

test('bedrock: tool use, non-streaming and streamed', async () => {
	const toolConfig = { tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: weatherSchema } } }] };
	const messages = [{ role: 'user', content: [{ text: TOOL_PROMPT }] }];
	const r = await bedrock().send(new ConverseCommand({ modelId: BEDROCK_MODEL, toolConfig, messages }));
	assert.equal(r.stopReason, 'tool_use');
	assert.equal(r.output.message.content[0].toolUse.name, 'get_weather');
	assert.deepEqual(r.output.message.content[0].toolUse.input, TOOL_ARGS);
	const s = await bedrock().send(new ConverseStreamCommand({ modelId: BEDROCK_MODEL, toolConfig, messages }));
	let input = '', name = null, stop = null;
	for await (const ev of s.stream) {
		if (ev.contentBlockStart)
			name = ev.contentBlockStart.start.toolUse.name;
		if (ev.contentBlockDelta)
			input += ev.contentBlockDelta.delta.toolUse.input;
		if (ev.messageStop)
			stop = ev.messageStop.stopReason;
	}
	assert.equal(name, 'get_weather');
	assert.deepEqual(JSON.parse(input), TOOL_ARGS);
	assert.equal(stop, 'tool_use');
});

test('bedrock: wrong secret 403 InvalidSignatureException, unknown key id, 429 ThrottlingException', async () => {
	const cmd = () => new ConverseCommand({ modelId: BEDROCK_MODEL,
		messages: [{ role: 'user', content: [{ text: 'x' }] }] });
	await assert.rejects(bedrock({ secretAccessKey: 'not-the-secret' }).send(cmd()), (e) => {
		assert.equal(e.name, 'InvalidSignatureException');
		assert.equal(e.$metadata.httpStatusCode, 403);
		return true;
	});
	await assert.rejects(bedrock({ accessKeyId: 'AKIAOTHER' }).send(cmd()),
		(e) => e.name === 'UnrecognizedClientException' && e.$metadata.httpStatusCode === 403);
	await queueFault({ provider: 'bedrock', mode: '429', count: 1 });
	await assert.rejects(bedrock().send(cmd()),
		(e) => e.name === 'ThrottlingException' && e.$metadata.httpStatusCode === 429);
	// A signature over another body does not verify either: tamper with
	// the body after signing.
	const client = bedrock();
	client.middlewareStack.add((next) => async (args) => {
		args.request.body = args.request.body.replace('"x"', '"y"');
		return next(args);
	}, { step: 'finalizeRequest', priority: 'low', name: 'tamper' });
	await assert.rejects(client.send(cmd()), (e) => e.name === 'InvalidSignatureException');
});

test('bedrock: reset-after:K over HTTP/2 ends the event stream after K messages', async () => {
	await queueFault({ provider: 'bedrock', mode: 'reset-after:2', count: 1 });
	const r = await bedrock().send(new ConverseStreamCommand({ modelId: BEDROCK_MODEL,
		messages: [{ role: 'user', content: [{ text: 'cut me short' }] }] }));
	const kinds = [];
	// The AWS SDK raises the RST_STREAM as an error when the simulator runs on
	// Node 20+; Node 18's HTTP/2 ends the stream before resetting it, which
	// the SDK takes for a clean end (as it does a closed connection). Either
	// way no message after the K-th arrives.
	try {
		for await (const ev of r.stream)
			kinds.push(Object.keys(ev).find((x) => ev[x] !== undefined));
	} catch (e) {
		assert.equal(e.code, 'ERR_HTTP2_STREAM_ERROR', String(e));
	}
	assert.deepEqual(kinds, ['messageStart', 'contentBlockDelta']);
	const e = await lastEntry(`/model/${encodeURIComponent(BEDROCK_MODEL)}/converse-stream`);
	assert.equal(e.headers[':scheme'], 'http');     // it came over HTTP/2
	assert.equal(e.events_sent, 2);
	assert.deepEqual([e.completion_delivered, e.usage.completion_tokens], [1, 4]);
	assert.equal(e.reset, true);
});

// ------------------------------------------------------------ control

test('control: /_sim/reset empties the log', async () => {
	assert.ok((await simLog()).length > 0);
	const r = await fetch(`${SIM}/_sim/reset`, { method: 'POST' });
	assert.equal(r.status, 200);
	assert.deepEqual(await simLog(), []);
});
