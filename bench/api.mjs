#!/usr/bin/env node
// `npm run bench:api`: the API service over loopback, against the real Redis and Kafka.
//   lookup    GET /v1/decisions?ip= with autocannon against ONE `edgeguard run api` process,
//             100k decisions in the store (addresses + IPv4/IPv6 ranges of several lengths), half
//             the queried addresses covered, half not; once answered from the in-memory follower
//             (EDGEGUARD_API_LOOKUP=memory, the default) and once from Redis per request (baseline),
//             in the same run
//   startup   GET /v1/decisions/stream?startup=true of the 100k decisions: time, bytes, and the
//             API process's peak RSS (VmHWM) before and after
// Uses a fresh prefix; removes its Redis keys and topics at the end. Results print and go to
// bench/out/api-results.json. BENCH_DECISIONS, BENCH_SECONDS, BENCH_CONNECTIONS override.
//   BENCH_KEYS=N        the requests rotate over N bouncer keys (default 1): with 32 keys and 32
//                       connections no key passes the default rate limit of 1,000 requests/s
//   BENCH_QUICK=1       the follower lookup and /healthz only (no Redis-per-request row, no startup)
//   BENCH_BIN=PATH      another build's packages/cli/bin/edgeguard.js runs the API (a baseline)
//   BENCH_NODE_ARGS     node flags for the API process, space-separated (e.g. --cpu-prof)
//   BENCH_API_STDOUT=1  the API process's stdout shows (e.g. with --trace-gc)
//   A/B in the same run: BENCH_VARIANTS='base@/other/checkout/packages/cli/bin/edgeguard.js new
//   rl+EDGEGUARD_API_RATE_LIMIT=1000' (label[@bin][+VAR=value…], space-separated; a variant's
//   +BENCH_NODE_ARGS=--a,--b are node flags for its process) starts one API process per
//   variant, all at once, then loads them in turn, BENCH_SLICE seconds each (default 3; the order
//   rotates every round), for BENCH_ROUNDS rounds (default 6): on a shared machine the variants
//   see the same conditions, which consecutive whole runs do not. Per variant: CPU per request
//   over all its slices, the median and range of its slices' req/s and p99, and the same for
//   /healthz with BENCH_HEALTHZ=1. No Redis-per-request row, no startup.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { DecisionStore } from '../packages/decisions/dist/index.js';
import { ApiKeyStore } from '../services/api/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.BENCH_BIN || join(here, '..', 'packages', 'cli', 'bin', 'edgeguard.js');
const total = Number(process.env.BENCH_DECISIONS ?? 100_000);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const keyCount = Number(process.env.BENCH_KEYS ?? 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 6);
const slice = Number(process.env.BENCH_SLICE ?? 3);
const withHealthz = process.env.BENCH_HEALTHZ === '1';
const variants = (process.env.BENCH_VARIANTS ?? '')
  .split(' ')
  .filter(Boolean)
  .map((spec) => {
    const [head, ...vars] = spec.split('+');
    const [label, other] = head.split('@');
    return {
      label,
      bin: other || undefined,
      env: Object.fromEntries(vars.map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)])),
    };
  });
const quick = process.env.BENCH_QUICK === '1' || variants.length > 0;
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const prefix = `benchapi${Date.now().toString(36)}.`;
const env = {
  ...process.env,
  EDGEGUARD_TOPIC_PREFIX: prefix,
  LOG_LEVEL: 'warn',
  EDGEGUARD_API_RATE_LIMIT: '0',
};
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const store = new DecisionStore({ redis, prefix });

const ensure = spawnSync(process.execPath, [bin, 'topics', 'ensure', '--partitions', '1'], {
  env,
  encoding: 'utf8',
});
if (ensure.status !== 0) throw new Error(ensure.stderr);

