#!/usr/bin/env node
// `npm run bench:latency`: the whole Kafka pipeline at a fixed input rate, on the real local broker.
//
// Starts BENCH_PROFILERS profiler processes, one content-watch and one decider on a fresh topic
// prefix, ships the generated bench log with `edgeguard ship --rate BENCH_RATE`, and measures:
//   latency  for every address decision: the time its decision message was written to
//            `decisions` minus the time the access-log message holding the line that triggered it
//            was written to `access-logs` (both are Kafka record timestamps, i.e. the producers'
//            wall clocks on this one machine; the line is the decided client's record whose event
//            time equals the decision's `decidedAt`, else its latest record before it);
//   memory   every service's RSS and heap, sampled from its /metrics every 5 s (a soak: run with
//            BENCH_SECONDS=600 and see whether it stays flat).
// The access-log time includes the shipper's batching (500 records per partition message).
// Results print and go to bench/out/latency-results.json.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeAccessLogMessage } from '@edgeguard/schema';
import { Kafka, logLevel } from 'kafkajs';
import { ensureBenchLog } from './bench-log.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const bin = join(here, '..', 'packages', 'cli', 'bin', 'edgeguard.js');
const rate = Number(process.env.BENCH_RATE ?? 50_000);
const seconds = Number(process.env.BENCH_SECONDS ?? 60);
const clients = Number(process.env.BENCH_CLIENTS ?? 100_000);
const partitions = Number(process.env.BENCH_PARTITIONS ?? 6);
const profilers = Number(process.env.BENCH_PROFILERS ?? 2);
const lines = rate * seconds;
// The generated log (testkit stops at its scenario's end, so it may hold fewer lines than asked);
// a longer run ships it again, every pass shifted later by the log's time span (see shiftedLines).
const logPath = process.env.BENCH_LOG ?? (await ensureBenchLog(Math.min(lines, 30_000_000), clients));
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

const prefix = `lat${Date.now().toString(36)}.`;
const env = { ...process.env, EDGEGUARD_TOPIC_PREFIX: prefix, LOG_LEVEL: 'warn' };
if (
  spawnSync(process.execPath, [bin, 'topics', 'ensure', '--partitions', String(partitions)], { env })
    .status !== 0
)
  throw new Error('topics ensure failed');

