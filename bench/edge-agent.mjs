#!/usr/bin/env node
// Edge agent benchmarks (docs/BENCHMARKS.md, "Edge agent"):
//   1. check() lookups/s over 100,000 active decisions (IPv4 and IPv6 addresses, /24 and /64
//      ranges, fingerprints), against two baselines in the same run: the repo's general-purpose
//      structures (canonical text → Map, netaddr CidrSet for ranges) and a naive linear scan.
//   2. with --latency URL KEY: decision produced to the decisions topic → visible in an agent
//      following the API (HttpSource, SSE), p50/p99 over N decisions (see bench/edge-latency.mjs).
// Usage: npm run bench:agent [-- --lookups 5000000]
import { performance } from 'node:perf_hooks';
import { DecisionIndex, parseDecision } from '@edgeguard/edge-agent';
import { CidrSet, canonicalIp, parseCidr } from '@edgeguard/netaddr';
import { actionStrength } from '@edgeguard/schema';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : fallback;
};
const LOOKUPS = Number(flag('lookups', 4_000_000));
const ROUNDS = Number(flag('rounds', 5));

let seed = 42;
const random = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};
const int = (n) => Math.floor(random() * n);
const v4 = () => `${1 + int(223)}.${int(256)}.${int(256)}.${int(256)}`;
const hex = () => int(65536).toString(16);
const v6 = () => `2001:db8:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}`;
const ACTIONS = ['block', 'challenge', 'throttle'];
const NOW = Date.now();

// 100,000 decisions: 70k IPv4 addresses, 15k IPv6 addresses, 10k IPv4 /24, 3k IPv6 /64, 2k fingerprints.
const decisions = [];
const add = (scope, value) =>
  decisions.push({
    key: `${scope === 'fingerprint' ? 'fp' : scope}:${value}`,
    scope,
    value,
    action: ACTIONS[int(3)],
    reason: 'bench',
    signals: [{ name: 'repetitionRatio', value: 0.9, threshold: 0.6 }],
    score: 3,
    decidedAt: NOW,
    expiresAt: NOW + 3_600_000,
    origin: 'auto',
    version: decisions.length + 1,
  });
const v4Addresses = [];
const v6Addresses = [];
for (let i = 0; i < 70_000; i++) v4Addresses.push(v4());
for (let i = 0; i < 15_000; i++) v6Addresses.push(v6());
for (const ip of v4Addresses) add('ip', ip);
for (const ip of v6Addresses) add('ip', ip);
const v4Ranges = [];
for (let i = 0; i < 10_000; i++) {
  const base = v4().split('.').slice(0, 3).join('.');
  v4Ranges.push(base);
  add('range', `${base}.0/24`);
}
const v6Ranges = [];
for (let i = 0; i < 3_000; i++) {
  const base = `2001:db8:${hex()}:${hex()}`;
  v6Ranges.push(base);
  add('range', `${base}::/64`);
}
const fingerprints = [];
for (let i = 0; i < 2_000; i++) {
  fingerprints.push(
    `h1:${int(2 ** 31)
      .toString(16)
      .padStart(12, '0')}`,
  );
  add('fingerprint', fingerprints[i]);
}

// Queries: 80 % IPv4 / 20 % IPv6; a third hit an address decision, a tenth fall in a range, the
// rest miss (most traffic is not blocked); a quarter carry a fingerprint, 5 % a decided one.
const QUERY_COUNT = 1 << 16;
const queries = [];
for (let i = 0; i < QUERY_COUNT; i++) {
  const six = random() < 0.2;
  const r = random();
  let ip;
  if (r < 0.33) ip = six ? v6Addresses[int(v6Addresses.length)] : v4Addresses[int(v4Addresses.length)];
  else if (r < 0.43)
    ip = six
      ? `${v6Ranges[int(v6Ranges.length)]}:1:2:3:${hex()}`
      : `${v4Ranges[int(v4Ranges.length)]}.${int(256)}`;
  else ip = six ? v6() : v4();
  const f = random();
  const fingerprint =
    f < 0.05
      ? fingerprints[int(fingerprints.length)]
      : f < 0.25
        ? `h1:${int(2 ** 31).toString(16)}`
        : undefined;
  // Flat strings, as a socket's remoteAddress is (concatenation builds ropes, slower to scan).
  queries.push({
    ip: Buffer.from(ip).toString(),
    fingerprint: fingerprint && Buffer.from(fingerprint).toString(),
  });
}

// The agent's index.
const index = new DecisionIndex();
for (const d of decisions) {
  const parsed = parseDecision(d);
  index.put(parsed.decision, parsed.target, NOW);
}

