/**
 * Hot-path throughput of the fingerprint package, single thread:
 *
 *   node --import tsx packages/fingerprint/bench/fingerprint.bench.ts
 *
 * Traffic mix: UA strings drawn with a Zipf-like skew (a few browsers carry most requests, a long
 * tail of crawlers, tools and apps), as access logs look; so cache hits dominate, as in production.
 * Distinct UAs come from shared/data when present (isbot browsers and crawlers, Crawler-Detect),
 * else from a small built-in list. Each request carries fresh strings, as records decoded from
 * Kafka do, so lookups hash them. The "flood" rows measure the miss path: every UA new.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  addressKey,
  classifyUserAgent,
  createHttpFingerprinter,
  httpFingerprint,
  isVerifiedCrawlerAddress,
  parseUserAgent,
  prefixKey,
  verifyCrawlerClaim,
} from '../src/index.js';

const SHARED = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));

function distinctUserAgents(): string[] {
  const builtIn = [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15',
    'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
    'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
    'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
    'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)',
    'curl/8.4.0',
    'python-requests/2.31.0',
    'Go-http-client/1.1',
    'okhttp/4.12.0',
  ];
  const lists: string[] = [...builtIn];
  const yamlItems = (path: string) =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => /^\s+- /.test(line))
      .map((line) => line.replace(/^\s+- /, '').replace(/^"(.*)"$/, '$1'));
  if (existsSync(`${SHARED}isbot-fixtures`)) {
    lists.push(...yamlItems(`${SHARED}isbot-fixtures/browsers.yml`));
    lists.push(...yamlItems(`${SHARED}isbot-fixtures/crawlers.yml`));
  }
  if (existsSync(`${SHARED}crawler-detect-fixtures`)) {
    lists.push(
      ...readFileSync(`${SHARED}crawler-detect-fixtures/user_agent_crawlers.txt`, 'utf8').split('\n'),
    );
  }
  return [...new Set(lists.filter(Boolean))];
}

/** Deterministic xorshift32, so runs draw the same traffic. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

const uas = distinctUserAgents();
const next = random(42);
const REQUESTS = 200_000;
/** Rank r is drawn with probability ∝ 1/r^1.1: the top 12 UAs carry about half the requests. */
const weights = uas.map((_, rank) => 1 / (rank + 1) ** 1.1);
const total = weights.reduce((a, b) => a + b, 0);
const cumulative: number[] = [];
let running = 0;
for (const w of weights) {
  running += w / total;
  cumulative.push(running);
}
const draw = (): string => {
  const x = next();
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return uas[lo]!;
};
const languages = [
  'en-US,en;q=0.9',
  'de-DE,de;q=0.9,en;q=0.8',
  'fr-FR,fr;q=0.9',
  null,
  'en-GB,en;q=0.9',
  'es-ES,es;q=0.9',
];
const headerOrders = [
  'host,connection,sec-ch-ua,user-agent,accept,accept-encoding,accept-language',
  'host,user-agent,accept,accept-language,accept-encoding,connection',
  null,
];
/** Clients keep their UA, language and header order; requests come from clients. */
const clients = Array.from({ length: 20_000 }, () => ({
  userAgent: draw(),
  acceptLanguage: languages[Math.floor(next() * languages.length)]!,
  headerOrder: headerOrders[Math.floor(next() * headerOrders.length)]!,
}));
const traffic = Array.from({ length: REQUESTS }, () => {
  const client = clients[Math.floor(next() ** 2 * clients.length)]!;
  // A fresh record per request, as the Avro decoder hands out: equal strings, not the same objects.
  const fresh = (text: string | null) => (text === null ? null : Buffer.from(text).toString());
  return {
    userAgent: fresh(client.userAgent)!,
    acceptLanguage: fresh(client.acceptLanguage),
    headerOrder: fresh(client.headerOrder),
  };
});
const addresses = Array.from({ length: 4096 }, (_, i) =>
  i % 8 === 0
    ? `2001:db8:${i.toString(16)}::${(i * 7).toString(16)}`
    : `${(i * 37) % 223}.${i % 256}.${(i * 13) % 256}.${i % 250}`,
);

function bench(name: string, iterations: number, body: (i: number) => unknown): void {
  let sink = 0;
  for (let i = 0; i < Math.min(iterations, 50_000); i++) sink += body(i) ? 1 : 0; // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink += body(i) ? 1 : 0;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rate = iterations / seconds;
  console.log(
    `${name.padEnd(58)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} ops/s  ${((seconds / iterations) * 1e9).toFixed(0).padStart(6)} ns/op${sink < 0 ? '' : ''}`,
  );
}

console.log(
  `fingerprint bench: ${uas.length} distinct UAs, ${REQUESTS.toLocaleString('en-US')} requests, Node ${process.version}`,
);
bench('classifyUserAgent (Zipf mix, cached)', REQUESTS * 5, (i) =>
  classifyUserAgent(traffic[i % REQUESTS]!.userAgent),
);
bench('httpFingerprint (Zipf mix, cached)', REQUESTS * 5, (i) => httpFingerprint(traffic[i % REQUESTS]!));
const coarse = createHttpFingerprinter({ exactUserAgent: false });
bench('httpFingerprint coarse mode (Zipf mix, cached)', REQUESTS * 5, (i) =>
  coarse.fingerprint(traffic[i % REQUESTS]!),
);
bench('parseUserAgent (no cache, distinct UAs)', uas.length * 20, (i) =>
  parseUserAgent(uas[i % uas.length]!),
);
let flood = 0;
bench('classifyUserAgent flood (every UA new: miss + insert)', 200_000, () =>
  classifyUserAgent(
    `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.${flood++}.0 Safari/537.36`,
  ),
);
let floodFp = 0;
bench('httpFingerprint flood (every UA new)', 200_000, () =>
  httpFingerprint({ userAgent: `python-requests/2.${floodFp++}`, acceptLanguage: 'en', headerOrder: null }),
);
bench('addressKey', 2_000_000, (i) => addressKey(addresses[i & 4095]!));
bench('prefixKey', 2_000_000, (i) => prefixKey(addresses[i & 4095]!));
bench('verifyCrawlerClaim(Googlebot, ip)', 2_000_000, (i) =>
  verifyCrawlerClaim('Googlebot', addresses[i & 4095]!),
);
bench('isVerifiedCrawlerAddress', 2_000_000, (i) => isVerifiedCrawlerAddress(addresses[i & 4095]!));
