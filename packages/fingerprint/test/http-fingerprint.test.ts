import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Fnv1a64, fnv1a64Hex } from '../src/fnv.js';
import {
  createHttpFingerprinter,
  exactUserAgentHash,
  fingerprintLabel,
  httpFingerprint,
  httpFingerprintParts,
  normaliseAcceptLanguage,
  normaliseHeaderOrder,
} from '../src/http-fingerprint.js';

const CHROME_120 =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const CHROME_120_BUILD =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.130 Safari/537.36';

const request = (
  userAgent: string | null,
  acceptLanguage: string | null = null,
  headerOrder: string | null = null,
) => ({
  userAgent,
  acceptLanguage,
  headerOrder,
});

/** FNV-1a 64 the slow, obviously right way: BigInt over UTF-8 bytes. */
function referenceFnv(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, '0');
}

describe('FNV-1a 64', () => {
  test('matches the published test vectors', () => {
    // From the FNV reference test suite (www.isthe.com/chongo/tech/comp/fnv).
    assert.equal(fnv1a64Hex(''), 'cbf29ce484222325');
    assert.equal(fnv1a64Hex('a'), 'af63dc4c8601ec8c');
    assert.equal(fnv1a64Hex('foobar'), '85944171f73967e8');
  });

  test('hashes the UTF-8 bytes of any text, as a BigInt reference does', () => {
    for (const text of ['Überweisung', '日本語のUA', 'emoji 🤖 bot', CHROME_120, 'lone \ud800 surrogate']) {
      assert.equal(fnv1a64Hex(text), referenceFnv(text), text);
    }
  });

  test('a separator byte keeps field boundaries apart', () => {
    const ab = new Fnv1a64().update('ab').byte(0x1f).update('c').hex();
    const a = new Fnv1a64().update('a').byte(0x1f).update('bc').hex();
    assert.notEqual(ab, a);
  });
});

describe('httpFingerprint', () => {
  test('is h1: and 12 hex digits, the same for the same request', () => {
    const fp = httpFingerprint(request(CHROME_120, 'en-US,en;q=0.9', 'host,user-agent,accept'));
    assert.match(fp, /^h1:[0-9a-f]{12}$/);
    assert.equal(httpFingerprint(request(CHROME_120, 'en-US,en;q=0.9', 'host,user-agent,accept')), fp);
  });

  test('is the documented hash of the normalised parts (README.md, httpFingerprint)', () => {
    const parts = httpFingerprintParts(request(CHROME_120, 'en-US,en;q=0.9', 'Host, User-Agent, Accept'));
    const documented = [
      'browser',
      'Chrome',
      '120',
      'Windows',
      fnv1a64Hex(CHROME_120, 8),
      'en-us,en',
      'host,user-agent,accept',
    ];
    assert.deepEqual(
      [
        parts.kind,
        parts.family,
        String(parts.major),
        parts.os,
        parts.userAgentHash,
        parts.acceptLanguage,
        parts.headerOrder,
      ],
      documented,
    );
    assert.equal(parts.fingerprint, `h1:${fnv1a64Hex(documented.join('\x1f'), 12)}`);
  });

  test('differs when the language or the header order differs', () => {
    const base = httpFingerprint(request(CHROME_120, 'en-US,en;q=0.9', 'host,user-agent,accept'));
    assert.notEqual(httpFingerprint(request(CHROME_120, 'de-DE,de;q=0.9', 'host,user-agent,accept')), base);
    assert.notEqual(httpFingerprint(request(CHROME_120, 'en-US,en;q=0.9', 'host,accept,user-agent')), base);
    assert.notEqual(httpFingerprint(request(CHROME_120, 'en-US,en;q=0.9', null)), base);
  });

  test('ignores q-values, case and spacing of Accept-Language', () => {
    assert.equal(
      httpFingerprint(request(CHROME_120, 'en-US,en;q=0.9')),
      httpFingerprint(request(CHROME_120, 'EN-us, en;q=0.8')),
    );
  });

  test('a swarm repeating one exact UA shares a fingerprint that a neighbouring build does not', () => {
    const swarm = new Set(Array.from({ length: 50 }, () => httpFingerprint(request(CHROME_120, 'en-US'))));
    assert.equal(swarm.size, 1);
    assert.notEqual(httpFingerprint(request(CHROME_120_BUILD, 'en-US')), [...swarm][0]);
  });

  test('coarse mode (no exact UA) keeps UA variants of one browser version together', () => {
    const coarse = createHttpFingerprinter({ exactUserAgent: false });
    const a = coarse.fingerprint(request(CHROME_120, 'en-US'));
    assert.match(a, /^h1c:[0-9a-f]{12}$/);
    assert.equal(coarse.fingerprint(request(CHROME_120_BUILD, 'en-US')), a);
    assert.equal(coarse.parts(request(CHROME_120, 'en-US')).userAgentHash, '');
  });

  test('the cached answer equals the computed one, with a tiny cache under churn', () => {
    const small = createHttpFingerprinter({ maxUserAgents: 2, maxFingerprints: 3 });
    const requests = ['a/1', 'b/2', 'c/3', 'a/1', 'curl/8', 'b/2'].flatMap((ua) => [
      request(ua, 'fr'),
      request(ua, 'de', 'host,accept'),
      request(ua, 'fr'),
    ]);
    for (const r of requests) assert.equal(small.fingerprint(r), small.parts(r).fingerprint);
  });

  test('the cache stays within its bounds under a flood of new UAs and languages', () => {
    const bounded = createHttpFingerprinter({ maxUserAgents: 50, maxFingerprints: 200 });
    for (let i = 0; i < 5_000; i++) {
      bounded.fingerprint(request(`flood/${i % 700}`, `x-${i % 13}`, i % 2 ? 'host' : null));
      const stats = bounded.cacheStats();
      assert.ok(stats.userAgents <= 50 && stats.fingerprints <= 200, JSON.stringify(stats));
    }
    const huge = 'x'.repeat(10_000);
    bounded.fingerprint(request(huge, huge, huge));
    assert.ok(bounded.cacheStats().fingerprints <= 200);
  });

  test('no UA, "-" and an empty UA give one fingerprint', () => {
    const none = httpFingerprint(request(null));
    assert.equal(httpFingerprint(request('-')), none);
    assert.equal(httpFingerprint(request('')), none);
  });

  test('fields that only differ in where they split give different keys', () => {
    const fp = createHttpFingerprinter();
    assert.notEqual(fp.fingerprint(request('ab', 'c')), fp.fingerprint(request('a', 'bc')));
  });
});

