// SPDX-License-Identifier: Apache-2.0
// The token-estimate corpus (docs/estimate.md): chat request bodies built
// from what a Debian machine already has, so nothing is fetched and nothing
// under another licence is copied into the repository.
//   - English chat: tests/data/clinc150 (vendored, CC BY 3.0)
//   - English prose: /usr/share/common-licenses
//   - 15 other languages: Debian's translations, /usr/share/locale/<lang>/LC_MESSAGES/*.mo
//   - code: this repository's C sources at a fixed commit
// Every choice comes from a seeded PRNG and sorted file lists, so the same
// machine image gives the same corpus (its sha256 is printed by measure.mjs).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

// Language -> report class. The classes are the estimator's script groups.
export const LANGS = {
	'en-chat': 'latin-en', 'en-prose': 'latin-en',
	de: 'latin-other', fr: 'latin-other', es: 'latin-other', vi: 'latin-other', tr: 'latin-other',
	ru: 'cyrillic', uk: 'cyrillic',
	el: 'greek',
	ar: 'arabic-hebrew', he: 'arabic-hebrew',
	hi: 'indic-thai', th: 'indic-thai',
	ja: 'cjk', zh_CN: 'cjk',
	ko: 'hangul',
	code: 'code',
};

// mulberry32: small, seeded, good enough to pick samples.
function rng(seed) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

// FNV-1a: which half (fit or held-out) a source string belongs to, so no
// string is seen by both halves.
function fnv(s) {
	let h = 0x811c9dc5;
	for (let i = 0; i < s.length; i++)
		h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
	return h;
}

// GNU .mo: magic, revision, N, offset of originals, offset of translations;
// each table holds N (length, offset) pairs. Returns the translations (the
// first plural form), skipping the header entry (empty msgid).
function readMo(path) {
	const b = readFileSync(path);
	if (b.length < 28)
		return [];
	let le;
	if (b.readUInt32LE(0) === 0x950412de)
		le = true;
	else if (b.readUInt32BE(0) === 0x950412de)
		le = false;
	else
		return [];
	const u32 = (o) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
	const n = u32(8), oo = u32(12), to = u32(16);
	const out = [];
	for (let i = 0; i < n; i++) {
		const ol = u32(oo + 8 * i), tl = u32(to + 8 * i), toff = u32(to + 8 * i + 4);
		if (ol === 0 || toff + tl > b.length)
			continue;
		const s = b.subarray(toff, toff + tl).toString('utf8').split('\0')[0];
		out.push(s);
	}
	return out;
}

function moPool(lang) {
	const dir = `/usr/share/locale/${lang}/LC_MESSAGES`;
	if (!existsSync(dir))
		return [];
	const seen = new Set();
	for (const f of readdirSync(dir).sort()) {
		if (!f.endsWith('.mo'))
			continue;
		for (const s of readMo(join(dir, f))) {
			const t = s.trim();
			// Messages, not single menu words: a prompt is sentences.
			if (t.length >= 20 && !t.includes('\uFFFD'))
				seen.add(t);
		}
	}
	return [...seen];
}

function licensePool() {
	const dir = '/usr/share/common-licenses';
	const out = [];
	for (const f of readdirSync(dir).sort()) {
		const p = join(dir, f);
		if (!statSync(p).isFile())
			continue;
		for (const para of readFileSync(p, 'utf8').split(/\n\s*\n/)) {
			const t = para.replace(/[ \t]+/g, ' ').trim();
			if (t.length >= 40)
				out.push(t);
		}
	}
	return [...new Set(out)];
}

function clincPool(root) {
	const d = JSON.parse(readFileSync(join(root, 'tests/data/clinc150/data_full.json'), 'utf8'));
	const out = [];
	for (const k of Object.keys(d).sort())
		for (const [text] of d[k])
			out.push(text);
	return [...new Set(out)];
}

// The C sources at a fixed commit, not the work tree: the corpus must not
// change as the code does.
const CODE_COMMIT = '44e7f644d0714aef0d6bbf656d09fba5c03eb509';

