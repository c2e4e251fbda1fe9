#!/usr/bin/env node
// Edge agent benchmarks (docs/BENCHMARKS.md, "Edge agent"):
//   1. check() lookups/s over 100,000 active decisions (IPv4 and IPv6 addresses, /24 and /64
//      ranges, fingerprints), against two baselines in the same run: the repo's general-purpose
//      structures (canonical text → Map, netaddr CidrSet for ranges) and a naive linear scan.
//   2. propagation (unless --no-latency; needs the local broker and Redis, `npm run infra:up`):
//      a decision produced to the `decisions` topic → visible in an agent following the API
//      (decider's store writer → Redis → `edgeguard run api` → SSE → HttpSource), and in an agent
//      reading the topic directly (KafkaSource), p50/p99 over --decisions N (default 300) sent at
//      --rate per second (default 50), on a fresh topic prefix.
// Usage: npm run bench:agent [-- --lookups 5000000 --decisions 500 --no-latency --kinds --agent-only
//   --ab <another built checkout, e.g. a copy of the branch start>]
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DecisionIndex, EdgeAgent, HttpSource, KafkaSource, parseDecision } from '@edgeguard/edge-agent';
import { CidrSet, canonicalIp, parseCidr } from '@edgeguard/netaddr';
import { actionStrength } from '@edgeguard/schema';
import { Redis } from 'ioredis';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : fallback;
};
const LOOKUPS = Number(flag('lookups', 3_000_000));
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

// Query mixes (65,536 distinct queries each, cycled): the share of IPv6, of addresses with an
// address decision, of addresses inside a decided range (else uncovered), of requests carrying a
// fingerprint, and of those whose fingerprint is decided.
const QUERY_COUNT = 1 << 16;
function makeQueries({ v6Share, addressHits, rangeHits, withFingerprint, fingerprintHits }) {
  const list = [];
  for (let i = 0; i < QUERY_COUNT; i++) {
    const six = random() < v6Share;
    const r = random();
    let ip;
    if (r < addressHits)
      ip = six ? v6Addresses[int(v6Addresses.length)] : v4Addresses[int(v4Addresses.length)];
    else if (r < addressHits + rangeHits)
      ip = six
        ? `${v6Ranges[int(v6Ranges.length)]}:1:2:3:${hex()}`
        : `${v4Ranges[int(v4Ranges.length)]}.${int(256)}`;
    else ip = six ? v6() : v4();
    const f = random();
    const fingerprint =
      f < withFingerprint * fingerprintHits
        ? fingerprints[int(fingerprints.length)]
        : f < withFingerprint
          ? `h1:${int(2 ** 31).toString(16)}`
          : undefined;
    // Flat strings, as a socket's remoteAddress is (concatenation builds ropes, slower to scan).
    list.push({
      ip: Buffer.from(ip).toString(),
      fingerprint: fingerprint && Buffer.from(fingerprint).toString(),
    });
  }
  return list;
}
const MIXES = [
  [
    'IPv4, nothing covered',
    { v6Share: 0, addressHits: 0, rangeHits: 0, withFingerprint: 0, fingerprintHits: 0 },
  ],
  [
    'typical: 20 % IPv6, 3 % covered, 25 % with fingerprint',
    { v6Share: 0.2, addressHits: 0.02, rangeHits: 0.01, withFingerprint: 0.25, fingerprintHits: 0.02 },
  ],
  [
    'under attack: 20 % IPv6, 43 % covered',
    { v6Share: 0.2, addressHits: 0.33, rangeHits: 0.1, withFingerprint: 0.25, fingerprintHits: 0.2 },
  ],
].map(([name, shape]) => ({ name, queries: makeQueries(shape) }));
// One lookup kind alone (--kinds): where the time of a mix goes.
const KINDS = [
  ['IPv4 miss', { v6Share: 0, addressHits: 0, rangeHits: 0, withFingerprint: 0, fingerprintHits: 0 }],
  [
    'IPv4 in a /24 range',
    { v6Share: 0, addressHits: 0, rangeHits: 1, withFingerprint: 0, fingerprintHits: 0 },
  ],
  ['IPv4 exact hit', { v6Share: 0, addressHits: 1, rangeHits: 0, withFingerprint: 0, fingerprintHits: 0 }],
  ['IPv6 miss', { v6Share: 1, addressHits: 0, rangeHits: 0, withFingerprint: 0, fingerprintHits: 0 }],
  [
    'IPv6 in a /64 range',
    { v6Share: 1, addressHits: 0, rangeHits: 1, withFingerprint: 0, fingerprintHits: 0 },
  ],
  ['IPv6 exact hit', { v6Share: 1, addressHits: 1, rangeHits: 0, withFingerprint: 0, fingerprintHits: 0 }],
  [
    'IPv4 miss + fingerprint miss',
    { v6Share: 0, addressHits: 0, rangeHits: 0, withFingerprint: 1, fingerprintHits: 0 },
  ],
].map(([name, shape]) => ({ name, queries: makeQueries(shape) }));

