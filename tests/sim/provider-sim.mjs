#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// provider-sim: one process, one port, speaking the wire formats of the LLM
// providers tollgate fronts (OpenAI, Azure OpenAI, Anthropic, Gemini, Bedrock
// runtime), streaming and errors included, so that the official SDKs accept
// it. No real provider is reachable from the test machines; this is the one
// thing the tests may simulate. Answers and usage are deterministic (see
// docs/simulator.md, "Usage rule") so a test can compare the gateway's audit
// log with the simulator's own log exactly. Faults (error statuses, 429 with
// Retry-After, stalls, resets, slow streams) are asked for per request or
// queued through /_sim/faults.
//
// Node standard library only: it must run on Debian 12's nodejs (18) too.
//
//   node tests/sim/provider-sim.mjs --port 0 [--host 127.0.0.1]
//        [--tls-cert FILE --tls-key FILE] [--openai-key K] [--azure-key K]
//        [--anthropic-key K] [--gemini-key K] [--aws-access-key-id ID]
//        [--aws-secret-access-key S] [--aws-region R]
//
// The first stdout line is "listening <port>".

import { createServer as createHttp } from 'node:http';
import { createServer as createH2c, createSecureServer as createH2s, constants as h2c } from 'node:http2';
import { createServer as createTcp, connect as connectTcp } from 'node:net';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

// ---------------------------------------------------------------- options

const opts = {
	host: '127.0.0.1',
	port: 0,
	tlsCert: null,
	tlsKey: null,
	openaiKey: 'sk-sim-openai',
	azureKey: 'sim-azure-key',
	anthropicKey: 'sk-ant-sim',
	geminiKey: 'sim-gemini-key',
	awsAccessKeyId: 'AKIASIMULATOR0000000',
	awsSecretAccessKey: 'sim/aws/secret/access/key',
	awsRegion: 'us-east-1',
};

function usage(msg) {
	process.stderr.write(`provider-sim: ${msg}\n` +
		'usage: provider-sim.mjs [--port N] [--host H] [--tls-cert F --tls-key F]\n' +
		'       [--openai-key K] [--azure-key K] [--anthropic-key K] [--gemini-key K]\n' +
		'       [--aws-access-key-id ID] [--aws-secret-access-key S] [--aws-region R]\n');
	process.exit(2);
}

{
	const argv = process.argv.slice(2);
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--help' || a === '-h')
			usage('help');
		if (!a.startsWith('--') || i + 1 >= argv.length)
			usage(`bad argument '${a}'`);
		const name = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
		if (!(name in opts))
			usage(`unknown option '${a}'`);
		opts[name] = argv[++i];
	}
	opts.port = Number(opts.port);
	if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)
		usage('--port wants 0..65535');
	if (!!opts.tlsCert !== !!opts.tlsKey)
		usage('--tls-cert and --tls-key go together');
}

// ---------------------------------------------------------------- constants

// The usage rule (docs/simulator.md): every message costs MSG_OVERHEAD tokens
// plus its whitespace-separated words; the echo repeats at most ECHO_WORDS
// words; JSON (tool arguments, json answers) streams in SLICE-character slices.
const MSG_OVERHEAD = 4;
const ECHO_WORDS = 16;
const SLICE = 10;
const EMBED_DIMS = 16;
const RETRY_AFTER_DEFAULT = 1;
const LOG_MAX = 10000;

const OPENAI_MODELS = ['gpt-4o', 'gpt-4o-mini', 'gpt-3.5-turbo-instruct',
	'text-embedding-3-small'];
const ANTHROPIC_MODELS = ['claude-sonnet-4-20250514', 'claude-3-5-haiku-20241022'];
const GEMINI_MODELS = ['gemini-2.0-flash', 'gemini-2.5-pro'];

// ---------------------------------------------------------------- state

let seq = 0;
const log = [];
let logSeq = 0;
const faults = [];      // { provider, mode, count, retryAfter }
const stalled = new Set();
const sockets = new Set();

function nextId(prefix) {
	seq++;
	return prefix + 'sim' + String(seq).padStart(8, '0');
}

// ---------------------------------------------------------------- text and usage

function words(s) {
	const t = String(s ?? '').trim();
	return t === '' ? 0 : t.split(/\s+/).length;
}

// textOf: every piece of text a message carries, whatever its shape: a
// string, an array of parts, tool calls and tool results (stringified).
function textOf(v) {
	if (v === null || v === undefined)
		return '';
	if (typeof v === 'string')
		return v;
	if (typeof v === 'number' || typeof v === 'boolean')
		return String(v);
	if (Array.isArray(v))
		return v.map(textOf).filter((s) => s !== '').join(' ');
	if (typeof v === 'object') {
		if (typeof v.text === 'string')
			return v.text;
		if (typeof v.content === 'string' || Array.isArray(v.content))
			return textOf(v.content);
		if (v.input_text !== undefined)
			return textOf(v.input_text);
		return JSON.stringify(v);
	}
	return '';
}

// A conversation normalised from any provider's request:
//   msgs: [{ role: 'system'|'user'|'assistant', text, toolResult }]
//   tools: [{ name, schema }], json: null | { schema }, maxTokens
function makeReply(conv) {
	const prompt = conv.msgs.reduce((n, m) => n + MSG_OVERHEAD + words(m.text), 0);
	const last = conv.msgs.length ? conv.msgs[conv.msgs.length - 1] : { role: 'user', text: '' };
	const echoText = String(last.text).trim().split(/\s+/).filter(Boolean)
		.slice(0, ECHO_WORDS).join(' ');
	let r;
	if (conv.tools.length && last.role === 'user' && !last.toolResult &&
	    /\btools?\b/i.test(last.text)) {
		const tool = conv.tools.find((t) => last.text.includes(t.name)) || conv.tools[0];
		const args = JSON.stringify(fill(tool.schema, echoText) ?? {});
		const pieces = slices(args);
		r = { kind: 'tool', name: tool.name, args, pieces, completion: 1 + pieces.length,
			finish: 'tool' };
	} else if (conv.json) {
		const text = JSON.stringify(conv.json.schema ? fill(conv.json.schema, echoText)
			: { echo: echoText });
		r = { kind: 'text', pieces: slices(text), finish: 'stop' };
	} else {
		const w = echoText === '' ? [] : echoText.split(' ');
		r = { kind: 'text', pieces: ['echo:', ...w.map((x) => ' ' + x)], finish: 'stop' };
	}
	if (r.kind === 'text') {
		if (conv.maxTokens > 0 && r.pieces.length > conv.maxTokens) {
			r.pieces = r.pieces.slice(0, conv.maxTokens);
			r.finish = 'length';
		}
		r.text = r.pieces.join('');
		r.completion = r.pieces.length;
	}
	r.prompt = prompt;
	r.total = prompt + r.completion;
	return r;
}

function slices(s) {
	const out = [];
	for (let i = 0; i < s.length; i += SLICE)
		out.push(s.slice(i, i + SLICE));
	return out.length ? out : [''];
}

// fill: a value matching a JSON schema, derived from the prompt: strings are
// the echoed text, numbers its word count.
function fill(schema, text, depth = 0) {
	if (!schema || typeof schema !== 'object' || depth > 8)
		return null;
	if (Array.isArray(schema.enum) && schema.enum.length)
		return schema.enum[0];
	let type = schema.type;
	if (Array.isArray(type))
		type = type.find((t) => t !== 'null') ?? 'null';
	if (typeof type === 'string')
		type = type.toLowerCase();          // Gemini writes OBJECT, STRING
	if (!type && schema.properties)
		type = 'object';
	switch (type) {
	case 'object': {
		const o = {};
		for (const [k, v] of Object.entries(schema.properties || {}))
			o[k] = fill(v, text, depth + 1);
		return o;
	}
	case 'array':
		return [fill(schema.items, text, depth + 1)];
	case 'string':
		return text;
	case 'integer':
	case 'number':
		return words(text);
	case 'boolean':
		return true;
	default:
		return null;
	}
}

