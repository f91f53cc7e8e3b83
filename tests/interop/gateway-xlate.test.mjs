// SPDX-License-Identifier: Apache-2.0
//
// Format translation through tollgated: the official OpenAI SDK calling
// models served by Anthropic, Gemini and Bedrock, and the official
// Anthropic SDK calling models served by OpenAI, Gemini and Bedrock — the
// provider simulator speaking each one's real wire format behind the
// gateway (tests/integration/test_llm_xlate.sh starts both). Text, streams,
// tool calls and a tool result sent back, errors; every call's tokens in the
// gateway's access log equal the simulator's usage.
//
//   GATEWAY_URL=... GATEWAY_KEY=... SIM_URL=... ACCESS_LOG=... node --test gateway-xlate.test.mjs

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
const AUDIT_LOG = process.env.AUDIT_LOG;

const openai = new OpenAI({ baseURL: `${GW}/v1`, apiKey: KEY, maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: GW, apiKey: KEY, maxRetries: 0 });

async function lastSim() {
	const text = await (await fetch(`${SIM}/_sim/log`)).text();
	return text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).at(-1);
}

async function logLine(file, rid) {
	for (let i = 0; i < 40; i++) {
		const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
		const hit = lines.map((l) => JSON.parse(l)).find((e) => e.request_id === rid);
		if (hit)
			return hit;
		await sleep(50);
	}
	assert.fail(`no line for ${rid} in ${file}`);
}

// The call reached `provider` (the simulator's name for the wire format),
// and the gateway accounted exactly the simulator's usage.
async function accounted(rid, provider, sim) {
	const e = await lastSim();
	assert.equal(e.provider, sim, `the simulator was called as ${sim}`);
	const a = await logLine(ACCESS_LOG, rid);
	assert.equal(a.provider, provider);
	assert.equal(a.tokens_in, e.usage.prompt_tokens, 'input tokens equal the provider usage');
	assert.equal(a.tokens_out, e.usage.completion_tokens, 'output tokens equal the provider usage');
	const r = await logLine(AUDIT_LOG, rid);
	assert.equal(r.provider, provider);
	assert.equal(r.tokens_in, e.usage.prompt_tokens, 'the audit record has the provider usage');
	assert.equal(r.tokens_out, e.usage.completion_tokens, 'the audit record has the provider usage');
	return e.usage;
}