// The agent's index.
function buildIndex(agentModule) {
  const built = new agentModule.DecisionIndex();
  for (const d of decisions) {
    const parsed = agentModule.parseDecision(d);
    built.put(parsed.decision, parsed.target, NOW);
  }
  return built;
}
const index = buildIndex({ DecisionIndex, parseDecision });
// --ab <checkout>: the same lookups against another build's DecisionIndex (its packages/*/dist,
// e.g. the branch start), round by round in this process, so both see the same machine load.
const abRoot = flag('ab', null);
const other = abRoot
  ? buildIndex(await import(pathToFileURL(join(abRoot, 'packages/edge-agent/dist/index.js')).href))
  : null;

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
for (const mix of [...MIXES, ...KINDS]) {
  let disagreements = 0;
  for (const q of mix.queries) {
    const verdict = index.check(q, NOW).verdict;
    if (verdict !== mapCheck(q, NOW).verdict || (other && verdict !== other.check(q, NOW).verdict))
      disagreements++;
  }
  if (disagreements > 0)
    throw new Error(`${mix.name}: index and baseline disagree on ${disagreements} queries`);
}

// Rate from the wall clock and CPU time per lookup (process.cpuUsage: steadier on a shared machine).
// Several checks (A/B) are timed round by round, alternating, one row each.
function run(names, queries, checks, lookups) {
  let sink = 0;
  const mask = QUERY_COUNT - 1;
  const rates = checks.map(() => []);
  const cpuNs = checks.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order too: what runs first in a round must not be what always runs first.
    const order = checks.map((_, c) => c);
    if (round % 2 === 1) order.reverse();
    for (const c of order) {
      const check = checks[c];
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      for (let i = 0; i < lookups; i++) sink += check(queries[i & mask]).verdict.length;
      rates[c].push(lookups / ((performance.now() - start) / 1000));
      const cpu = process.cpuUsage(cpuStart);
      cpuNs[c].push(((cpu.user + cpu.system) * 1000) / lookups);
    }
  }
  const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  return checks.map((_, c) => {
    const rate = median(rates[c]);
    const cpu = median(cpuNs[c]);
    console.log(
      `  ${names[c].padEnd(44)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} lookups/s  ${(1e9 / rate).toFixed(0).padStart(6)} ns  CPU ${cpu.toFixed(0).padStart(5)} ns/lookup = ${(1e3 / cpu).toFixed(2)} M/CPU-s (median of ${ROUNDS}; sink ${sink % 7})`,
    );
    return rate;
  });
}

console.log(
  `edge agent check(): ${index.size.toLocaleString('en-US')} active decisions (${JSON.stringify(index.stats())}), node ${process.version}, load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
// --agent-only: the agent's rows alone (for A/B runs of two builds); --kinds: one lookup kind at a time.
const agentOnly = args.includes('--agent-only');
for (const mix of [...MIXES, ...(args.includes('--kinds') ? KINDS : [])]) {
  const covered = mix.queries.filter((q) => index.check(q, NOW).verdict !== 'allow').length;
  console.log(`${mix.name} (${((100 * covered) / QUERY_COUNT).toFixed(1)} % answered with a decision)`);
  const [indexed] = other
    ? run(
        ['DecisionIndex.check (the agent)', `the same, build in ${abRoot}`],
        mix.queries,
        [(q) => index.check(q), (q) => other.check(q)],
        LOOKUPS,
      )
    : run(['DecisionIndex.check (the agent)'], mix.queries, [(q) => index.check(q)], LOOKUPS);
  if (agentOnly || !MIXES.includes(mix)) continue;
  const [baseline] = run(
    ['baseline: canonical text Map + netaddr CidrSet'],
    mix.queries,
    [(q) => mapCheck(q, Date.now())],
    LOOKUPS,
  );
  let line = `  speed-up ×${(indexed / baseline).toFixed(1)} over Map+CidrSet`;
  if (mix === MIXES[2]) {
    const [naive] = run(
      ['baseline: naive linear scan of ranges'],
      mix.queries,
      [(q) => naiveCheck(q, Date.now())],
      Math.max(2000, LOOKUPS / 5000),
    );
    line += `, ×${Math.round(indexed / naive)} over the naive scan`;
  }
  console.log(line);
}
console.log(
  `load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);

if (args.includes('--no-latency')) process.exit(0);