// ---------------------------------------------------------------- faults

// parseFaults: "500", "429", "stall", "stall-after:3", "reset", "error-after:2",
// "reset-after:2", "slow:50"; several joined by commas.
function parseFaults(spec) {
	const f = {};
	for (const part of String(spec || '').split(',').map((s) => s.trim()).filter(Boolean)) {
		let m;
		if ((m = /^([45]\d\d)$/.exec(part)))
			f.status = Number(m[1]);
		else if (part === 'stall')
			f.stallAfter = -1;
		else if ((m = /^stall-after:(\d+)$/.exec(part)))
			f.stallAfter = Number(m[1]);
		else if (part === 'reset')
			f.resetAfter = -1;
		else if ((m = /^reset-after:(\d+)$/.exec(part)))
			f.resetAfter = Number(m[1]);
		else if ((m = /^slow:(\d+)$/.exec(part)))
			f.slow = Number(m[1]);
		else if ((m = /^error-after:(\d+)$/.exec(part)))
			f.errorAfter = Number(m[1]);
		else
			return null;
	}
	return f;
}

function takeQueuedFault(provider) {
	const i = faults.findIndex((q) => q.provider === provider || q.provider === '*');
	if (i < 0)
		return null;
	const q = faults[i];
	if (--q.count <= 0)
		faults.splice(i, 1);
	return q;
}

// ---------------------------------------------------------------- responses

// gone: the exchange can no longer be written to (HTTP/1 or HTTP/2).
function gone(res) {
	return res.destroyed || (res.stream !== undefined && res.stream.destroyed);
}

// kill: ends the exchange abruptly: the connection for HTTP/1, the stream
// (RST_STREAM INTERNAL_ERROR) for HTTP/2.
function kill(req, res) {
	if (req.httpVersionMajor === 2)
		res.stream.close(h2c.NGHTTP2_INTERNAL_ERROR);
	else
		req.socket.destroy();
}

function sendRaw(res, status, headers, body) {
	if (gone(res))
		return;
	res.writeHead(status, { 'content-length': Buffer.byteLength(body), ...headers });
	res.end(body);
}

function json(res, status, obj, headers = {}) {
	sendRaw(res, status, { 'content-type': 'application/json', ...headers },
		JSON.stringify(obj));
}

function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

// Hangs the exchange: the socket stays open and nothing more is written,
// until the client gives up (or the simulator is stopped).
function stall(ctx) {
	ctx.entry.stalled = true;
	const k = () => kill(ctx.req, ctx.res);
	stalled.add(k);
	ctx.res.on('close', () => stalled.delete(k));
}

// reset: writes DATA (maybe empty), lets it reach the client, then cuts.
function reset(ctx, data) {
	ctx.entry.reset = true;
	ctx.res.write(data ?? '', () => setTimeout(() => kill(ctx.req, ctx.res), 10));
}

// deliver: the successful answer, as one body or as a list of stream
// frames, with the request's faults applied (slow, stall-after, reset-after).
async function deliver(ctx, status, headers, frames, single) {
	const { res, fault, entry } = ctx;
	if (fault.stallAfter === -1) {
		// Not even a status line: the log says so with a null status.
		entry.events_sent = 0;
		entry.completion_delivered = 0;
		return stall(ctx);
	}
	entry.status = status;
	if (single) {
		if (fault.slow)
			await sleep(fault.slow);
		const body = Buffer.from(frames[0]);
		if (fault.stallAfter !== undefined || fault.resetAfter !== undefined) {
			entry.completion_delivered = 0;
			// Mid-response: the head and half of the body, then nothing.
			res.writeHead(status, { 'content-length': body.length, ...headers });
			entry.events_sent = 0;
			if (fault.resetAfter !== undefined)
				return reset(ctx, body.subarray(0, body.length >> 1));
			res.write(body.subarray(0, body.length >> 1));
			return stall(ctx);
		}
		entry.events_sent = 1;
		entry.completed = true;
		entry.completion_delivered = entry.usage ? entry.usage.completion_tokens : 0;
		return sendRaw(res, status, headers, body);
	}
	res.writeHead(status, headers);
	res.flushHeaders();
	entry.completion_delivered = 0;
	entry.events_sent = 0;
	for (let i = 0; i < frames.length; i++) {
		const data = frames[i].pieces !== undefined ? frames[i].data : frames[i];
		if (fault.resetAfter !== undefined && i >= Math.max(fault.resetAfter, 0)) {
			const half = Buffer.from(data);
			return reset(ctx, fault.resetAfter === -1 ? half.subarray(0, half.length >> 1) : undefined);
		}
		if (fault.stallAfter !== undefined && i >= fault.stallAfter)
			return stall(ctx);
		if (fault.errorAfter !== undefined && i >= fault.errorAfter) {
			// The provider's in-stream error, then a clean end.
			entry.stream_error = true;
			res.end(STREAM_ERRORS[ctx.provider](ctx));
			return;
		}
		if (fault.slow)
			await sleep(fault.slow);
		if (gone(res)) {
			// The client (the gateway, say) went away mid-stream.
			entry.client_closed = true;
			return;
		}
		res.write(data);
		entry.events_sent = i + 1;
		entry.completion_delivered += frames[i].pieces ?? 0;
	}
	entry.completed = true;
	res.end();
}

// P: a stream frame that carries N pieces of the answer (N completion
// tokens by the usage rule), so the log can say how much of a cut stream was
// delivered.
function P(data, n = 1) {
	return { data, pieces: n };
}

function sse(obj, event) {
	return (event ? `event: ${event}\n` : '') + `data: ${JSON.stringify(obj)}\n\n`;
}

// ---------------------------------------------------------------- OpenAI

const nowS = () => Math.floor(Date.now() / 1000);

function openaiHeaders(ctx, limited) {
	return {
		'x-request-id': ctx.requestId,
		'openai-processing-ms': '1',
		'openai-version': '2020-10-01',
		'x-ratelimit-limit-requests': '10000',
		'x-ratelimit-remaining-requests': limited ? '0' : '9999',
		'x-ratelimit-reset-requests': limited ? `${ctx.retryAfter}s` : '6ms',
		'x-ratelimit-limit-tokens': '2000000',
		'x-ratelimit-remaining-tokens': limited ? '0' : '1999000',
		'x-ratelimit-reset-tokens': limited ? `${ctx.retryAfter}s` : '0s',
	};
}

const OPENAI_ERR = {
	400: ['invalid_request_error', null, 'Invalid request.'],
	401: ['invalid_request_error', 'invalid_api_key', 'Incorrect API key provided.'],
	403: ['permission_error', null, 'You are not allowed to perform this request.'],
	404: ['invalid_request_error', 'model_not_found', 'The model does not exist or you do not have access to it.'],
	429: ['requests', 'rate_limit_exceeded', 'Rate limit reached for requests. Please try again later.'],
	500: ['server_error', null, 'The server had an error while processing your request. Sorry about that!'],
	503: ['server_error', null, 'The engine is currently overloaded, please try again later.'],
};

function openaiError(ctx, status, message, param = null) {
	const [type, code, msg] = OPENAI_ERR[status] || ['server_error', null, `Simulated error ${status}.`];
	const headers = openaiHeaders(ctx, status === 429);
	if (status === 429)
		headers['retry-after'] = String(ctx.retryAfter);
	if (ctx.provider === 'azure')
		return json(ctx.res, status, { error: { code: String(code ?? status), message: message || msg,
			param, type } }, headers);
	json(ctx.res, status, { error: { message: message || msg, type, param, code } }, headers);
}

function openaiAuth(ctx) {
	if (ctx.provider === 'azure') {
		const k = ctx.req.headers['api-key'];
		const bearer = /^Bearer (.+)$/.exec(ctx.req.headers.authorization || '');
		return safeEq(k ?? (bearer && bearer[1]), opts.azureKey);
	}
	const m = /^Bearer (.+)$/.exec(ctx.req.headers.authorization || '');
	return !!m && safeEq(m[1], opts.openaiKey);
}