const weather = {
	name: 'get_weather', description: 'Weather for a city',
	schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

// ---- the OpenAI SDK in front of Azure (as is), Anthropic, Gemini and Bedrock ------------

const viaOpenAI = [
	['az-x', 'p-azure', 'azure'],		// native: no translation
	['claude-x', 'p-anthropic', 'anthropic'],
	['gem-x', 'p-gemini', 'gemini'],
	['br-x', 'p-bedrock', 'bedrock'],
];

for (const [model, provider, sim] of viaOpenAI) {
	test(`openai sdk → ${sim}: chat completion, usage exact`, async () => {
		const { data, response } = await openai.chat.completions.create({ model,
			messages: [{ role: 'system', content: 'be brief' },
				{ role: 'user', content: 'hello translated world' }] }).withResponse();
		assert.equal(data.object, 'chat.completion');
		assert.match(data.choices[0].message.content, /hello translated world/);
		assert.equal(data.choices[0].finish_reason, 'stop');
		const u = await accounted(response.headers.get('x-tollgate-request-id'), provider, sim);
		assert.equal(data.usage.prompt_tokens, u.prompt_tokens);
		assert.equal(data.usage.completion_tokens, u.completion_tokens);
	});

	test(`openai sdk → ${sim}: stream with include_usage, usage exact`, async () => {
		const { data: stream, response } = await openai.chat.completions.create({ model,
			messages: [{ role: 'user', content: 'stream these words please' }], stream: true,
			stream_options: { include_usage: true } }).withResponse();
		let text = '', usage = null, finish = null;
		for await (const ch of stream) {
			text += ch.choices[0]?.delta?.content ?? '';
			finish = ch.choices[0]?.finish_reason ?? finish;
			usage = ch.usage ?? usage;
		}
		assert.match(text, /stream these words please/);
		assert.equal(finish, 'stop');
		const u = await accounted(response.headers.get('x-tollgate-request-id'), provider, sim);
		assert.ok(usage, 'the usage chunk reached the caller');
		assert.equal(usage.prompt_tokens, u.prompt_tokens);
		assert.equal(usage.completion_tokens, u.completion_tokens);
	});

	test(`openai sdk → ${sim}: stream without include_usage gets no usage chunk, the log has it`, async () => {
		const { data: stream, response } = await openai.chat.completions.create({ model,
			messages: [{ role: 'user', content: 'no usage for me' }], stream: true }).withResponse();
		let sawUsage = false, text = '';
		for await (const ch of stream) {
			sawUsage ||= !!ch.usage;
			text += ch.choices[0]?.delta?.content ?? '';
		}
		assert.equal(sawUsage, false);
		assert.match(text, /no usage for me/);
		await accounted(response.headers.get('x-tollgate-request-id'), provider, sim);
	});

	test(`openai sdk → ${sim}: tool call, then the tool result sent back`, async () => {
		const tools = [{ type: 'function', function: { name: weather.name,
			description: weather.description, parameters: weather.schema } }];
		const messages = [{ role: 'user', content: 'use the get_weather tool for Paris' }];
		const r1 = await openai.chat.completions.create({ model, messages, tools });
		const call = r1.choices[0].message.tool_calls?.[0];
		assert.ok(call, 'a tool call came back');
		assert.equal(r1.choices[0].finish_reason, 'tool_calls');
		assert.equal(call.function.name, 'get_weather');
		assert.equal(typeof JSON.parse(call.function.arguments).city, 'string');
		assert.ok(call.id);
		messages.push(r1.choices[0].message,
			{ role: 'tool', tool_call_id: call.id, content: '{"temp_c": 21}' },
			{ role: 'user', content: 'thanks, summarise' });
		const { data: r2, response } = await openai.chat.completions.create({ model, messages, tools })
			.withResponse();
		assert.match(r2.choices[0].message.content, /thanks, summarise/);
		await accounted(response.headers.get('x-tollgate-request-id'), provider, sim);
	});

	test(`openai sdk → ${sim}: streamed tool call arrives whole`, async () => {
		const tools = [{ type: 'function', function: { name: weather.name,
			description: weather.description, parameters: weather.schema } }];
		const stream = openai.chat.completions.stream({ model, tools, stream_options: { include_usage: true },
			messages: [{ role: 'user', content: 'call the get_weather tool for Oslo' }] });
		const final = await stream.finalChatCompletion();
		// This helper hides the response: the call is the last one logged.
		await sleep(250);
		const last = readFileSync(ACCESS_LOG, 'utf8').split('\n').filter(Boolean).at(-1);
		await accounted(JSON.parse(last).request_id, provider, sim);
		const call = final.choices[0].message.tool_calls?.[0];
		assert.ok(call, 'a tool call was assembled from the stream');
		assert.equal(call.function.name, 'get_weather');
		assert.equal(typeof JSON.parse(call.function.arguments).city, 'string');
		assert.equal(final.choices[0].finish_reason, 'tool_calls');
	});
}

// ---- the Anthropic SDK in front of OpenAI, Azure, Gemini and Bedrock --------------------

const viaAnthropic = [
	['gpt-x', 'p-openai', 'openai'],
	['az-x', 'p-azure', 'azure'],
	['gem-x', 'p-gemini', 'gemini'],
	['br-x', 'p-bedrock', 'bedrock'],
];

for (const [model, provider, sim] of viaAnthropic) {
	test(`anthropic sdk → ${sim}: message, usage exact`, async () => {
		const { data, response } = await anthropic.messages.create({ model, max_tokens: 64,
			system: 'be brief', messages: [{ role: 'user', content: 'bonjour le monde traduit' }] })
			.withResponse();
		assert.equal(data.type, 'message');
		assert.match(data.content[0].text, /bonjour le monde traduit/);
		assert.equal(data.stop_reason, 'end_turn');
		const u = await accounted(response.headers.get('x-tollgate-request-id'), provider, sim);
		assert.equal(data.usage.input_tokens, u.prompt_tokens);
		assert.equal(data.usage.output_tokens, u.completion_tokens);
	});

	test(`anthropic sdk → ${sim}: stream, final message usage exact`, async () => {
		const stream = anthropic.messages.stream({ model, max_tokens: 64,
			messages: [{ role: 'user', content: 'stream me some words' }] });
		const msg = await stream.finalMessage();
		assert.match(msg.content[0].text, /stream me some words/);
		assert.equal(msg.stop_reason, 'end_turn');
		const { response } = await stream.withResponse();
		const u = await accounted(response.headers.get('x-tollgate-request-id'), provider, sim);
		assert.equal(msg.usage.input_tokens, u.prompt_tokens);
		assert.equal(msg.usage.output_tokens, u.completion_tokens);
	});

	test(`anthropic sdk → ${sim}: tool use (streamed), then the tool result sent back`, async () => {
		const tools = [{ name: weather.name, description: weather.description,
			input_schema: weather.schema }];
		const messages = [{ role: 'user', content: 'use the get_weather tool for Lima' }];
		const m1 = await anthropic.messages.stream({ model, max_tokens: 64, tools, messages })
			.finalMessage();
		const use = m1.content.find((b) => b.type === 'tool_use');
		assert.ok(use, 'a tool_use block came back');
		assert.equal(use.name, 'get_weather');
		assert.equal(typeof use.input.city, 'string');
		assert.equal(m1.stop_reason, 'tool_use');
		messages.push({ role: 'assistant', content: m1.content },
			{ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' },
				{ type: 'text', text: 'thanks, summarise' }] });
		const { data: m2, response } = await anthropic.messages.create({ model, max_tokens: 64,
			tools, messages }).withResponse();
		assert.match(m2.content[0].text, /thanks, summarise/);
		await accounted(response.headers.get('x-tollgate-request-id'), provider, sim);
	});
}

// ---- errors in the caller's format ------------------------------------------------------

async function fault(provider, mode) {
	await fetch(`${SIM}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ provider, mode, count: 1 }) });
}

for (const [model, , sim] of viaOpenAI) {
	test(`openai sdk → ${sim}: a provider 500 is an OpenAI error`, async () => {
		await fault(sim, '500');
		await assert.rejects(openai.chat.completions.create({ model,
			messages: [{ role: 'user', content: 'x' }] }),
		(e) => e instanceof OpenAI.InternalServerError && typeof e.error?.message === 'string');
	});
}

for (const [model, , sim] of viaAnthropic) {
	test(`anthropic sdk → ${sim}: a provider 400 is an Anthropic error`, async () => {
		await fault(sim, '400');
		await assert.rejects(anthropic.messages.create({ model, max_tokens: 8,
			messages: [{ role: 'user', content: 'x' }] }),
		(e) => e instanceof Anthropic.BadRequestError && e.error?.type === 'error');
	});
}
