// SPDX-License-Identifier: Apache-2.0
//
// Writes a JWKS (an RSA, an EC P-256 and an HMAC key) and signed tokens for
// tests/integration/test_llm_jwt.sh, using Node's own crypto — an
// implementation independent of the gateway's verifier.
//
//   node jwt-tokens.mjs DIR NOW_SECONDS

import { generateKeyPairSync, createHmac, sign, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const [dir, nowArg] = process.argv.slice(2);
const now = Number(nowArg);
const b64u = (b) => Buffer.from(b).toString('base64url');

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const secret = randomBytes(32);
const jwks = { keys: [
	{ ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa1', alg: 'RS256', use: 'sig' },
	{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec1', alg: 'ES256', use: 'sig' },
	{ kty: 'oct', k: b64u(secret), kid: 'hs1', alg: 'HS256' },
] };
writeFileSync(`${dir}/jwks.json`, JSON.stringify(jwks));

function token(alg, kid, claims, header = {}) {
	const h = b64u(JSON.stringify({ alg, typ: 'JWT', kid, ...header }));
	const p = b64u(JSON.stringify(claims));
	const input = `${h}.${p}`;
	let sig;
	if (alg === 'RS256')
		sig = sign('sha256', Buffer.from(input), rsa.privateKey);
	else if (alg === 'ES256')
		sig = sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
	else if (alg === 'HS256')
		sig = createHmac('sha256', secret).update(input).digest();
	else
		sig = Buffer.alloc(0);
	return `${input}.${b64u(sig)}`;
}

const good = { iss: 'https://idp.test', aud: ['other', 'tollgate'], sub: 'alice', tenant: 'acme',
	iat: now, exp: now + 600 };
const out = {
	rs256: token('RS256', 'rsa1', good),
	es256: token('ES256', 'ec1', { ...good, sub: 'bob' }),
	hs256: token('HS256', 'hs1', { ...good, sub: 'carol' }),
	tight: token('RS256', 'rsa1', { ...good, sub: 'dave', tenant: 'tight' }),
	expired: token('RS256', 'rsa1', { ...good, exp: now - 3600 }),
	wrong_aud: token('RS256', 'rsa1', { ...good, aud: 'someone-else' }),
	wrong_iss: token('RS256', 'rsa1', { ...good, iss: 'https://evil.test' }),
	no_tenant: token('RS256', 'rsa1', { ...good, tenant: undefined }),
	unknown_tenant: token('RS256', 'rsa1', { ...good, tenant: 'nobody' }),
	alg_none: token('none', 'rsa1', good),
	wrong_kid: token('RS256', 'ec1', good),
	tampered: token('RS256', 'rsa1', good).replace(/\.([^.]*)\./, (m, p) =>
		`.${b64u(JSON.stringify({ ...good, tenant: 'tight' }))}.`),
};
for (const [k, v] of Object.entries(out))
	writeFileSync(`${dir}/${k}.jwt`, v);