function safeEq(a, b) {
	if (typeof a !== 'string')
		return false;
	const x = createHash('sha256').update(a).digest();
	const y = createHash('sha256').update(b).digest();
	return timingSafeEqual(x, y);
}

function openaiConv(body) {
	const msgs = (body.messages || []).map((m) => {
		let text = textOf(m.content);
		for (const tc of m.tool_calls || [])
			text += (text ? ' ' : '') + (tc.function?.name ?? '') + ' ' + (tc.function?.arguments ?? '');
		return {
			role: m.role === 'developer' ? 'system' : m.role === 'tool' ? 'user' : m.role,
			text, toolResult: m.role === 'tool',
		};
	});
	const tools = (body.tools || []).filter((t) => t.type === 'function' && t.function)
		.map((t) => ({ name: t.function.name, schema: t.function.parameters || {} }));
	let jsonMode = null;
	const rf = body.response_format;
	if (rf && rf.type === 'json_object')
		jsonMode = {};
	else if (rf && rf.type === 'json_schema')
		jsonMode = { schema: rf.json_schema?.schema || {} };
	return { msgs, tools, json: jsonMode,
		maxTokens: Number(body.max_completion_tokens ?? body.max_tokens ?? 0) };
}

const OPENAI_FINISH = { stop: 'stop', length: 'length', tool: 'tool_calls' };

function openaiUsage(r) {
	return {
		prompt_tokens: r.prompt, completion_tokens: r.completion, total_tokens: r.total,
		prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
		completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0,
			accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
	};
}

const AZURE_FILTER = { hate: { filtered: false, severity: 'safe' },
	self_harm: { filtered: false, severity: 'safe' },
	sexual: { filtered: false, severity: 'safe' },
	violence: { filtered: false, severity: 'safe' } };

async function openaiChat(ctx, body) {
	const r = makeReply(openaiConv(body));
	ctx.entry.usage = { prompt_tokens: r.prompt, completion_tokens: r.completion, total_tokens: r.total };
	const id = nextId('chatcmpl-');
	const created = nowS();
	const azure = ctx.provider === 'azure';
	const model = azure ? ctx.model : body.model;
	const base = { id, object: 'chat.completion', created, model, service_tier: 'default',
		system_fingerprint: 'fp_sim' };
	const callId = r.kind === 'tool' ? nextId('call_') : null;
	const headers = openaiHeaders(ctx, false);
	if (!body.stream) {
		const message = r.kind === 'tool'
			? { role: 'assistant', content: null, refusal: null, annotations: [],
				tool_calls: [{ id: callId, type: 'function',
					function: { name: r.name, arguments: r.args } }] }
			: { role: 'assistant', content: r.text, refusal: null, annotations: [] };
		const choice = { index: 0, message, logprobs: null, finish_reason: OPENAI_FINISH[r.finish] };
		if (azure)
			choice.content_filter_results = AZURE_FILTER;
		const out = { ...base, choices: [choice], usage: openaiUsage(r) };
		if (azure)
			out.prompt_filter_results = [{ prompt_index: 0, content_filter_results: AZURE_FILTER }];
		return deliver(ctx, 200, { 'content-type': 'application/json', ...headers },
			[JSON.stringify(out)], true);
	}
	const withUsage = !!body.stream_options?.include_usage;
	const chunk = (delta, finish) => {
		const c = { ...base, object: 'chat.completion.chunk',
			choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
		if (azure)
			c.choices[0].content_filter_results = finish ? {} : AZURE_FILTER;
		if (withUsage)
			c.usage = null;
		return sse(c);
	};
	const frames = [];
	if (azure)
		frames.push(sse({ id: '', object: '', created: 0, model: '', choices: [],
			prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER }] }));
	if (r.kind === 'tool') {
		frames.push(P(chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: callId,
			type: 'function', function: { name: r.name, arguments: '' } }], refusal: null }, null)));
		for (const p of r.pieces)
			frames.push(P(chunk({ tool_calls: [{ index: 0, function: { arguments: p } }] }, null)));
	} else {
		frames.push(chunk({ role: 'assistant', content: '', refusal: null }, null));
		for (const p of r.pieces)
			frames.push(P(chunk({ content: p }, null)));
	}
	frames.push(chunk({}, OPENAI_FINISH[r.finish]));
	if (withUsage)
		frames.push(sse({ ...base, object: 'chat.completion.chunk', choices: [], usage: openaiUsage(r) }));
	frames.push('data: [DONE]\n\n');
	return deliver(ctx, 200, { 'content-type': 'text/event-stream; charset=utf-8',
		'cache-control': 'no-cache', ...headers }, frames, false);
}

async function openaiCompletions(ctx, body) {
	const prompts = Array.isArray(body.prompt) ? body.prompt : [body.prompt ?? ''];
	const r = makeReply({ msgs: prompts.map((p) => ({ role: 'user', text: textOf(p) })),
		tools: [], json: null, maxTokens: Number(body.max_tokens ?? 0) });
	ctx.entry.usage = { prompt_tokens: r.prompt, completion_tokens: r.completion, total_tokens: r.total };
	const id = nextId('cmpl-');
	const base = { id, object: 'text_completion', created: nowS(),
		model: ctx.provider === 'azure' ? ctx.model : body.model, system_fingerprint: 'fp_sim' };
	const usage = { prompt_tokens: r.prompt, completion_tokens: r.completion, total_tokens: r.total };
	const headers = openaiHeaders(ctx, false);
	if (!body.stream)
		return deliver(ctx, 200, { 'content-type': 'application/json', ...headers },
			[JSON.stringify({ ...base, choices: [{ text: r.text, index: 0, logprobs: null,
				finish_reason: r.finish }], usage })], true);
	const withUsage = !!body.stream_options?.include_usage;
	const frames = r.pieces.map((p, i) => P(sse({ ...base, choices: [{ text: p, index: 0, logprobs: null,
		finish_reason: i === r.pieces.length - 1 ? r.finish : null }],
		...(withUsage ? { usage: null } : {}) })));
	if (withUsage)
		frames.push(sse({ ...base, choices: [], usage }));
	frames.push('data: [DONE]\n\n');
	return deliver(ctx, 200, { 'content-type': 'text/event-stream; charset=utf-8', ...headers },
		frames, false);
}

// embed: a deterministic unit vector from the SHA-256 of the input.
function embed(text, dims) {
	const v = [];
	let block = Buffer.alloc(0);
	for (let i = 0; i < dims; i++) {
		if (i % 32 === 0)
			block = createHash('sha256').update(`${i}:${text}`).digest();
		v.push(block[i % 32] / 127.5 - 1);
	}
	const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
	return v.map((x) => Math.fround(x / norm));
}

async function openaiEmbeddings(ctx, body) {
	const inputs = Array.isArray(body.input) && !body.input.every((x) => typeof x === 'number')
		? body.input : [body.input];
	const dims = Number(body.dimensions || EMBED_DIMS);
	if (!Number.isInteger(dims) || dims < 1 || dims > 4096)
		return openaiError(ctx, 400, 'dimensions must be between 1 and 4096.', 'dimensions');
	const tokens = inputs.reduce((n, x) => n + (Array.isArray(x) ? x.length : words(x)), 0);
	ctx.entry.usage = { prompt_tokens: tokens, completion_tokens: 0, total_tokens: tokens };
	const data = inputs.map((x, index) => {
		const vec = embed(Array.isArray(x) ? x.join(' ') : String(x), dims);
		const embedding = body.encoding_format === 'base64'
			? Buffer.from(new Float32Array(vec).buffer).toString('base64') : vec;
		return { object: 'embedding', index, embedding };
	});
	return deliver(ctx, 200, { 'content-type': 'application/json', ...openaiHeaders(ctx, false) },
		[JSON.stringify({ object: 'list', data,
			model: ctx.provider === 'azure' ? ctx.model : body.model,
			usage: { prompt_tokens: tokens, total_tokens: tokens } })], true);
}