function codePool(root) {
	const git = (...a) => execFileSync('git', ['-C', root, ...a], { maxBuffer: 1 << 26 }).toString();
	let files;
	try {
		files = git('ls-tree', '-r', '--name-only', CODE_COMMIT, 'user', 'tools', 'bpf')
			.split('\n').filter((f) => f.endsWith('.c') || f.endsWith('.h')).sort();
	} catch {
		process.stderr.write(`corpus: commit ${CODE_COMMIT} not in this clone: no code class\n`);
		return [];
	}
	const out = [];
	for (const f of files) {
		const lines = git('cat-file', 'blob', `${CODE_COMMIT}:${f}`).split('\n');
		for (let i = 0; i < lines.length; i += 12) {
			const t = lines.slice(i, i + 12).join('\n');
			if (t.trim().length >= 40)
				out.push(t);
		}
	}
	return out;
}

// Python's json.dumps default: ", " and ": " separators, and every
// character past ASCII as \uXXXX (surrogate pairs past the BMP). SDKs and
// scripts that use it send bodies the estimator sees as pure ASCII.
function pyDumps(v) {
	const s = JSON.stringify(v, null, 0);
	let out = '', inStr = false;
	for (let i = 0; i < s.length; i++) {
		const c = s[i], cc = s.charCodeAt(i);
		if (inStr) {
			if (c === '\\') {
				out += c + s[++i];
				continue;
			}
			if (c === '"')
				inStr = false;
			if (cc > 0x7f)
				out += '\\u' + cc.toString(16).padStart(4, '0');
			else
				out += c;
		} else {
			if (c === '"')
				inStr = true;
			out += c === ',' ? ', ' : c === ':' ? ': ' : c;
		}
	}
	return out;
}

// Joins pool strings until about `target` characters.
function fill(pool, r, target, sep) {
	let t = '';
	while (t.length < target) {
		const s = pool[Math.floor(r() * pool.length)];
		t += (t ? sep : '') + s;
	}
	return t;
}

// Returns [{id, lang, cls, half, enc, messages, body}]: `half` 0 is for
// fitting, 1 is held out. Deterministic for a given machine and repo.
export function buildCorpus(root, perLang = 160) {
	const pools = {
		'en-chat': clincPool(root),
		'en-prose': licensePool(),
		code: codePool(root),
	};
	for (const l of Object.keys(LANGS))
		if (!pools[l])
			pools[l] = moPool(l);
	const out = [];
	let id = 0;
	for (const lang of Object.keys(LANGS)) {
		const all = pools[lang];
		if (all.length < 20) {
			process.stderr.write(`corpus: skipping ${lang}: ${all.length} strings\n`);
			continue;
		}
		const halves = [all.filter((s) => fnv(s) % 2 === 0), all.filter((s) => fnv(s) % 2 === 1)];
		const r = rng(fnv(lang));
		for (let i = 0; i < perLang; i++) {
			const half = i % 2;
			const pool = halves[half];
			// Log-uniform prompt size, 30 to 12000 characters in all.
			const total = Math.round(30 * Math.exp(r() * Math.log(400)));
			const nmsg = 1 + Math.floor(r() * 5);
			const sep = lang === 'code' ? '\n' : r() < 0.5 ? ' ' : '\n';
			const messages = [];
			if (r() < 0.4)
				messages.push({ role: 'system', content: fill(pool, r, Math.min(total / 4, 400), sep) });
			for (let m = 0; m < nmsg; m++) {
				let content = fill(pool, r, total / nmsg, sep);
				if (lang === 'code')
					content = (r() < 0.5 ? 'Review this C code:\n```c\n' : '```c\n') + content + '\n```';
				messages.push({ role: m % 2 ? 'assistant' : 'user', content });
			}
			const req = { model: r() < 0.5 ? 'gpt-4o' : 'claude-sonnet-4-5', messages };
			if (r() < 0.5)
				req.max_tokens = 1024;
			if (r() < 0.3)
				req.temperature = 0.2;
			if (r() < 0.3)
				req.stream = true;
			const enc = r() < 0.33 ? 'py' : 'js';
			const body = enc === 'py' ? pyDumps(req) : JSON.stringify(req);
			out.push({ id: id++, lang, cls: LANGS[lang], half, enc, messages, body });
		}
	}
	return out;
}