// ---- 2. propagation: decisions topic → agent ----
const DECISIONS = Number(flag('decisions', 300));
const RATE = Number(flag('rate', 50));
const here = dirname(fileURLToPath(import.meta.url));
const bin = join(here, '..', 'packages', 'cli', 'bin', 'edgeguard.js');
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const prefix = `benchagent${Date.now().toString(36)}.`;
const env = { ...process.env, EDGEGUARD_TOPIC_PREFIX: prefix, LOG_LEVEL: 'warn' };
const freePort = () =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
const edgeguardCommand = (cmd) => {
  const result = spawnSync(process.execPath, [bin, ...cmd], { env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`edgeguard ${cmd.join(' ')}: ${result.stderr}`);
  return result.stdout.trim();
};
async function waitReady(url, child, name) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited`);
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await sleep(200);
  }
  throw new Error(`${name} not ready`);
}
edgeguardCommand(['topics', 'ensure', '--partitions', '1']);
const deciderPort = await freePort();
const decider = spawn(process.execPath, [bin, 'run', 'decider'], {
  env: { ...env, EDGEGUARD_HEALTH_PORT: String(deciderPort) },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const apiPort = await freePort();
const api = spawn(process.execPath, [bin, 'run', 'api'], {
  env: { ...env, EDGEGUARD_API_PORT: String(apiPort), EDGEGUARD_API_HOST: '127.0.0.1' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
const agents = {};
try {
  await waitReady(`http://127.0.0.1:${deciderPort}/readyz`, decider, 'decider');
  await waitReady(`http://127.0.0.1:${apiPort}/readyz`, api, 'api');
  const key = edgeguardCommand(['keys', 'create', '--scope', 'bouncer', '--name', 'bench-agent']);
  await producer.connect();
  agents.api = new EdgeAgent({ source: new HttpSource({ url: `http://127.0.0.1:${apiPort}`, apiKey: key }) });
  agents.kafka = new EdgeAgent({ source: new KafkaSource({ brokers, topicPrefix: prefix }) });
  const seenAt = { api: new Map(), kafka: new Map() };
  for (const [name, agent] of Object.entries(agents)) {
    agent.on('change', ({ op, key: changed }) => {
      if (op === 'put' && !seenAt[name].has(changed)) seenAt[name].set(changed, performance.now());
    });
    await agent.start();
    await agent.whenReady(60_000);
  }
  const sentAt = new Map();
  const interval = 1000 / RATE;
  const started = performance.now();
  for (let i = 0; i < DECISIONS; i++) {
    const wait = started + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    const ip = `198.18.${i >> 8}.${i & 255}`;
    const now = Date.now();
    const d = {
      key: `ip:${ip}`,
      scope: 'ip',
      value: ip,
      action: 'block',
      reason: 'bench',
      signals: [{ name: 'repetitionRatio', value: 0.9, threshold: 0.6 }],
      score: 3,
      decidedAt: now,
      expiresAt: now + 600_000,
      origin: 'auto',
      version: i + 1,
    };
    sentAt.set(d.key, performance.now());
    // Not awaited: the clock starts when the decision is handed to the producer, as the decider does.
    producer.send({
      topic: `${prefix}decisions`,
      acks: -1,
      messages: [{ key: d.key, value: JSON.stringify(d) }],
    });
  }
  const deadline = performance.now() + 30_000;
  while ((seenAt.api.size < DECISIONS || seenAt.kafka.size < DECISIONS) && performance.now() < deadline)
    await sleep(20);
  const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
  console.log(`\npropagation: ${DECISIONS} decisions at ${RATE}/s, produced to ${prefix}decisions`);
  for (const name of ['api', 'kafka']) {
    const latencies = [...sentAt]
      .filter(([k]) => seenAt[name].has(k))
      .map(([k, t]) => seenAt[name].get(k) - t)
      .sort((a, b) => a - b);
    const path =
      name === 'api'
        ? 'topic → decider store writer → Redis → API SSE → agent'
        : 'topic → agent (KafkaSource)';
    console.log(
      `${path.padEnd(58)} seen ${latencies.length}/${DECISIONS}  p50 ${pct(latencies, 0.5).toFixed(1)} ms  p99 ${pct(latencies, 0.99).toFixed(1)} ms  max ${latencies.at(-1).toFixed(1)} ms`,
    );
  }
} finally {
  for (const agent of Object.values(agents)) await agent.stop();
  await producer.disconnect().catch(() => undefined);
  for (const child of [api, decider]) child.kill('SIGTERM');
  for (const tag of [`{${prefix}bl}`, `{${prefix}api}`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${tag}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  }
  redis.disconnect();
}