function openaiModels(ctx, id) {
	const model = (m) => ({ id: m, object: 'model', created: 1700000000, owned_by: 'system' });
	ctx.entry.status = 200;
	if (id !== undefined) {
		if (!OPENAI_MODELS.includes(id))
			return openaiError(ctx, 404, `The model '${id}' does not exist`, 'model');
		return json(ctx.res, 200, model(id), openaiHeaders(ctx, false));
	}
	json(ctx.res, 200, { object: 'list', data: OPENAI_MODELS.map(model) }, openaiHeaders(ctx, false));
}

function responsesConv(body) {
	const msgs = [];
	if (body.instructions)
		msgs.push({ role: 'system', text: textOf(body.instructions) });
	const input = typeof body.input === 'string' ? [{ role: 'user', content: body.input }]
		: body.input || [];
	for (const it of input) {
		if (it.type === 'function_call_output')
			msgs.push({ role: 'user', text: textOf(it.output), toolResult: true });
		else if (it.type === 'function_call')
			msgs.push({ role: 'assistant', text: `${it.name} ${it.arguments}` });
		else
			msgs.push({ role: it.role === 'developer' ? 'system' : it.role || 'user',
				text: textOf(it.content) });
	}
	const tools = (body.tools || []).filter((t) => t.type === 'function')
		.map((t) => ({ name: t.name, schema: t.parameters || {} }));
	const fmt = body.text?.format;
	const jsonMode = fmt?.type === 'json_object' ? {} : fmt?.type === 'json_schema'
		? { schema: fmt.schema || {} } : null;
	return { msgs, tools, json: jsonMode, maxTokens: Number(body.max_output_tokens ?? 0) };
}

async function openaiResponses(ctx, body) {
	const r = makeReply(responsesConv(body));
	ctx.entry.usage = { prompt_tokens: r.prompt, completion_tokens: r.completion, total_tokens: r.total };
	const id = nextId('resp_');
	const itemId = nextId(r.kind === 'tool' ? 'fc_' : 'msg_');
	const callId = r.kind === 'tool' ? nextId('call_') : null;
	const snapshot = (status, output, usage) => ({
		id, object: 'response', created_at: nowS(), status, background: false, error: null,
		incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
		instructions: body.instructions ?? null, max_output_tokens: body.max_output_tokens ?? null,
		model: body.model, output, parallel_tool_calls: true, previous_response_id: null,
		reasoning: { effort: null, summary: null }, store: true, temperature: 1,
		text: { format: body.text?.format ?? { type: 'text' } }, tool_choice: 'auto',
		tools: body.tools || [], top_p: 1, truncation: 'disabled', usage, user: null, metadata: {},
	});
	const usage = { input_tokens: r.prompt, input_tokens_details: { cached_tokens: 0 },
		output_tokens: r.completion, output_tokens_details: { reasoning_tokens: 0 },
		total_tokens: r.total };
	const final = r.finish === 'length' ? 'incomplete' : 'completed';
	const part = { type: 'output_text', text: r.text, annotations: [], logprobs: [] };
	const item = r.kind === 'tool'
		? { id: itemId, type: 'function_call', status: 'completed', arguments: r.args,
			call_id: callId, name: r.name }
		: { id: itemId, type: 'message', status: final, role: 'assistant', content: [part] };
	const headers = openaiHeaders(ctx, false);
	if (!body.stream)
		return deliver(ctx, 200, { 'content-type': 'application/json', ...headers },
			[JSON.stringify(snapshot(final, [item], usage))], true);
	let n = 0;
	const ev = (type, data) => sse({ type, sequence_number: n++, ...data }, type);
	const frames = [ev('response.created', { response: snapshot('in_progress', [], null) }),
		ev('response.in_progress', { response: snapshot('in_progress', [], null) })];
	const at = { item_id: itemId, output_index: 0 };
	if (r.kind === 'tool') {
		frames.push(P(ev('response.output_item.added', { output_index: 0,
			item: { ...item, status: 'in_progress', arguments: '' } })));
		for (const p of r.pieces)
			frames.push(P(ev('response.function_call_arguments.delta', { ...at, delta: p })));
		frames.push(ev('response.function_call_arguments.done', { ...at, arguments: r.args }));
	} else {
		frames.push(ev('response.output_item.added', { output_index: 0,
			item: { ...item, status: 'in_progress', content: [] } }));
		frames.push(ev('response.content_part.added', { ...at, content_index: 0,
			part: { ...part, text: '' } }));
		for (const p of r.pieces)
			frames.push(P(ev('response.output_text.delta', { ...at, content_index: 0, delta: p,
				logprobs: [] })));
		frames.push(ev('response.output_text.done', { ...at, content_index: 0, text: r.text,
			logprobs: [] }));
		frames.push(ev('response.content_part.done', { ...at, content_index: 0, part }));
	}
	frames.push(ev('response.output_item.done', { output_index: 0, item }));
	frames.push(ev(`response.${final}`, { response: snapshot(final, [item], usage) }));
	return deliver(ctx, 200, { 'content-type': 'text/event-stream; charset=utf-8', ...headers },
		frames, false);
}

async function openaiRoute(ctx, action) {
	const { req, body } = ctx;
	if (ctx.provider === 'azure') {
		const ver = ctx.url.searchParams.get('api-version');
		if (!ver)
			return openaiError(ctx, 400, 'Missing required query parameter: api-version', 'api-version');
	}
	if (!openaiAuth(ctx))
		return openaiError(ctx, 401, ctx.provider === 'azure'
			? 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.'
			: 'Incorrect API key provided. You can find your API key in your account settings.');
	if (action === 'models')
		return req.method === 'GET' ? openaiModels(ctx, ctx.modelId)
			: openaiError(ctx, 405, 'Method not allowed.');
	if (req.method !== 'POST')
		return openaiError(ctx, 405, 'Method not allowed.');
	if (body === undefined)
		return openaiError(ctx, 400, 'We could not parse the JSON body of your request.');
	if (ctx.provider !== 'azure') {
		if (typeof body.model !== 'string' || body.model === '')
			return openaiError(ctx, 400, 'you must provide a model parameter', 'model');
		if (body.model.startsWith('nonexistent'))
			return openaiError(ctx, 404, `The model \`${body.model}\` does not exist or you do not have access to it.`, 'model');
	}
	if (action === 'chat' && !Array.isArray(body.messages))
		return openaiError(ctx, 400, "Missing required parameter: 'messages'.", 'messages');
	if (await applyFault(ctx))
		return;
	switch (action) {
	case 'chat': return openaiChat(ctx, body);
	case 'completions': return openaiCompletions(ctx, body);
	case 'embeddings': return openaiEmbeddings(ctx, body);
	case 'responses': return openaiResponses(ctx, body);
	}
}

// ---------------------------------------------------------------- Anthropic

const ANTHROPIC_ERR = {
	400: ['invalid_request_error', 'Invalid request.'],
	401: ['authentication_error', 'invalid x-api-key'],
	403: ['permission_error', 'Your API key does not have permission to use the specified resource.'],
	404: ['not_found_error', 'The requested resource could not be found.'],
	413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes.'],
	429: ['rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit.'],
	500: ['api_error', 'Internal server error'],
	529: ['overloaded_error', 'Overloaded'],
};

