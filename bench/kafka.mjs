#!/usr/bin/env node
// `npm run bench:kafka`: the Kafka runtime through the real local broker (npm run infra:up).
//   ship       edgeguard ship of the generated combined log (lines/s, peak RSS)
//   profiler   one `edgeguard run profiler` process consuming what was shipped (events/s, peak RSS)
// Uses a fresh topic prefix per run. Results print and go to bench/out/kafka-results.json.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const bin = join(here, '..', 'packages', 'cli', 'bin', 'edgeguard.js');
const lines = Number(process.env.BENCH_LINES ?? 1_000_000);
const clients = Number(process.env.BENCH_CLIENTS ?? 100_000);
const partitions = Number(process.env.BENCH_PARTITIONS ?? 6);
const logPath = join(here, 'out', `bench-${lines}-${clients}.log`);
if (!existsSync(logPath)) {
  console.error(`bench:kafka: ${logPath} missing; run npm run bench first (it generates the log)`);
  process.exit(2);
}
const prefix = `bench${Date.now().toString(36)}.`;
const env = { ...process.env, EDGEGUARD_TOPIC_PREFIX: prefix, LOG_LEVEL: 'warn' };
const run = (args) =>
  spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8', maxBuffer: 1 << 26 });

if (run(['topics', 'ensure', '--partitions', String(partitions)]).status !== 0)
  throw new Error('topics ensure failed');

// Ship, measured by the process itself (lines/s) and by the OS (peak RSS).
const shipStart = performance.now();
const ship = spawnSync(
  '/usr/bin/time',
  ['-f', '%M', process.execPath, bin, 'ship', logPath, '--format', 'combined'],
  { env, encoding: 'utf8' },
);
const shipSeconds = (performance.now() - shipStart) / 1000;
if (ship.status !== 0) throw new Error(ship.stderr);
const shipRssMB = Math.round(Number(ship.stderr.trim().split('\n').pop()) / 1024);
const shipped = {
  lines,
  seconds: shipSeconds,
  linesPerSecond: Math.round(lines / shipSeconds),
  peakRssMB: shipRssMB,
};
console.log(
  `ship      ${shipped.linesPerSecond.toLocaleString().padStart(9)} lines/s   ${shipSeconds.toFixed(1)} s   peak RSS ${shipRssMB} MB`,
);

// One profiler process drains the topic; time from its start to lag 0.
const profStart = performance.now();
const healthPort = 19_464;
const profiler = spawn(process.execPath, [bin, 'run', 'profiler'], {
  env: { ...env, EDGEGUARD_HEALTH_PORT: String(healthPort) },
  stdio: ['ignore', 'ignore', 'inherit'],
});
let drained = false;
let peakRss = 0;
let firstEventAt = 0;
// Progress from the service's own /metrics (events processed), sampled every 200 ms: committed
// offsets (what `edgeguard lag` shows) only move at checkpoints, every few seconds.
while (!drained && performance.now() - profStart < 900_000) {
  await new Promise((r) => setTimeout(r, 200));
  const metrics = await fetch(`http://127.0.0.1:${healthPort}/metrics`).then(
    (r) => r.text(),
    () => '',
  );
  const rss = Number(
    /^edgeguard_process_(?:process_)?resident_memory_bytes\S* (\d+)/m.exec(metrics)?.[1] ?? 0,
  );
  if (rss > peakRss) peakRss = rss;
  let events = 0;
  for (const m of metrics.matchAll(/^edgeguard_events_total\{[^}]*topic="access-logs"[^}]*\} (\d+)/gm))
    events += Number(m[1]);
  if (events > 0 && firstEventAt === 0) firstEventAt = performance.now();
  drained = events >= lines;
}
const busySeconds = (performance.now() - firstEventAt) / 1000;
const profSeconds = (performance.now() - profStart) / 1000;
const exited = new Promise((resolve) => profiler.on('exit', resolve));
profiler.kill('SIGTERM');
await exited;
const profRssMB = Math.round(peakRss / 1048576);
const consumed = {
  events: lines,
  seconds: profSeconds,
  eventsPerSecond: Math.round(lines / busySeconds),
  busySeconds,
  peakRssMB: profRssMB,
  drained,
};
console.log(
  `profiler  ${consumed.eventsPerSecond.toLocaleString().padStart(9)} events/s  ${busySeconds.toFixed(1)} s from first event (${profSeconds.toFixed(1)} s from start)   peak RSS ${profRssMB} MB${drained ? '' : '  (did not drain!)'}`,
);
writeFileSync(
  join(here, 'out', 'kafka-results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, partitions, ship: shipped, profiler: consumed }, null, 2)}\n`,
);