const services = [];
const basePort = 19_600;
const names = [...Array.from({ length: profilers }, () => 'profiler'), 'content-watch', 'decider'];
for (const [i, name] of names.entries()) {
  const port = basePort + i;
  const child = spawn(process.execPath, [bin, 'run', name], {
    env: { ...env, EDGEGUARD_HEALTH_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  services.push({ name: `${name}#${i}`, port, child, samples: [] });
}
const metricsOf = (port) =>
  fetch(`http://127.0.0.1:${port}/metrics`).then(
    (r) => r.text(),
    () => '',
  );
const gaugeOf = (text, name) => Number(new RegExp(`^${name}\\S* (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
for (const service of services) {
  for (let i = 0; i < 120; i++) {
    const ok = await fetch(`http://127.0.0.1:${service.port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 500));
  }
}

const started = Date.now();
const sampler = setInterval(async () => {
  for (const service of services) {
    const text = await metricsOf(service.port);
    service.samples.push({
      t: Math.round((Date.now() - started) / 1000),
      rssMB: Math.round(gaugeOf(text, 'edgeguard_process_process_resident_memory_bytes') / 1048576),
      heapMB: Math.round(gaugeOf(text, 'edgeguard_process_nodejs_heap_size_used_bytes') / 1048576),
    });
  }
}, 5_000);

process.stderr.write(`latency: shipping ${lines.toLocaleString()} lines at ${rate.toLocaleString()}/s\n`);
const ship = await shipShifted(logPath, lines);
if (ship.status !== 0) throw new Error(ship.stderr);
const shipSeconds = (Date.now() - started) / 1000;
// Let the pipeline drain: wait until the decider's processed count stops moving for 5 s.
let last = -1;
for (let quiet = 0; quiet < 5; ) {
  await new Promise((r) => setTimeout(r, 1000));
  const text = await metricsOf(services.at(-1).port);
  let events = 0;
  for (const m of text.matchAll(/^edgeguard_events_total\{[^}]*\} (\d+)/gm)) events += Number(m[1]);
  quiet = events === last ? quiet + 1 : 0;
  last = events;
}
clearInterval(sampler);
for (const service of services) service.child.kill('SIGTERM');

// Decisions and the access-log messages that triggered them, by Kafka record timestamps.
const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING, clientId: 'bench-latency' });
async function readAll(topic, onMessage) {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(prefix + topic);
  await admin.disconnect();
  const remaining = new Set(ends.filter((o) => o.high !== o.low).map((o) => o.partition));
  const endOf = new Map(ends.map((o) => [o.partition, BigInt(o.high)]));
  if (remaining.size === 0) return;
  const consumer = kafka.consumer({ groupId: `${prefix}bench-${topic}`, maxBytes: 16 << 20 });
  await consumer.connect();
  await consumer.subscribe({ topic: prefix + topic, fromBeginning: true });
  await new Promise((resolve) => {
    consumer.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) onMessage(message);
        if (BigInt(batch.lastOffset()) + 1n >= endOf.get(batch.partition)) remaining.delete(batch.partition);
        if (remaining.size === 0) resolve();
      },
    });
  });
  await consumer.disconnect();
}
const decisions = new Map(); // "ip|decidedAt" → decision record timestamp (first publication)
await readAll('decisions', (message) => {
  if (message.value === null) return;
  const decision = JSON.parse(message.value.toString());
  if (decision.scope !== 'ip') return;
  const key = `${decision.value}|${decision.decidedAt}`;
  if (!decisions.has(key))
    decisions.set(key, { ip: decision.value, at: decision.decidedAt, written: Number(message.timestamp) });
});
const wanted = new Map(); // ip → decisions of it
for (const d of decisions.values()) {
  const list = wanted.get(d.ip);
  if (list) list.push(d);
  else wanted.set(d.ip, [d]);
}
const best = new Map(); // decision → { time, written } of the triggering record
await readAll('access-logs', (message) => {
  if (message.value === null) return;
  const written = Number(message.timestamp);
  for (const record of decodeAccessLogMessage(message.value)) {
    const list = wanted.get(record.clientAddress);
    if (!list) continue;
    for (const d of list) {
      const current = best.get(d);
      if (record.time <= d.at && (current === undefined || record.time > current.time))
        best.set(d, { time: record.time, written });
    }
  }
});
const latencies = [];
for (const [d, trigger] of best) latencies.push(d.written - trigger.written);
latencies.sort((a, b) => a - b);
const pct = (p) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? null;
const memory = services.map((s) => {
  const rss = s.samples.map((x) => x.rssMB).filter(Number.isFinite);
  const half = Math.floor(rss.length / 2);
  const mean = (xs) => Math.round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length));
  return {
    service: s.name,
    rssMB: {
      first: rss[0],
      max: Math.max(...rss),
      last: rss.at(-1),
      firstHalfMean: mean(rss.slice(0, half)),
      secondHalfMean: mean(rss.slice(half)),
    },
    samples: s.samples,
  };
});
const result = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
  rate,
  lines,
  partitions,
  profilers,
  shipSeconds,
  achievedRate: Math.round(lines / shipSeconds),
  decisions: decisions.size,
  measured: latencies.length,
  latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: latencies.at(-1) ?? null },
  memory,
};
writeFileSync(join(here, 'out', 'latency-results.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(
  `shipped ${lines.toLocaleString()} lines in ${shipSeconds.toFixed(0)} s (${result.achievedRate.toLocaleString()}/s of ${rate.toLocaleString()}/s)`,
);
console.log(
  `line → decision latency over ${latencies.length} address decisions: p50 ${pct(50)} ms, p90 ${pct(90)} ms, p99 ${pct(99)} ms, max ${latencies.at(-1)} ms`,
);
for (const m of memory)
  console.log(
    `${m.service.padEnd(16)} RSS first ${m.rssMB.first} MB, max ${m.rssMB.max} MB, last ${m.rssMB.last} MB (mean 1st half ${m.rssMB.firstHalfMean}, 2nd half ${m.rssMB.secondHalfMean})`,
  );
process.exit(0);

/**
 * `edgeguard ship - --rate R` fed with exactly `count` lines of the log: pass k has every
 * timestamp moved k × (the log's span + 1 min) later, so a soak longer than the log keeps event
 * time moving forward (clients come back as returning clients an interval later).
 */
async function shipShifted(path, count) {
  const { createReadStream } = await import('node:fs');
  const child = spawn(process.execPath, [bin, 'ship', '-', '--format', 'combined', '--rate', String(rate)], {
    env,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => child.on('exit', (status) => resolve(status)));
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const stamp = /\[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) \+0000\]/g;
  const parse = (m) => Date.UTC(+m[3], months.indexOf(m[2]), +m[1], +m[4], +m[5], +m[6]);
  const format = (ms) => {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    return `[${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000]`;
  };
  let sent = 0;
  let span = 0;
  const write = (text) =>
    child.stdin.write(text) ? undefined : new Promise((resolve) => child.stdin.once('drain', resolve));
  for (let pass = 0; sent < count; pass++) {
    const shift = pass * span;
    const cache = new Map();
    let first = Number.POSITIVE_INFINITY;
    let lastTime = 0;
    let rest = '';
    for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
      const text = rest + chunk;
      const cut = text.lastIndexOf('\n') + 1;
      rest = text.slice(cut);
      let body = text.slice(0, cut);
      let n = 0;
      for (let i = body.indexOf('\n'); i !== -1; i = body.indexOf('\n', i + 1)) n++;
      if (sent + n > count) {
        let end = 0;
        for (let k = 0; k < count - sent; k++) end = body.indexOf('\n', end) + 1;
        body = body.slice(0, end);
        n = count - sent;
      }
      body = body.replace(stamp, (...m) => {
        let out = cache.get(m[0]);
        if (out === undefined) {
          const t = parse(m);
          if (t < first) first = t;
          if (t > lastTime) lastTime = t;
          out = shift === 0 ? m[0] : format(t + shift);
          cache.set(m[0], out);
        }
        return out;
      });
      sent += n;
      await write(body);
      if (sent >= count) break;
    }
    span = pass === 0 ? lastTime - first + 60_000 : span;
    if (pass === 0 && sent < count)
      process.stderr.write(
        `latency: the log holds ${sent.toLocaleString()} lines; shipping it again shifted\n`,
      );
  }
  child.stdin.end();
  return { status: await exited, stderr };
}