describe('normalisation', () => {
  test('Accept-Language keeps order and at most 8 tags', () => {
    assert.equal(normaliseAcceptLanguage('fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5'), 'fr-ch,fr,en,de,*');
    assert.equal(normaliseAcceptLanguage('a,b,c,d,e,f,g,h,i,j').split(',').length, 8);
    assert.equal(normaliseAcceptLanguage(null), '');
    assert.equal(normaliseAcceptLanguage(' , ;q=1'), '');
  });

  test('header order is lower-cased, without spaces, capped', () => {
    assert.equal(normaliseHeaderOrder('Host, User-Agent,Accept'), 'host,user-agent,accept');
    assert.equal(normaliseHeaderOrder('x,'.repeat(1000)).length, 512);
  });
});

describe('fingerprintLabel', () => {
  test('browser: family, major, OS and language', () => {
    assert.equal(fingerprintLabel(request(CHROME_120, 'en-US,en;q=0.9')), 'Chrome 120 / Windows / en-US');
  });

  test('crawler and tool say their kind', () => {
    assert.equal(
      fingerprintLabel(request('Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)')),
      'Googlebot 2 (crawler)',
    );
    assert.equal(fingerprintLabel(request('curl/8.4.0', 'de')), 'curl 8 (tool) / de');
  });

  test('no UA says so', () => {
    assert.equal(fingerprintLabel(request(null, 'pt-br')), 'no user agent / pt-BR');
  });
});

describe('long user agents (a client writes them)', () => {
  const long = (tail: string, pad = 4000) => `Mozilla/5.0 (X11; Linux x86_64) ${'a'.repeat(pad)}${tail}`;

  test('up to 1,024 characters the exact-UA hash is of the whole UA', () => {
    const ua = `Mozilla/5.0 ${'b'.repeat(1000)}`;
    assert.equal(exactUserAgentHash(ua), fnv1a64Hex(ua, 8));
  });

  test('past 1,024 characters it is of the first 1,024 and the length: bounded work, still told apart by length', () => {
    assert.equal(
      exactUserAgentHash(long('x')),
      exactUserAgentHash(long('y')),
      'differ only past 1,024: one hash',
    );
    assert.notEqual(exactUserAgentHash(long('x')), exactUserAgentHash(long('xx')), 'another length');
    assert.notEqual(exactUserAgentHash(long('x')), fnv1a64Hex(long('x'), 8));
    const fingerprinter = createHttpFingerprinter();
    assert.equal(
      fingerprinter.fingerprint({ userAgent: long('x'), acceptLanguage: null, headerOrder: null }),
      fingerprinter.fingerprint({ userAgent: long('y'), acceptLanguage: null, headerOrder: null }),
    );
  });
});