function anthropicHeaders(ctx, limited) {
	const reset = new Date(Date.now() + ctx.retryAfter * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
	const h = { 'request-id': ctx.requestId };
	for (const [k, lim] of [['requests', 4000], ['tokens', 400000], ['input-tokens', 200000],
		['output-tokens', 80000]]) {
		h[`anthropic-ratelimit-${k}-limit`] = String(lim);
		h[`anthropic-ratelimit-${k}-remaining`] = limited ? '0' : String(lim - 1);
		h[`anthropic-ratelimit-${k}-reset`] = reset;
	}
	return h;
}

function anthropicError(ctx, status, message) {
	const [type, msg] = ANTHROPIC_ERR[status] || ['api_error', `Simulated error ${status}.`];
	const headers = anthropicHeaders(ctx, status === 429);
	if (status === 429)
		headers['retry-after'] = String(ctx.retryAfter);
	if (status === 529 || status >= 500)
		headers['x-should-retry'] = 'true';
	json(ctx.res, status, { type: 'error', error: { type, message: message || msg },
		request_id: ctx.requestId }, headers);
}

function anthropicConv(body) {
	const msgs = [];
	if (body.system !== undefined)
		msgs.push({ role: 'system', text: textOf(body.system) });
	for (const m of body.messages || []) {
		const blocks = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content || [];
		const text = blocks.map((b) => b.type === 'tool_use' ? `${b.name} ${JSON.stringify(b.input)}`
			: b.type === 'tool_result' ? textOf(b.content) : textOf(b)).filter(Boolean).join(' ');
		msgs.push({ role: m.role, text,
			toolResult: blocks.length > 0 && blocks.every((b) => b.type === 'tool_result') });
	}
	const tools = (body.tools || []).filter((t) => t.input_schema)
		.map((t) => ({ name: t.name, schema: t.input_schema }));
	return { msgs, tools, json: null, maxTokens: Number(body.max_tokens ?? 0) };
}

const ANTHROPIC_STOP = { stop: 'end_turn', length: 'max_tokens', tool: 'tool_use' };

async function anthropicMessages(ctx, body) {
	const r = makeReply(anthropicConv(body));
	ctx.entry.usage = { prompt_tokens: r.prompt, completion_tokens: r.completion, total_tokens: r.total };
	const id = nextId('msg_');
	const toolId = r.kind === 'tool' ? nextId('toolu_') : null;
	const usage = (out) => ({ input_tokens: r.prompt, cache_creation_input_tokens: 0,
		cache_read_input_tokens: 0, output_tokens: out, service_tier: 'standard' });
	const block = r.kind === 'tool'
		? { type: 'tool_use', id: toolId, name: r.name, input: JSON.parse(r.args) }
		: { type: 'text', text: r.text };
	const headers = anthropicHeaders(ctx, false);
	const msg = (content, stop, out) => ({ id, type: 'message', role: 'assistant', model: body.model,
		content, stop_reason: stop, stop_sequence: null, usage: usage(out) });
	if (!body.stream)
		return deliver(ctx, 200, { 'content-type': 'application/json', ...headers },
			[JSON.stringify(msg([block], ANTHROPIC_STOP[r.finish], r.completion))], true);
	const ev = (type, data) => sse({ type, ...data }, type);
	// message_start carries output_tokens 1 as the real API does; the
	// message_delta usage is cumulative and is the one that counts.
	const frames = [ev('message_start', { message: msg([], null, 1) })];
	if (r.kind === 'tool') {
		frames.push(P(ev('content_block_start', { index: 0,
			content_block: { type: 'tool_use', id: toolId, name: r.name, input: {} } })));
		frames.push(ev('ping', {}));
		for (const p of r.pieces)
			frames.push(P(ev('content_block_delta', { index: 0,
				delta: { type: 'input_json_delta', partial_json: p } })));
	} else {
		frames.push(ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
		frames.push(ev('ping', {}));
		for (const p of r.pieces)
			frames.push(P(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: p } })));
	}
	frames.push(ev('content_block_stop', { index: 0 }));
	frames.push(ev('message_delta', { delta: { stop_reason: ANTHROPIC_STOP[r.finish], stop_sequence: null },
		usage: { input_tokens: r.prompt, cache_creation_input_tokens: 0, cache_read_input_tokens: 0,
			output_tokens: r.completion } }));
	frames.push(ev('message_stop', {}));
	return deliver(ctx, 200, { 'content-type': 'text/event-stream; charset=utf-8',
		'cache-control': 'no-cache', ...headers }, frames, false);
}

async function anthropicRoute(ctx, action) {
	const { req, body } = ctx;
	// The API takes the key as x-api-key or, as the current SDK sends it, as
	// an Authorization bearer.
	const bearer = /^Bearer (.+)$/.exec(req.headers.authorization || '');
	const key = req.headers['x-api-key'] ?? (bearer ? bearer[1] : undefined);
	if (!safeEq(key, opts.anthropicKey))
		return anthropicError(ctx, 401, key !== undefined ? 'invalid x-api-key'
			: 'x-api-key header is required');
	if (!req.headers['anthropic-version'])
		return anthropicError(ctx, 400, 'anthropic-version: header is required');
	if (action === 'models') {
		ctx.entry.status = 200;
		const data = ANTHROPIC_MODELS.map((m) => ({ type: 'model', id: m, display_name: m,
			created_at: '2025-01-01T00:00:00Z' }));
		return json(ctx.res, 200, { data, has_more: false, first_id: data[0].id,
			last_id: data[data.length - 1].id }, anthropicHeaders(ctx, false));
	}
	if (req.method !== 'POST')
		return anthropicError(ctx, 405, 'Method not allowed');
	if (body === undefined)
		return anthropicError(ctx, 400, 'Request body is not valid JSON.');
	if (typeof body.model !== 'string')
		return anthropicError(ctx, 400, 'model: Field required');
	if (body.model.startsWith('nonexistent'))
		return anthropicError(ctx, 404, `model: ${body.model}`);
	if (!Array.isArray(body.messages))
		return anthropicError(ctx, 400, 'messages: Field required');
	if (action === 'count_tokens') {
		const r = makeReply(anthropicConv(body));
		ctx.entry.status = 200;
		return json(ctx.res, 200, { input_tokens: r.prompt }, anthropicHeaders(ctx, false));
	}
	if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1)
		return anthropicError(ctx, 400, 'max_tokens: Field required');
	if (await applyFault(ctx))
		return;
	return anthropicMessages(ctx, body);
}

// ---------------------------------------------------------------- Gemini

const GEMINI_ERR = {
	400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
	429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};

function geminiError(ctx, status, message, details) {
	const headers = {};
	if (status === 429)
		headers['retry-after'] = String(ctx.retryAfter);
	const error = { code: status, message: message || `Simulated error ${status}.`,
		status: GEMINI_ERR[status] || 'UNKNOWN' };
	if (details)
		error.details = details;
	json(ctx.res, status, { error }, headers);
}

function geminiConv(body) {
	const msgs = [];
	if (body.systemInstruction)
		msgs.push({ role: 'system', text: textOf(body.systemInstruction.parts || body.systemInstruction) });
	for (const c of body.contents || []) {
		const parts = c.parts || [];
		const text = parts.map((p) => p.functionCall ? `${p.functionCall.name} ${JSON.stringify(p.functionCall.args ?? {})}`
			: p.functionResponse ? JSON.stringify(p.functionResponse.response ?? {}) : textOf(p.text))
			.filter(Boolean).join(' ');
		msgs.push({ role: c.role === 'model' ? 'assistant' : 'user', text,
			toolResult: parts.length > 0 && parts.every((p) => p.functionResponse) });
	}
	const tools = [];
	for (const t of body.tools || [])
		for (const f of t.functionDeclarations || [])
			tools.push({ name: f.name, schema: f.parameters || f.parametersJsonSchema || {} });
	const gc = body.generationConfig || {};
	const jsonMode = gc.responseMimeType === 'application/json'
		? { schema: gc.responseSchema || gc.responseJsonSchema } : null;
	return { msgs, tools, json: jsonMode, maxTokens: Number(gc.maxOutputTokens ?? 0) };
}

const GEMINI_FINISH = { stop: 'STOP', length: 'MAX_TOKENS', tool: 'STOP' };

