// SPDX-License-Identifier: Apache-2.0
//
// The official OpenAI and Anthropic SDKs as clients of tollgated's LLM front
// doors, with the provider simulator behind it (tests/integration/test_llm.sh
// starts both and sets the variables below). Every call's tokens in the
// gateway's access log must equal the usage the simulator reported.
//
//   GATEWAY_URL=http://127.0.0.1:P GATEWAY_KEY=K SIM_URL=http://127.0.0.1:S \
//   ACCESS_LOG=/path node --test gateway-sdk.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const GW = process.env.GATEWAY_URL;
const KEY = process.env.GATEWAY_KEY;
const SIM = process.env.SIM_URL;
const ACCESS_LOG = process.env.ACCESS_LOG;

const openai = new OpenAI({ baseURL: `${GW}/v1`, apiKey: KEY, maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: GW, apiKey: KEY, maxRetries: 0 });

async function simEntries() {
	const text = await (await fetch(`${SIM}/_sim/log`)).text();
	return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// The access log line of a request id (the gateway flushes within 200 ms).
async function accessLine(rid) {
	for (let i = 0; i < 40; i++) {
		const lines = readFileSync(ACCESS_LOG, 'utf8').split('\n').filter(Boolean);
		const hit = lines.map((l) => JSON.parse(l)).find((e) => e.request_id === rid);
		if (hit)
			return hit;
		await sleep(50);
	}
	assert.fail(`no access log line for ${rid}`);
}

// The simulator's usage for its last request, in (input, output) form.
async function simUsage() {
	const e = (await simEntries()).at(-1);
	assert.ok(e && e.usage, 'the simulator logged a usage');
	const u = e.usage;
	return { in: u.prompt_tokens ?? u.input_tokens, out: u.completion_tokens ?? u.output_tokens };
}

async function assertAccounted(rid, model, provider) {
	const a = await accessLine(rid);
	const u = await simUsage();
	assert.equal(a.model, model);
	assert.equal(a.provider, provider);
	assert.equal(a.tokens_in, u.in, 'input tokens equal the provider usage');
	assert.equal(a.tokens_out, u.out, 'output tokens equal the provider usage');
	return a;
}

const user = (content) => [{ role: 'user', content }];

test('openai: chat completion, usage accounted exactly', async () => {
	const { data, response } = await openai.chat.completions
		.create({ model: 'gpt-sim', messages: user('hello from the sdk') }).withResponse();
	assert.match(data.choices[0].message.content, /hello from the sdk/);
	assert.equal(response.headers.get('x-tollgate-provider'), 'sim-openai');
	const rid = response.headers.get('x-tollgate-request-id');
	assert.ok(rid);
	await assertAccounted(rid, 'gpt-sim', 'sim-openai');
});

test('openai: stream without include_usage — no usage chunk reaches the caller, the log has it', async () => {
	const { data: stream, response } = await openai.chat.completions
		.create({ model: 'gpt-sim', stream: true, messages: user('one two three four') }).withResponse();
	let text = '', usageChunks = 0, chunks = 0;
	for await (const ch of stream) {
		chunks++;
		if (ch.usage)
			usageChunks++;
		text += ch.choices[0]?.delta?.content ?? '';
	}
	assert.match(text, /one two three four/);
	assert.ok(chunks > 3);
	assert.equal(usageChunks, 0, 'the usage chunk the gateway asked for is stripped');
	const a = await assertAccounted(response.headers.get('x-tollgate-request-id'), 'gpt-sim', 'sim-openai');
	assert.equal(a.stream, true);
	assert.ok(a.tokens_out > 0);
});

test('openai: stream with include_usage — the caller gets the usage chunk', async () => {
	const { data: stream, response } = await openai.chat.completions.create({
		model: 'gpt-sim', stream: true, stream_options: { include_usage: true },
		messages: user('count these words please'),
	}).withResponse();
	let usage = null;
	for await (const ch of stream)
		if (ch.usage)
			usage = ch.usage;
	assert.ok(usage, 'usage chunk delivered');
	const a = await assertAccounted(response.headers.get('x-tollgate-request-id'), 'gpt-sim', 'sim-openai');
	assert.equal(usage.prompt_tokens, a.tokens_in);
	assert.equal(usage.completion_tokens, a.tokens_out);
});

test('openai: tool call passes through', async () => {
	const r = await openai.chat.completions.create({
		model: 'gpt-sim',
		messages: user('What is the weather in Paris? use the tool'),
		tools: [{ type: 'function', function: { name: 'get_weather', parameters: {
			type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }],
	});
	const call = r.choices[0].message.tool_calls?.[0];
	assert.ok(call, 'a tool call came back');
	assert.equal(call.function.name, 'get_weather');
	JSON.parse(call.function.arguments);
});

test('openai: models lists only what the key may use', async () => {
	const ids = [];
	for await (const m of openai.models.list())
		ids.push(m.id);
	assert.deepEqual(ids.sort(), ['claude-sim', 'echo-1', 'gpt-fb', 'gpt-sim']);
});

test('openai: embeddings through the gateway', async () => {
	const r = await openai.embeddings.create({ model: 'gpt-sim', input: ['alpha', 'beta'] });
	assert.equal(r.data.length, 2);
	assert.ok(r.data[0].embedding.length > 0);
});

test('openai: echo provider, non-streaming and streaming', async () => {
	const r = await openai.chat.completions.create({ model: 'echo-1', messages: user('ping pong') });
	assert.equal(r.choices[0].message.content, 'echo: ping pong');
	assert.equal(r.usage.completion_tokens, 3);
	let text = '';
	for await (const ch of await openai.chat.completions.create({ model: 'echo-1', stream: true,
		messages: user('ping pong') }))
		text += ch.choices[0]?.delta?.content ?? '';
	assert.equal(text, 'echo: ping pong');
});

test('openai: errors — bad key 401, unknown model 404, provider 429 (Retry-After waited, then passed on) and 500', async () => {
	const bad = new OpenAI({ baseURL: `${GW}/v1`, apiKey: 'sk-not-a-key', maxRetries: 0 });
	await assert.rejects(bad.chat.completions.create({ model: 'gpt-sim', messages: user('x') }),
		(e) => e instanceof OpenAI.AuthenticationError && !/sk-not-a-key/.test(e.message));
	await assert.rejects(openai.chat.completions.create({ model: 'nope', messages: user('x') }),
		(e) => e instanceof OpenAI.NotFoundError);
	// gpt-sim has no fallback: a 429 whose Retry-After (1 s) is within
	// backoff.retry_after_max is waited out and retried once...
	await fetch(`${SIM}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ provider: 'openai', mode: '429', count: 1 }) });
	const t0 = Date.now();
	const ok = await openai.chat.completions.create({ model: 'gpt-sim', messages: user('x') });
	assert.equal(ok.choices[0].message.role, 'assistant');
	assert.ok(Date.now() - t0 >= 900, `the retry waited the Retry-After (${Date.now() - t0} ms)`);
	// ...and when the retry is limited too, the caller gets the 429 and its Retry-After.
	await fetch(`${SIM}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ provider: 'openai', mode: '429', count: 2 }) });
	await assert.rejects(openai.chat.completions.create({ model: 'gpt-sim', messages: user('x') }),
		(e) => e instanceof OpenAI.RateLimitError && e.headers.get('retry-after') !== null);
	await fetch(`${SIM}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ provider: 'openai', mode: '500', count: 2 }) });
	// The provider's one retry fails too, and gpt-sim has no fallback.
	await assert.rejects(openai.chat.completions.create({ model: 'gpt-sim', messages: user('x') }),
		(e) => e instanceof OpenAI.InternalServerError);
});

test('anthropic: message, usage accounted exactly', async () => {
	const { data, response } = await anthropic.messages
		.create({ model: 'claude-sim', max_tokens: 64, messages: user('bonjour tout le monde') }).withResponse();
	assert.match(data.content[0].text, /bonjour tout le monde/);
	await assertAccounted(response.headers.get('x-tollgate-request-id'), 'claude-sim', 'sim-anthropic');
});

test('anthropic: stream, final message usage equals the log', async () => {
	const stream = anthropic.messages.stream({ model: 'claude-sim', max_tokens: 64,
		messages: user('stream me some words') });
	const msg = await stream.finalMessage();
	assert.match(msg.content[0].text, /stream me some words/);
	const u = await simUsage();
	assert.equal(msg.usage.output_tokens, u.out);
	assert.equal(msg.usage.input_tokens, u.in);
	// The gateway's line for it: the last streamed claude-sim call.
	let a;
	for (let i = 0; i < 40 && !a; i++, await sleep(50))
		a = readFileSync(ACCESS_LOG, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
			.filter((e) => e.model === 'claude-sim' && e.stream).at(-1);
	assert.ok(a, 'an access log line for the stream');
	assert.equal(a.tokens_in, u.in);
	assert.equal(a.tokens_out, u.out);
});

test('anthropic: tool use passes through', async () => {
	const r = await anthropic.messages.create({
		model: 'claude-sim', max_tokens: 128,
		messages: user('What is the weather in Oslo? use the tool'),
		tools: [{ name: 'get_weather', input_schema: { type: 'object',
			properties: { city: { type: 'string' } }, required: ['city'] } }],
	});
	const tu = r.content.find((b) => b.type === 'tool_use');
	assert.ok(tu, 'a tool_use block came back');
	assert.equal(tu.name, 'get_weather');
});

test('anthropic: errors in Anthropic format', async () => {
	const bad = new Anthropic({ baseURL: GW, apiKey: 'sk-ant-wrong', maxRetries: 0 });
	await assert.rejects(bad.messages.create({ model: 'claude-sim', max_tokens: 8, messages: user('x') }),
		(e) => e instanceof Anthropic.AuthenticationError && e.error?.type === 'error');
	await assert.rejects(anthropic.messages.create({ model: 'nope', max_tokens: 8, messages: user('x') }),
		(e) => e instanceof Anthropic.NotFoundError);
});
