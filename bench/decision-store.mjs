#!/usr/bin/env node
// `npm run build && node bench/decision-store.mjs`: the decider's store writer through the real
// local broker and Redis (npm run infra:up). N decisions are produced to a fresh prefix's
// `decisions` topic, then:
//   build     `edgeguard run decider` starts and puts them in Redis (time until all are there)
//   rebuild   the store's keys are deleted while it runs (time until all are back)
//   baseline  DecisionStore.putMany() of the same decisions held in memory, 200 a call (no Kafka), same run
// Cleans up its Redis keys and topics. BENCH_DECISIONS (default 100000).
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DecisionStore, storeKeys } from '@edgeguard/decisions';
import { createKafka, createProducer, publishDecisions } from '@edgeguard/kafka';
import { createLogger } from '@edgeguard/telemetry';
import { Redis } from 'ioredis';

const here = dirname(fileURLToPath(import.meta.url));
const bin = join(here, '..', 'packages', 'cli', 'bin', 'edgeguard.js');
const count = Number(process.env.BENCH_DECISIONS ?? 100_000);
const prefix = `benchstore${Date.now().toString(36)}.`;
const env = { ...process.env, EDGEGUARD_TOPIC_PREFIX: prefix, LOG_LEVEL: 'warn' };
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const kafka = createKafka({
  brokers: ['127.0.0.1:9092'],
  clientId: 'bench-store',
  logger: createLogger('bench'),
});

if (spawnSync(process.execPath, [bin, 'topics', 'ensure', '--partitions', '1'], { env }).status !== 0)
  throw new Error('topics ensure failed');

const now = Date.now();
const decisions = [];
for (let i = 0; i < count; i++) {
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  // One in ten a /24 range, as the decider publishes them.
  const range = i % 10 === 9;
  const value = range ? `172.${(i >> 16) & 255}.${(i >> 8) & 255}.0/24` : ip;
  decisions.push({
    key: `${range ? 'range' : 'ip'}:${value}`,
    scope: range ? 'range' : 'ip',
    value,
    action: 'block',
    reason: 'repetition',
    signals: [{ name: 'repetitionRatio', value: 0.93, threshold: 0.8 }],
    score: 3,
    decidedAt: now,
    expiresAt: now + 3_600_000,
    origin: 'auto',
    version: 1,
  });
}
const unique = new Set(decisions.map((d) => d.key)).size;
const producer = createProducer(kafka);
await producer.connect();
for (let i = 0; i < decisions.length; i += 2000)
  await publishDecisions(producer, prefix, decisions.slice(i, i + 2000));
await producer.disconnect();

const keys = storeKeys(prefix);
const stored = () => redis.hlen(keys.data);
async function until(what, check, timeoutMs = 300_000) {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (await check()) return (performance.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out: ${what}`);
}

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});
const decider = spawn(process.execPath, [bin, 'run', 'decider'], {
  env: { ...env, EDGEGUARD_HEALTH_PORT: String(port) },
  stdio: ['ignore', 'ignore', 'inherit'],
});
try {
  const build = await until('initial build', async () => (await stored()) === unique);
  await redis.del(...Object.values(keys));
  const rebuild = await until('rebuild', async () => (await stored()) === unique);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const reported = Number(/edgeguard_store_rebuild_seconds(?:\{[^}]*\})? ([\d.]+)/.exec(metrics)?.[1]);

  const baselinePrefix = `${prefix}baseline.`;
  const baselineStore = new DecisionStore({ redis, prefix: baselinePrefix });
  const started = performance.now();
  // The store writer's batches: putMany of 200 per script call, one at a time.
  for (let i = 0; i < decisions.length; i += 200) await baselineStore.putMany(decisions.slice(i, i + 200));
  const baseline = (performance.now() - started) / 1000;
  await redis.del(...Object.values(storeKeys(baselinePrefix)));

  const result = {
    decisions: count,
    keys: unique,
    buildSeconds: +build.toFixed(2),
    rebuildSeconds: +rebuild.toFixed(2),
    rebuildSecondsReported: reported,
    rebuildPerSecond: Math.round(unique / rebuild),
    baselineInMemorySeconds: +baseline.toFixed(2),
    host: `${process.arch}, load ${(await import('node:os')).loadavg()[0].toFixed(1)}`,
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  decider.kill('SIGTERM');
  await new Promise((r) => decider.once('exit', r));
  await redis.del(...Object.values(keys));
  for await (const found of redis.scanStream({ match: `${prefix}checkpoint:*`, count: 1000 }))
    if (found.length > 0) await redis.del(...found);
  redis.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  const ours = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  await admin.deleteTopics({ topics: ours }).catch(() => undefined);
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
  await admin.deleteGroups(groups).catch(() => undefined);
  await admin.disconnect();
}