async function geminiGenerate(ctx, body, stream) {
	const r = makeReply(geminiConv(body));
	ctx.entry.usage = { prompt_tokens: r.prompt, completion_tokens: r.completion, total_tokens: r.total };
	const responseId = nextId('gemresp');
	const usage = (out) => ({ promptTokenCount: r.prompt,
		...(out === null ? {} : { candidatesTokenCount: out }),
		totalTokenCount: r.prompt + (out ?? 0),
		promptTokensDetails: [{ modality: 'TEXT', tokenCount: r.prompt }] });
	const resp = (parts, finish, out) => ({
		candidates: [{ content: { parts, role: 'model' }, ...(finish ? { finishReason: finish } : {}),
			index: 0 }],
		usageMetadata: usage(out), modelVersion: ctx.model, responseId });
	const callPart = () => ({ functionCall: { name: r.name, args: JSON.parse(r.args) } });
	if (!stream)
		return deliver(ctx, 200, { 'content-type': 'application/json; charset=UTF-8' },
			[JSON.stringify(resp(r.kind === 'tool' ? [callPart()] : [{ text: r.text }],
				GEMINI_FINISH[r.finish], r.completion))], true);
	// Gemini streams whole parts: a function call comes in one chunk. The
	// usage in every chunk is cumulative; the last chunk's is final.
	const frames = [];
	const g = (o) => `data: ${JSON.stringify(o)}\r\n\r\n`;
	if (r.kind === 'tool') {
		frames.push(P(g(resp([callPart()], GEMINI_FINISH[r.finish], r.completion)), r.completion));
	} else {
		r.pieces.forEach((p, i) => {
			const last = i === r.pieces.length - 1;
			frames.push(P(g(resp([{ text: p }], last ? GEMINI_FINISH[r.finish] : null,
				last ? r.completion : i === 0 ? null : i + 1))));
		});
	}
	return deliver(ctx, 200, { 'content-type': 'text/event-stream' }, frames, false);
}

async function geminiRoute(ctx, action) {
	const { req, body } = ctx;
	const key = req.headers['x-goog-api-key'] ?? ctx.url.searchParams.get('key');
	if (!key)
		return geminiError(ctx, 403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
	if (!safeEq(key, opts.geminiKey))
		return geminiError(ctx, 400, 'API key not valid. Please pass a valid API key.', [{
			'@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID',
			domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } }]);
	if (action === 'list') {
		ctx.entry.status = 200;
		return json(ctx.res, 200, { models: GEMINI_MODELS.map((m) => ({ name: `models/${m}`,
			displayName: m, supportedGenerationMethods: ['generateContent', 'countTokens'] })) });
	}
	if (req.method !== 'POST')
		return geminiError(ctx, 405, 'Method not allowed.');
	if (ctx.model.startsWith('nonexistent'))
		return geminiError(ctx, 404, `models/${ctx.model} is not found for API version v1beta, or is not supported for generateContent.`);
	if (body === undefined || !Array.isArray(body.contents))
		return geminiError(ctx, 400, body === undefined ? 'Invalid JSON payload received.'
			: '* GenerateContentRequest.contents: contents is not specified');
	if (action === 'countTokens') {
		ctx.entry.status = 200;
		return json(ctx.res, 200, { totalTokens: makeReply(geminiConv(body)).prompt });
	}
	if (action === 'streamGenerateContent' && ctx.url.searchParams.get('alt') !== 'sse')
		return geminiError(ctx, 400, 'The simulator streams only with alt=sse.');
	if (await applyFault(ctx))
		return;
	return geminiGenerate(ctx, body, action === 'streamGenerateContent');
}

// ---------------------------------------------------------------- Bedrock

const BEDROCK_ERR = {
	400: ['ValidationException', 'Malformed input request.'],
	403: ['AccessDeniedException', "You don't have access to the model with the specified model ID."],
	404: ['ResourceNotFoundException', 'The requested resource could not be found.'],
	408: ['ModelTimeoutException', 'The request took too long to process.'],
	424: ['ModelErrorException', 'The model failed to process the request.'],
	429: ['ThrottlingException', 'Too many requests, please wait before trying again.'],
	500: ['InternalServerException', 'The server encountered an internal error.'],
	503: ['ServiceUnavailableException', 'The service is unavailable. Please try again later.'],
};

function bedrockError(ctx, status, message, type) {
	const [t, msg] = BEDROCK_ERR[status] || ['InternalServerException', `Simulated error ${status}.`];
	const headers = { 'x-amzn-requestid': ctx.requestId,
		'x-amzn-errortype': `${type || t}:http://internal.amazon.com/coral/com.amazon.bedrock/` };
	if (status === 429)
		headers['retry-after'] = String(ctx.retryAfter);
	json(ctx.res, status, { message: message || msg }, headers);
}

// RFC 3986 encoding, as SigV4 wants it.
function uriEncode(s) {
	return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

const hmac = (key, s) => createHmac('sha256', key).update(s).digest();
const sha256hex = (b) => createHash('sha256').update(b).digest('hex');

// verifySigV4: recomputes the AWS Signature Version 4 of the request with the
// configured credentials; returns null when it matches, else [status, type,
// message] as AWS would answer.
function verifySigV4(ctx) {
	const { req } = ctx;
	const auth = req.headers.authorization || '';
	const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
	if (!m)
		return [403, 'MissingAuthenticationTokenException', 'Missing Authentication Token'];
	const [, keyId, date, region, service, signedHeaders, signature] = m;
	if (keyId !== opts.awsAccessKeyId)
		return [403, 'UnrecognizedClientException', 'The security token included in the request is invalid.'];
	const amzDate = req.headers['x-amz-date'] || '';
	if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date)
		return [403, 'InvalidSignatureException', 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.'];
	const when = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
	if (!(Math.abs(Date.now() - when) <= 15 * 60 * 1000))
		return [403, 'InvalidSignatureException', 'Signature expired: the request time is more than 15 minutes from the current time.'];
	if (region !== opts.awsRegion || service !== 'bedrock')
		return [403, 'InvalidSignatureException', `Credential should be scoped to a valid region and service 'bedrock', not '${region}/${service}'.`];
	// Over HTTP/2 the SDK signs :authority, which stands for Host.
	const names = signedHeaders.split(';');
	if (!names.includes('host') && !names.includes(':authority'))
		return [403, 'InvalidSignatureException', "'Host' must be a signed header."];
	const canonHeaders = names.map((n) => {
		const v = req.headers[n] ?? (n === 'host' ? req.headers[':authority']
			: n === ':authority' ? req.headers.host : undefined);
		if (v === undefined)
			return null;
		return `${n}:${(Array.isArray(v) ? v.join(',') : String(v)).trim().replace(/\s+/g, ' ')}\n`;
	});
	if (canonHeaders.includes(null))
		return [403, 'InvalidSignatureException', 'A signed header is missing from the request.'];
	const rawPath = req.url.split('?')[0];
	const canonPath = rawPath.split('/').map((seg) => uriEncode(seg)).join('/');
	const canonQuery = [...ctx.url.searchParams.entries()]
		.map(([k, v]) => [uriEncode(k), uriEncode(v)])
		.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
		.map(([k, v]) => `${k}=${v}`).join('&');
	// The hash of the body received, whatever x-amz-content-sha256 claims: a
	// body changed after signing does not verify.
	const canonical = [req.method, canonPath, canonQuery, canonHeaders.join(''), signedHeaders,
		sha256hex(ctx.raw)].join('\n');
	const scope = `${date}/${region}/${service}/aws4_request`;
	const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonical)].join('\n');
	const kSigning = hmac(hmac(hmac(hmac('AWS4' + opts.awsSecretAccessKey, date), region), service),
		'aws4_request');
	const expect = createHmac('sha256', kSigning).update(toSign).digest('hex');
	if (!timingSafeEqual(Buffer.from(expect), Buffer.from(signature)))
		return [403, 'InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'];
	return null;
}