// 100k decisions: 80% addresses, 20% ranges (IPv4 /16 /20 /24 /28, IPv6 /48 /64).
const now = Date.now();
let n = 0;
const make = (scope, value) => ({
  key: `${scope}:${value}`,
  scope,
  value,
  action: n % 7 === 0 ? 'challenge' : 'block',
  reason: 'bench',
  signals: [{ name: 'rate', value: 42, threshold: 10 }],
  score: 0.8,
  decidedAt: now,
  expiresAt: now + 6 * 3_600_000,
  origin: 'auto',
  version: ++n,
});
const ipv4 = (i) => `${11 + ((i >>> 16) & 0x3f)}.${(i >>> 8) & 0xff}.${i & 0xff}.${(i * 7) & 0xff}`;
const decisions = [];
const covered = [];
const ranges = Math.round(total * 0.2);
for (let i = 0; i < total - ranges; i++) {
  const ip = ipv4(i * 13);
  decisions.push(make('ip', ip));
  if (i % 4 === 0) covered.push(ip);
}
const lengths = [16, 20, 24, 28];
for (let i = 0; i < ranges; i++) {
  if (i % 10 === 9) {
    const len = i % 20 === 9 ? 48 : 64;
    const hex = ((i * 2654435761) >>> 0).toString(16).padStart(8, '0');
    const net =
      len === 48 ? `2001:db8:${hex.slice(0, 4)}::` : `2001:db8:${hex.slice(0, 4)}:${hex.slice(4)}::`;
    decisions.push(make('range', `${net}/${len}`));
    covered.push(`${net}1`);
    continue;
  }
  const len = lengths[i % 4];
  const a = 100 + (i % 100);
  const b = (i >>> 2) & 0xff;
  const c = len >= 24 ? (i >>> 4) & 0xff : len === 20 ? ((i >>> 4) & 0xf) << 4 : 0;
  const d = len === 28 ? ((i >>> 6) & 0xf) << 4 : 0;
  decisions.push(make('range', `${a}.${b}.${c}.${d}/${len}`));
  covered.push(`${a}.${b}.${c}.${d + 1}`);
}
const loadStart = performance.now();
for (let i = 0; i < decisions.length; i += 500) await store.putMany(decisions.slice(i, i + 500));
const active = await redis.zcount(`{${prefix}bl}:exp`, '-inf', '+inf');
console.log(
  `store     ${active.toLocaleString()} decisions written in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`,
);
const misses = Array.from(
  { length: 20_000 },
  (_, i) => `${200 + (i % 20)}.${(i * 31) & 0xff}.${(i * 17) & 0xff}.${i & 0xff}`,
);
const queries = [];
for (let i = 0; i < 20_000; i++) queries.push(i % 2 === 0 ? covered[(i * 7919) % covered.length] : misses[i]);

const keys = new ApiKeyStore(redis, prefix);
const apiKeys = [];
for (let i = 0; i < keyCount; i++) apiKeys.push((await keys.create(`bench-${i}`, 'bouncer')).key);
const key = apiKeys[0];

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

