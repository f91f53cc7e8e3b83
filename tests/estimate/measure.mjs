// SPDX-License-Identifier: Apache-2.0
// Measures llm_estimate_tokens() against real tokenizers on the corpus of
// tests/estimate/corpus.mjs and prints the tables of docs/estimate.md.
//
//   node tests/estimate/measure.mjs            held-out report, old and new estimator
//   node tests/estimate/measure.mjs --fit      also fit weights on the fit half, print them
//   node tests/estimate/measure.mjs --all      report on the whole corpus, not the held-out half
//   node tests/estimate/measure.mjs --dump     also write build/estimate/results.json
//   node tests/estimate/measure.mjs --verbose  with --fit: per-class tables on the fit half
//
// Run from the repository root after `npm ci` in tests/interop
// (scripts/deps.sh does it): the tokenizers are among its dependencies.
// The driver is compiled here with the Makefile's warning flags.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildCorpus } from './corpus.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(join(root, 'tests/interop/package.json'));
const o200k = require('gpt-tokenizer/model/gpt-4o');
const cl100k = require('gpt-tokenizer/model/gpt-4');
// Built once: its countTokens() builds (and frees) a tokenizer per call.
const claude = require('@anthropic-ai/tokenizer').getTokenizer();

const args = new Set(process.argv.slice(2));
const FEATS = ['letter', 'digit', 'punct', 'space', 'latin', 'cyrillic', 'greek', 'arabic',
	'indic', 'cjk', 'hangul', 'other', 'upper', 'word', 'digit_run', 'punct_run', 'space_run'];

// ---- corpus and real counts ------------------------------------------------
const corpus = buildCorpus(root);
const sha = createHash('sha256');
for (const s of corpus)
	sha.update(s.body).update('\0');
for (const s of corpus) {
	// Chat-format counts: content plus the template's per-message and
	// per-reply tokens, as the provider bills them.
	s.o200k = o200k.countTokens(s.messages);
	s.cl100k = cl100k.countTokens(s.messages);
	// Anthropic's published tokenizer is the pre-Claude-3 one: content only.
	// It counts NFKC-normalised text, as its own countTokens() does.
	s.claude = s.messages.reduce((a, m) => a + claude.encode(m.content.normalize('NFKC'), 'all').length, 0);
	s.target = Math.max(s.o200k, s.cl100k);
	// The estimator before this work: ASCII bytes / 4 (rounded up) + one
	// token per non-ASCII character.
	const b = Buffer.from(s.body, 'utf8');
	let ascii = 0, other = 0;
	for (const x of b) {
		if (x < 0x80)
			ascii++;
		else if ((x & 0xc0) !== 0x80)
			other++;
	}
	s.old = Math.floor((ascii + 3) / 4) + other;
}

claude.free();

// ---- the C driver ----------------------------------------------------------
const out = join(root, 'build/estimate');
mkdirSync(out, { recursive: true });
const cc = spawnSync(process.env.CC || 'cc', ['-Iinclude', '-Iuser', '-Ibuild/bpf',
	'-I/usr/include/libnl3', '-D_GNU_SOURCE', '-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror',
	'-Wshadow', '-Wformat=2', '-Wstrict-prototypes', '-Wmissing-prototypes', '-Wvla',
	'-o', join(out, 'driver'), 'tests/estimate/driver.c'], { cwd: root, stdio: 'inherit' });
if (cc.status !== 0)
	process.exit(1);
const input = Buffer.concat(corpus.flatMap((s) => {
	const b = Buffer.from(s.body, 'utf8');
	return [Buffer.from(`${b.length}\n`), b];
}));
const run = spawnSync(join(out, 'driver'), [], { input, maxBuffer: 1 << 28 });
if (run.status !== 0) {
	process.stderr.write(run.stderr);
	process.exit(1);
}
const lines = run.stdout.toString().trim().split('\n');
if (lines.length !== corpus.length)
	throw new Error(`driver gave ${lines.length} lines for ${corpus.length} bodies`);
lines.forEach((l, i) => {
	const v = l.split(' ').map(Number);
	corpus[i].est = v[0];
	corpus[i].feat = v.slice(1);
});

// ---- fitting ---------------------------------------------------------------
// Weighted least squares on the relative error, under-estimates weighted
// `alpha` times more, weights kept >= 0 (coordinate descent on the normal
// equations), reweighted until the sign of each residual settles.
function fit(samples, alpha) {
	const k = FEATS.length + 1;
	const x = samples.map((s) => [...s.feat, 1]);
	let w = new Array(k).fill(0);
	let under = samples.map(() => false);
	// Each script class weighs the same, however many bodies it has.
	const per = new Map();
	for (const s of samples)
		per.set(s.cls, (per.get(s.cls) || 0) + 1);
	for (let round = 0; round < 30; round++) {
		const A = Array.from({ length: k }, () => new Array(k).fill(0));
		const b = new Array(k).fill(0);
		samples.forEach((s, i) => {
			const c = (under[i] ? alpha : 1) / (s.target * s.target * per.get(s.cls));
			for (let p = 0; p < k; p++) {
				b[p] += c * x[i][p] * s.target;
				for (let q = 0; q < k; q++)
					A[p][q] += c * x[i][p] * x[i][q];
			}
		});
		for (let sweep = 0; sweep < 5000; sweep++)
			for (let p = 0; p < k; p++) {
				if (A[p][p] === 0)
					continue;
				let r = b[p];
				for (let q = 0; q < k; q++)
					if (q !== p)
						r -= A[p][q] * w[q];
				w[p] = Math.max(0, r / A[p][p]);
			}
		const nu = samples.map((s, i) => x[i].reduce((a, v, j) => a + v * w[j], 0) < s.target);
		if (nu.every((u, i) => u === under[i]))
			break;
		under = nu;
	}
	return w;
}