// CRC-32 (IEEE), for the event-stream framing; zlib.crc32 is not in Node 18.
const CRC_TABLE = (() => {
	const t = new Uint32Array(256);
	for (let n = 0; n < 256; n++) {
		let c = n;
		for (let k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		t[n] = c >>> 0;
	}
	return t;
})();

function crc32(buf) {
	let c = 0xffffffff;
	for (const b of buf)
		c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
}

// eventMessage: one message of the AWS event-stream framing: total length,
// headers length, prelude CRC, headers (string values, type 7), payload,
// message CRC.
function eventMessage(headers, payload) {
	const hs = [];
	for (const [k, v] of Object.entries(headers)) {
		const name = Buffer.from(k);
		const value = Buffer.from(v);
		const h = Buffer.alloc(1 + name.length + 1 + 2 + value.length);
		h.writeUInt8(name.length, 0);
		name.copy(h, 1);
		h.writeUInt8(7, 1 + name.length);
		h.writeUInt16BE(value.length, 2 + name.length);
		value.copy(h, 4 + name.length);
		hs.push(h);
	}
	const hbuf = Buffer.concat(hs);
	const pbuf = Buffer.from(payload);
	const total = 12 + hbuf.length + pbuf.length + 4;
	const msg = Buffer.alloc(total);
	msg.writeUInt32BE(total, 0);
	msg.writeUInt32BE(hbuf.length, 4);
	msg.writeUInt32BE(crc32(msg.subarray(0, 8)), 8);
	hbuf.copy(msg, 12);
	pbuf.copy(msg, 12 + hbuf.length);
	msg.writeUInt32BE(crc32(msg.subarray(0, total - 4)), total - 4);
	return msg;
}

function bedrockEvent(type, obj) {
	return eventMessage({ ':event-type': type, ':content-type': 'application/json',
		':message-type': 'event' }, JSON.stringify(obj));
}

function bedrockConv(body) {
	const msgs = [];
	if (Array.isArray(body.system) && body.system.length)
		msgs.push({ role: 'system', text: textOf(body.system) });
	for (const m of body.messages || []) {
		const blocks = m.content || [];
		const text = blocks.map((b) => b.toolUse ? `${b.toolUse.name} ${JSON.stringify(b.toolUse.input ?? {})}`
			: b.toolResult ? textOf((b.toolResult.content || []).map((c) => c.text ?? (c.json !== undefined ? JSON.stringify(c.json) : '')))
				: textOf(b.text)).filter(Boolean).join(' ');
		msgs.push({ role: m.role, text,
			toolResult: blocks.length > 0 && blocks.every((b) => b.toolResult) });
	}
	const tools = (body.toolConfig?.tools || []).filter((t) => t.toolSpec)
		.map((t) => ({ name: t.toolSpec.name, schema: t.toolSpec.inputSchema?.json || {} }));
	return { msgs, tools, json: null, maxTokens: Number(body.inferenceConfig?.maxTokens ?? 0) };
}

const BEDROCK_STOP = { stop: 'end_turn', length: 'max_tokens', tool: 'tool_use' };

async function bedrockConverse(ctx, body, stream) {
	const r = makeReply(bedrockConv(body));
	ctx.entry.usage = { prompt_tokens: r.prompt, completion_tokens: r.completion, total_tokens: r.total };
	const usage = { inputTokens: r.prompt, outputTokens: r.completion, totalTokens: r.total };
	const toolUseId = r.kind === 'tool' ? nextId('tooluse_') : null;
	const headers = { 'x-amzn-requestid': ctx.requestId };
	if (!stream) {
		const block = r.kind === 'tool'
			? { toolUse: { toolUseId, name: r.name, input: JSON.parse(r.args) } } : { text: r.text };
		return deliver(ctx, 200, { 'content-type': 'application/json', ...headers },
			[JSON.stringify({ output: { message: { role: 'assistant', content: [block] } },
				stopReason: BEDROCK_STOP[r.finish], usage, metrics: { latencyMs: 1 } })], true);
	}
	const frames = [bedrockEvent('messageStart', { role: 'assistant' })];
	if (r.kind === 'tool') {
		frames.push(P(bedrockEvent('contentBlockStart', { contentBlockIndex: 0,
			start: { toolUse: { toolUseId, name: r.name } } })));
		for (const p of r.pieces)
			frames.push(P(bedrockEvent('contentBlockDelta', { contentBlockIndex: 0,
				delta: { toolUse: { input: p } } })));
	} else {
		for (const p of r.pieces)
			frames.push(P(bedrockEvent('contentBlockDelta', { contentBlockIndex: 0, delta: { text: p } })));
	}
	frames.push(bedrockEvent('contentBlockStop', { contentBlockIndex: 0 }));
	frames.push(bedrockEvent('messageStop', { stopReason: BEDROCK_STOP[r.finish] }));
	frames.push(bedrockEvent('metadata', { usage, metrics: { latencyMs: 1 } }));
	return deliver(ctx, 200, { 'content-type': 'application/vnd.amazon.eventstream', ...headers },
		frames, false);
}

async function bedrockRoute(ctx, action) {
	const bad = verifySigV4(ctx);
	if (bad)
		return bedrockError(ctx, bad[0], bad[2], bad[1]);
	if (ctx.req.method !== 'POST')
		return bedrockError(ctx, 400, 'Method not allowed.');
	if (ctx.model.startsWith('nonexistent'))
		return bedrockError(ctx, 400, 'The provided model identifier is invalid.');
	if (ctx.body === undefined || !Array.isArray(ctx.body.messages))
		return bedrockError(ctx, 400, 'Malformed input request, please reformat your input and try again.');
	if (await applyFault(ctx))
		return;
	return bedrockConverse(ctx, ctx.body, action === 'converse-stream');
}

// ---------------------------------------------------------------- dispatch

const ERRORS = {
	openai: openaiError, azure: openaiError, anthropic: anthropicError,
	gemini: geminiError, bedrock: bedrockError,
};

// The error each provider sends inside a stream that has begun: OpenAI and
// Azure an SSE data line with an error object, Anthropic an `error` event,
// Gemini a data line with its error, Bedrock an exception message.
const STREAM_ERRORS = {
	openai: () => sse({ error: { message: 'The server had an error while processing your request.',
		type: 'server_error', param: null, code: null } }),
	azure: () => sse({ error: { message: 'The server had an error while processing your request.',
		type: 'server_error', param: null, code: null } }),
	anthropic: (ctx) => sse({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' },
		request_id: ctx.requestId }, 'error'),
	gemini: () => `data: ${JSON.stringify({ error: { code: 500, message: 'An internal error has occurred.',
		status: 'INTERNAL' } })}\r\n\r\n`,
	bedrock: () => eventMessage({ ':exception-type': 'internalServerException',
		':content-type': 'application/json', ':message-type': 'exception' },
	JSON.stringify({ message: 'The server encountered an internal error.' })),
};

// applyFault: answers the request with the asked-for error status, or
// leaves the stream-level faults in ctx.fault for deliver(); true when the
// request has been answered (or stalled / reset) already.
async function applyFault(ctx) {
	const q = takeQueuedFault(ctx.provider);
	if (q) {
		Object.assign(ctx.fault, parseFaults(q.mode));
		if (q.retryAfter !== undefined)
			ctx.retryAfter = q.retryAfter;
	}
	const f = ctx.fault;
	ctx.entry.fault = Object.keys(f).length ? f : null;
	if (f.status) {
		ctx.entry.status = f.status;
		if (f.slow)
			await sleep(f.slow);
		ERRORS[ctx.provider](ctx, f.status);
		return true;
	}
	// Stalls, resets and slowness act on the answer itself: deliver().
	return false;
}

function route(ctx) {
	const p = ctx.url.pathname;
	let m;
	if (p === '/v1/chat/completions')
		return ['openai', 'chat'];
	if (p === '/v1/completions')
		return ['openai', 'completions'];
	if (p === '/v1/embeddings')
		return ['openai', 'embeddings'];
	if (p === '/v1/responses')
		return ['openai', 'responses'];
	if (p === '/v1/models' && (ctx.req.headers['x-api-key'] !== undefined ||
	    ctx.req.headers['anthropic-version'] !== undefined))
		return ['anthropic', 'models'];
	if (p === '/v1/models')
		return ['openai', 'models'];
	if ((m = /^\/v1\/models\/([^/:]+)$/.exec(p)) && ctx.req.method === 'GET') {
		ctx.modelId = decodeURIComponent(m[1]);
		return ['openai', 'models'];
	}
	if ((m = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/.exec(p))) {
		ctx.model = decodeURIComponent(m[1]);
		return ['azure', { 'chat/completions': 'chat', completions: 'completions',
			embeddings: 'embeddings' }[m[2]]];
	}
	if (p === '/v1/messages')
		return ['anthropic', 'messages'];
	if (p === '/v1/messages/count_tokens')
		return ['anthropic', 'count_tokens'];
	if ((m = /^\/(?:v1|v1beta|v1alpha)\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens)$/.exec(p))) {
		ctx.model = decodeURIComponent(m[1]);
		return ['gemini', m[2]];
	}
	if (/^\/(?:v1beta|v1alpha)\/models$/.test(p))
		return ['gemini', 'list'];
	if ((m = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(p))) {
		ctx.model = decodeURIComponent(m[1]);
		return ['bedrock', m[2]];
	}
	return null;
}