async function startApi(lookup, variant = { bin: undefined, env: {} }) {
  const port = await freePort();
  // A variant's own BENCH_NODE_ARGS (comma-separated) come after the run's.
  const ownArgs = (variant.env.BENCH_NODE_ARGS ?? '').split(',').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, ...ownArgs, variant.bin ?? bin, 'run', 'api'], {
    env: {
      ...env,
      ...variant.env,
      EDGEGUARD_API_PORT: String(port),
      EDGEGUARD_API_HOST: '127.0.0.1',
      EDGEGUARD_API_LOOKUP: lookup,
    },
    stdio: ['ignore', process.env.BENCH_API_STDOUT ? 'inherit' : 'ignore', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`api exited ${child.exitCode}`);
    if (
      await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (performance.now() - started > 120_000) throw new Error('api not ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  const readySeconds = (performance.now() - started) / 1000;
  const status = (field) =>
    Number(
      new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0,
    ) / 1024;
  return {
    url,
    readySeconds,
    /** CPU time the API process has used, ms (user + system, from /proc/<pid>/stat). */
    cpuMs: () => {
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks (USER_HZ = 100)
    },
    peakRssMB: () => Math.round(status('VmHWM')),
    rssMB: () => Math.round(status('VmRSS')),
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Checks that covered addresses are found and misses are not; the load for `api`. */
async function lookupLoad(api) {
  const hit = await fetch(`${api.url}/v1/decisions?ip=${covered[1]}`, { headers: { 'x-api-key': key } }).then(
    (r) => r.json(),
  );
  const miss = await fetch(`${api.url}/v1/decisions?ip=${misses[0]}`, { headers: { 'x-api-key': key } }).then(
    (r) => r.json(),
  );
  if (!Array.isArray(hit) || miss !== null)
    throw new Error(`lookup sanity failed: ${JSON.stringify(hit)} / ${JSON.stringify(miss)}`);
  const paths = queries.slice(0, 2000).map((ip, i) => ({
    method: 'GET',
    path: `/v1/decisions?ip=${ip}`,
    headers: { 'x-api-key': apiKeys[i % apiKeys.length] },
  }));
  return (duration) =>
    autocannon({
      url: api.url,
      connections,
      duration,
      // A fixed sequence of prebuilt requests: autocannon's setupRequest rebuilds every request
      // and costs the load generator more than the API spends answering it.
      requests: paths,
    });
}

// CPU time per request: what the API spends on one request whatever else runs on the machine
// (1e6 / µs per request ≈ requests per second one idle core would serve).
async function measured(api, fn) {
  const cpu = api.cpuMs();
  const result = await fn();
  return {
    result,
    cpuMs: api.cpuMs() - cpu,
    cpuUsPerRequest: Math.round(((api.cpuMs() - cpu) * 1000) / result.requests.total),
  };
}

async function lookupBench(lookup) {
  const api = await startApi(lookup);
  const run = await lookupLoad(api);
  await run(2); // warm-up
  const { result, cpuUsPerRequest } = await measured(api, () => run(seconds));
  // Ceiling of the same process on this machine right now: an unauthenticated route doing nothing.
  const floor =
    lookup === 'memory'
      ? await measured(api, () => autocannon({ url: `${api.url}/healthz`, connections, duration: seconds }))
      : null;
  const out = {
    lookup,
    requestsPerSecond: Math.round(result.requests.average),
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    errors: result.errors + result.non2xx,
    readySeconds: Number(api.readySeconds.toFixed(1)),
    rssMB: api.rssMB(),
    cpuUsPerRequest,
    ...(floor
      ? {
          healthzRequestsPerSecond: Math.round(floor.result.requests.average),
          healthzP99ms: floor.result.latency.p99,
          healthzCpuUsPerRequest: floor.cpuUsPerRequest,
        }
      : {}),
  };
  console.log(
    `lookup    ${lookup.padEnd(6)} ${out.requestsPerSecond.toLocaleString().padStart(7)} req/s   p50 ${out.p50ms} ms   p99 ${out.p99ms} ms   errors ${out.errors}   CPU ${cpuUsPerRequest} µs/request   ready in ${out.readySeconds} s   RSS ${out.rssMB} MB`,
  );
  if (floor)
    console.log(
      `healthz          ${out.healthzRequestsPerSecond.toLocaleString().padStart(7)} req/s   p99 ${out.healthzP99ms} ms   CPU ${out.healthzCpuUsPerRequest} µs/request   (same process, no auth, no lookup: the ceiling here now)`,
    );
  await api.stop();
  return out;
}

async function startupBench(lookup) {
  const api = await startApi(lookup);
  const before = api.peakRssMB();
  const { key: streamKey } = await keys.create(`stream-${lookup}`, 'bouncer');
  const started = performance.now();
  const response = await fetch(`${api.url}/v1/decisions/stream?startup=true`, {
    headers: { 'x-api-key': streamKey },
  });
  let bytes = 0;
  let text = '';
  for await (const chunk of response.body) {
    bytes += chunk.length;
    text += Buffer.from(chunk).toString();
  }
  const took = (performance.now() - started) / 1000;
  const count = JSON.parse(text).new.length;
  const out = {
    lookup,
    decisions: count,
    seconds: Number(took.toFixed(2)),
    MB: Number((bytes / 1e6).toFixed(1)),
    peakRssBeforeMB: before,
    peakRssAfterMB: api.peakRssMB(),
  };
  console.log(
    `startup   ${lookup.padEnd(6)} ${count.toLocaleString()} decisions, ${out.MB} MB in ${out.seconds} s   API peak RSS ${before} → ${out.peakRssAfterMB} MB`,
  );
  await api.stop();
  return out;
}

const results = {
  date: new Date().toISOString(),
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model}`,
  load: os.loadavg()[0],
  node: process.version,
  decisions: total,
  connections,
  seconds,
};
/** The variants side by side: one process each, loaded in turn, slice by slice. */
async function variantsBench() {
  const running = [];
  for (const variant of variants) {
    const api = await startApi('memory', variant);
    const run = await lookupLoad(api);
    const healthz = (duration) => autocannon({ url: `${api.url}/healthz`, connections, duration });
    running.push({ variant, api, run, healthz, slices: { lookup: [], healthz: [] } });
  }
  for (const { run, healthz } of running) {
    await run(2); // warm-up
    if (withHealthz) await healthz(1);
  }
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < running.length; i++) {
      const one = running[(round + i) % running.length];
      for (const [kind, load] of [['lookup', one.run], ...(withHealthz ? [['healthz', one.healthz]] : [])]) {
        const { result, cpuMs } = await measured(one.api, () => load(slice));
        one.slices[kind].push({
          requests: result.requests.total,
          rps: Math.round(result.requests.average),
          p99: result.latency.p99,
          errors: result.errors + result.non2xx,
          cpuMs,
          load: os.loadavg()[0],
        });
      }
    }
  }
  const out = [];
  for (const { variant, api, slices } of running) {
    const row = { variant: variant.label, bin: variant.bin ?? bin, env: variant.env, rssMB: api.rssMB() };
    for (const [kind, list] of Object.entries(slices)) {
      if (list.length === 0) continue;
      const requests = list.reduce((sum, s) => sum + s.requests, 0);
      const rps = list.map((s) => s.rps);
      const p99 = list.map((s) => s.p99);
      row[kind] = {
        cpuUsPerRequest: Number(((list.reduce((sum, s) => sum + s.cpuMs, 0) * 1000) / requests).toFixed(1)),
        requestsPerSecond: { median: median(rps), min: Math.min(...rps), max: Math.max(...rps) },
        p99ms: { median: median(p99), min: Math.min(...p99), max: Math.max(...p99) },
        errors: list.reduce((sum, s) => sum + s.errors, 0),
        slices: list,
      };
      const r = row[kind];
      console.log(
        `${variant.label.padEnd(10)} ${kind.padEnd(8)} CPU ${r.cpuUsPerRequest} µs/request   ${r.requestsPerSecond.median.toLocaleString()} req/s (${r.requestsPerSecond.min.toLocaleString()}–${r.requestsPerSecond.max.toLocaleString()})   p99 ${r.p99ms.median} ms (${r.p99ms.min}–${r.p99ms.max})   errors ${r.errors}   ${list.length} × ${slice} s`,
      );
    }
    await api.stop();
    out.push(row);
  }
  return out;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
try {
  if (variants.length > 0) results.variants = await variantsBench();
  else results.lookup = [await lookupBench('memory')];
  if (!quick) results.lookup.push(await lookupBench('redis'));
  results.loadAfterLookup = os.loadavg()[0];
  if (!quick) results.startup = [await startupBench('redis'), await startupBench('memory')];
} finally {
  for (const tag of [`{${prefix}bl}`, `{${prefix}api}`]) {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${tag}:*`, 'COUNT', 1000);
      cursor = next;
      if (found.length) await redis.del(...found);
    } while (cursor !== '0');
  }
  redis.disconnect();
  const kafka = new Kafka({
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  if (mine.length) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
  await admin.disconnect();
}
mkdirSync(join(here, 'out'), { recursive: true });
writeFileSync(join(here, 'out', 'api-results.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(`machine   ${results.cpus}, load ${results.load.toFixed(1)}, node ${results.node}`);