function quantize(w) {
	return w.map((v) => Math.round(v * 1024));
}

function predict(q, s) {
	const sum = s.feat.reduce((a, v, j) => a + v * q[j], q[FEATS.length]);
	return Math.ceil(sum / 1024);
}

// ---- statistics ------------------------------------------------------------
function pct(sorted, p) {
	return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function stats(samples, est, real) {
	const n = samples.length;
	let signed = 0, ape = 0, under = 0;
	const ratio = [];
	for (const s of samples) {
		const e = est(s), r = real(s);
		signed += e - r;
		ape += Math.abs(e - r) / r;
		if (e < r)
			under++;
		ratio.push(e / r);
	}
	ratio.sort((a, b) => a - b);
	return { n, mse: signed / n, mape: (100 * ape) / n, p50: pct(ratio, 0.5), p90: pct(ratio, 0.9),
		p99: pct(ratio, 0.99), p01: pct(ratio, 0.01), under: (100 * under) / n };
}

function row(name, st) {
	return `| ${name} | ${st.n} | ${st.mse.toFixed(1)} | ${st.mape.toFixed(1)} | ${st.p01.toFixed(2)} | ` +
		`${st.p50.toFixed(2)} | ${st.p90.toFixed(2)} | ${st.p99.toFixed(2)} | ${st.under.toFixed(1)} |`;
}

function table(title, samples, est, real) {
	const groups = new Map();
	for (const s of samples) {
		for (const g of [s.cls, `json-${s.enc === 'py' ? 'escaped' : 'utf8'}`]) {
			if (!groups.has(g))
				groups.set(g, []);
			groups.get(g).push(s);
		}
	}
	console.log(`\n#### ${title}\n`);
	console.log('| class | n | mean signed error (tokens) | MAPE % | p1 ratio | p50 ratio | p90 ratio | p99 ratio | under-estimates % |');
	console.log('|---|---|---|---|---|---|---|---|---|');
	for (const [g, ss] of [...groups].sort())
		console.log(row(g, stats(ss, est, real)));
	console.log(row('**all**', stats(samples, est, real)));
}

if (args.has('--dump')) {
	// Per-body results for a closer look; bodies are left out (the texts
	// come from the machine, not the repository).
	writeFileSync(join(out, 'results.json'), JSON.stringify(corpus.map((s) => ({
		id: s.id, lang: s.lang, cls: s.cls, half: s.half, enc: s.enc, bytes: Buffer.byteLength(s.body),
		o200k: s.o200k, cl100k: s.cl100k, claude: s.claude, old: s.old, est: s.est, feat: s.feat,
	}))));
}

const fitHalf = corpus.filter((s) => s.half === 0);
const report = args.has('--all') ? corpus : corpus.filter((s) => s.half === 1);

console.log(`corpus: ${corpus.length} bodies (${fitHalf.length} fit, ${corpus.length - fitHalf.length} held out), ` +
	`${input.length} bytes, sha256 ${sha.digest('hex').slice(0, 16)}`);

if (args.has('--fit')) {
	for (const alpha of [1, 4, 16, 64]) {
		const q = quantize(fit(fitHalf, alpha));
		const st = stats(fitHalf, (s) => predict(q, s), (s) => s.target);
		console.log(`alpha ${alpha}: fit-half MAPE ${st.mape.toFixed(1)}% under ${st.under.toFixed(1)}% ` +
			`p1 ${st.p01.toFixed(2)} p50 ${st.p50.toFixed(2)} p99 ${st.p99.toFixed(2)}`);
		console.log('  ' + FEATS.map((f, j) => `${f}=${q[j]}`).join(' ') + ` base=${q[FEATS.length]}`);
		if (args.has('--verbose'))
			table(`alpha ${alpha} on the fit half`, fitHalf, (s) => predict(q, s), (s) => s.target);
	}
}

const reals = [['o200k_base', (s) => s.o200k], ['cl100k_base', (s) => s.cl100k],
	['max(o200k, cl100k)', (s) => s.target], ['claude legacy tokenizer (content only)', (s) => s.claude]];
const which = args.has('--all') ? 'whole corpus' : 'held-out half';
for (const [name, real] of reals) {
	table(`old estimator vs ${name} (${which})`, report, (s) => s.old, real);
	table(`new estimator vs ${name} (${which})`, report, (s) => s.est, real);
}