const HANDLERS = {
	openai: openaiRoute, azure: openaiRoute, anthropic: anthropicRoute,
	gemini: geminiRoute, bedrock: bedrockRoute,
};

function control(req, res, url, raw) {
	const p = url.pathname;
	if (p === '/_sim/health')
		return sendRaw(res, 200, { 'content-type': 'text/plain' }, 'ok\n');
	if (p === '/_sim/log' && req.method === 'GET') {
		const prov = url.searchParams.get('provider');
		const lines = log.filter((e) => !prov || e.provider === prov).map((e) => JSON.stringify(e) + '\n');
		return sendRaw(res, 200, { 'content-type': 'application/x-ndjson' }, lines.join(''));
	}
	if (p === '/_sim/reset' && req.method === 'POST') {
		log.length = 0;
		faults.length = 0;
		for (const k of stalled)
			k();
		stalled.clear();
		return json(res, 200, { ok: true });
	}
	if (p === '/_sim/faults' && req.method === 'GET')
		return json(res, 200, faults);
	if (p === '/_sim/faults' && req.method === 'DELETE') {
		faults.length = 0;
		return json(res, 200, { ok: true });
	}
	if (p === '/_sim/faults' && req.method === 'POST') {
		let f;
		try {
			f = JSON.parse(raw.toString('utf8'));
		} catch {
			f = null;
		}
		if (!f || typeof f !== 'object')
			return json(res, 400, { error: 'body is not a JSON object' });
		const provider = f.provider ?? '*';
		const count = f.count ?? 1;
		if (!['*', ...Object.keys(HANDLERS)].includes(provider) || !parseFaults(f.mode) ||
		    !f.mode || !Number.isInteger(count) || count < 1 ||
		    (f.retry_after !== undefined && !(Number.isInteger(f.retry_after) && f.retry_after >= 0)))
			return json(res, 400, { error: 'want {"provider": "*|openai|azure|anthropic|gemini|bedrock", "mode": "500|429|stall|stall-after:K|reset|reset-after:K|error-after:K|slow:MS", "count": N, "retry_after": S}' });
		faults.push({ provider, mode: String(f.mode), count, retryAfter: f.retry_after });
		return json(res, 200, { ok: true, queued: faults.length });
	}
	return json(res, 404, { error: 'unknown control endpoint' });
}

async function handle(req, res, raw) {
	const url = new URL(req.url, 'http://sim.invalid');
	if (url.pathname.startsWith('/_sim/'))
		return control(req, res, url, raw);
	const ctx = { req, res, url, raw, fault: {}, retryAfter: RETRY_AFTER_DEFAULT,
		requestId: nextId('req_') };
	const r = route(ctx);
	if (!r)
		return json(res, 404, { error: { message: `Unknown path ${url.pathname}`, type: 'invalid_request_error' } });
	[ctx.provider] = r;
	const action = r[1];
	if (raw.length) {
		try {
			ctx.body = JSON.parse(raw.toString('utf8'));
		} catch {
			ctx.body = undefined;
		}
	} else {
		ctx.body = req.method === 'GET' ? {} : undefined;
	}
	const hdr = req.headers['x-sim-fault'];
	if (hdr !== undefined) {
		const f = parseFaults(hdr);
		if (!f)
			return json(res, 400, { error: `bad x-sim-fault '${hdr}'` });
		ctx.fault = f;
	}
	const ra = req.headers['x-sim-retry-after'];
	if (ra !== undefined && /^\d+$/.test(ra))
		ctx.retryAfter = Number(ra);
	const stream = action === 'streamGenerateContent' || action === 'converse-stream' ||
		!!(ctx.body && ctx.body.stream);
	ctx.entry = { seq: ++logSeq, time: new Date().toISOString(), provider: ctx.provider,
		method: req.method, path: url.pathname,
		model: ctx.model ?? ctx.modelId ?? (ctx.body && ctx.body.model) ?? null, stream,
		status: null, usage: null, fault: null, events_sent: null, completion_delivered: null,
		completed: false,
		headers: req.headers, body: raw.toString('utf8') };
	log.push(ctx.entry);
	if (log.length > LOG_MAX)
		log.shift();
	// The status of an error answer is the one written.
	res.on('finish', () => {
		ctx.entry.status = res.statusCode;
		if (res.statusCode !== 200)
			ctx.entry.completed = true;
	});
	await HANDLERS[ctx.provider](ctx, action);
}

function onRequest(req, res) {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		handle(req, res, Buffer.concat(chunks)).catch((e) => {
			process.stderr.write(`provider-sim: ${e.stack || e}\n`);
			if (!res.headersSent)
				json(res, 500, { error: { message: 'simulator bug', type: 'server_error' } });
			else
				kill(req, res);
		});
	});
}

// HTTP/1.1 and HTTP/2 on the one port, as the providers serve both (the
// AWS SDK's Bedrock runtime client speaks HTTP/2): with TLS by ALPN; in
// clear text by the HTTP/2 connection preface ("PRI * HTTP/2.0"). The HTTP/2
// session reads a net.Socket's handle directly, past anything unshift()ed,
// and Node 18 crashes on HTTP/2 over a JS stream, so an h2c connection is
// piped, first bytes included, to an inner HTTP/2 server on loopback.
let server;
const track = (s) => {
	sockets.add(s);
	s.on('close', () => sockets.delete(s));
};
const announce = () => process.stdout.write(`listening ${server.address().port}\n`);
if (opts.tlsCert) {
	server = createH2s({ cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey),
		allowHTTP1: true }, onRequest);
	server.on('connection', track);
	server.listen(opts.port, opts.host, announce);
} else {
	const h1 = createHttp(onRequest);
	const h2 = createH2c(onRequest);
	h2.on('connection', track);
	server = createTcp((sock) => {
		track(sock);
		sock.once('data', (first) => {
			sock.pause();
			if (first.length >= 3 && first.subarray(0, 3).toString('latin1') === 'PRI') {
				const inner = connectTcp(h2.address().port, '127.0.0.1');
				track(inner);
				const both = () => {
					sock.destroy();
					inner.destroy();
				};
				for (const s of [sock, inner]) {
					s.on('close', both);
					s.on('error', both);
				}
				inner.write(first);
				sock.pipe(inner);
				inner.pipe(sock);
				sock.resume();
				return;
			}
			sock.unshift(first);
			h1.emit('connection', sock);
			sock.resume();
		});
	});
	h2.listen(0, '127.0.0.1', () => server.listen(opts.port, opts.host, announce));
}

function shutdown() {
	server.close();
	for (const s of sockets)
		s.destroy();
	process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