// Baseline 1: the repo's general-purpose structures (canonical text → Map; CidrSet + Map for ranges).
const byText = new Map();
const rangeSet = new CidrSet();
const rangeByText = new Map();
const byFingerprint = new Map();
for (const d of decisions) {
  if (d.scope === 'ip') byText.set(canonicalIp(d.value), d);
  else if (d.scope === 'range') {
    const text = parseCidr(d.value).text;
    rangeSet.add(text);
    rangeByText.set(text, d);
  } else byFingerprint.set(d.value, d);
}
const ALLOW = { verdict: 'allow', decision: null };
function mapCheck(request, now) {
  let best = null;
  const ip = canonicalIp(request.ip);
  if (ip !== null) {
    const exact = byText.get(ip);
    if (exact !== undefined && exact.expiresAt > now) best = exact;
    // CidrSet answers the most specific range only; enough here (one length per family).
    const range = rangeSet.match(ip);
    const covering = range === null ? undefined : rangeByText.get(range);
    if (
      covering !== undefined &&
      covering.expiresAt > now &&
      (best === null || actionStrength(covering.action) > actionStrength(best.action))
    )
      best = covering;
  }
  if (request.fingerprint) {
    const fp = byFingerprint.get(request.fingerprint);
    if (
      fp !== undefined &&
      fp.expiresAt > now &&
      (best === null || actionStrength(fp.action) > actionStrength(best.action))
    )
      best = fp;
  }
  return best === null ? ALLOW : { verdict: best.action, decision: best };
}

// Baseline 2: naive linear scan over parsed ranges (what a first version without an index does).
const parsedRanges = decisions
  .filter((d) => d.scope === 'range')
  .map((d) => ({ cidr: parseCidr(d.value), d }));
function naiveCheck(request, now) {
  const exact = byText.get(canonicalIp(request.ip) ?? '');
  let best = exact !== undefined && exact.expiresAt > now ? exact : null;
  const parts = request.ip.includes(':') ? null : request.ip.split('.').map(Number);
  const value = parts ? ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0 : -1;
  for (const { cidr, d } of parsedRanges) {
    if (cidr.version !== 4 || value < 0) continue;
    const mask = cidr.prefixLength === 0 ? 0 : (0xffffffff << (32 - cidr.prefixLength)) >>> 0;
    if (
      (value & mask) >>> 0 === cidr.network &&
      d.expiresAt > now &&
      (best === null || actionStrength(d.action) > actionStrength(best.action))
    )
      best = d;
  }
  return best === null ? ALLOW : { verdict: best.action, decision: best };
}

// Same answers, or the comparison means nothing.
let disagreements = 0;
for (const q of queries) if (index.check(q, NOW).verdict !== mapCheck(q, NOW).verdict) disagreements++;
if (disagreements > 0) throw new Error(`index and baseline disagree on ${disagreements} queries`);

function run(name, check, lookups, passNow) {
  let sink = 0;
  const mask = QUERY_COUNT - 1;
  const rates = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    if (passNow) for (let i = 0; i < lookups; i++) sink += check(queries[i & mask], NOW).verdict.length;
    else for (let i = 0; i < lookups; i++) sink += check(queries[i & mask]).verdict.length;
    rates.push(lookups / ((performance.now() - start) / 1000));
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)];
  console.log(
    `${name.padEnd(58)} ${Math.round(median).toLocaleString('en-US').padStart(12)} lookups/s (median of ${ROUNDS}; sink ${sink % 7})`,
  );
  return median;
}

const hits = queries.filter((q) => index.check(q, NOW).verdict !== 'allow').length;
console.log(
  `edge agent check(): ${index.size.toLocaleString('en-US')} active decisions (${JSON.stringify(index.stats())}), ` +
    `${QUERY_COUNT} distinct queries (${Math.round((100 * hits) / QUERY_COUNT)} % covered), node ${process.version}`,
);
const indexed = run(
  'DecisionIndex.check (agent, Date.now() per call)',
  (q) => index.check(q),
  LOOKUPS,
  false,
);
run('DecisionIndex.check (agent, caller-supplied now)', (q, now) => index.check(q, now), LOOKUPS, true);
const baseline = run('baseline: canonical text Map + netaddr CidrSet', mapCheck, LOOKUPS, true);
const naive = run('baseline: naive linear scan of ranges', naiveCheck, Math.max(2000, LOOKUPS / 5000), true);
console.log(
  `speed-up: ×${(indexed / baseline).toFixed(1)} over the Map+CidrSet baseline, ×${Math.round(indexed / naive)} over the naive scan`,
);
