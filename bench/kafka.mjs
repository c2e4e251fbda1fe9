#!/usr/bin/env node
// `npm run bench:kafka`: the Kafka runtime through the real local broker (npm run infra:up).
//   ship       edgeguard ship of the generated combined log (lines/s, peak RSS)
//   profiler   one `edgeguard run profiler` process consuming what was shipped (events/s, peak RSS)
// Uses a fresh topic prefix per run. Results print and go to bench/out/kafka-results.json.
// BENCH_ONLY=ship: only the ship part (results in bench/out/kafka-ship-results.json); BENCH_SHIP_AB
// and BENCH_REPEAT (below) compare shipper variants in the same run; BENCH_PROFILER_BIN runs another
// build's profiler. BENCH_PROFILER_AB="label:ARGS|label:ARGS" (with BENCH_REPEAT rounds, alternating)
// drains the one shipped log with each profiler variant in turn, e.g.
//   BENCH_REPEAT=3 BENCH_PROFILER_AB="inline:--workers 0|workers:--workers 2" node bench/kafka.mjs
// (ARGS as for BENCH_SHIP_AB; BENCH_PROFILER_BIN=PATH in ARGS runs that build); between runs the
// consumer group and its checkpoints are deleted, so every run starts from the first offset.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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

// Ship, measured from spawn to exit (lines/s), and by the OS (peak RSS, CPU seconds).
const shipOnce = (extraArgs = [], extraEnv = {}) => {
  const started = performance.now();
  // BENCH_BIN=<path of another checkout's packages/cli/bin/edgeguard.js> ships with that build.
  const { BENCH_BIN: shipBin = bin, ...shipEnv } = extraEnv;
  const run = spawnSync(
    '/usr/bin/time',
    ['-f', '%M %U %S', process.execPath, shipBin, 'ship', logPath, '--format', 'combined', ...extraArgs],
    { env: { ...env, ...shipEnv }, encoding: 'utf8' },
  );
  const seconds = (performance.now() - started) / 1000;
  if (run.status !== 0) throw new Error(run.stderr);
  const [rssKB, user, sys] = run.stderr.trim().split('\n').pop().split(' ').map(Number);
  // The shipper's own figure: from its first line read to the last acknowledgement (no start-up).
  const own = Number(/ ([\d,]+) lines\/s\n[^\n]*$/.exec(run.stderr.trim())?.[1]?.replaceAll(',', '') ?? 0);
  return {
    lines,
    seconds,
    linesPerSecond: Math.round(lines / seconds),
    shipperLinesPerSecond: own,
    cpuSeconds: Math.round((user + sys) * 100) / 100,
    peakRssMB: Math.round(rssKB / 1024),
  };
};
const showShip = (label, r) =>
  console.log(
    `${label.padEnd(9)} ${r.linesPerSecond.toLocaleString().padStart(9)} lines/s   ${r.seconds.toFixed(1)} s   (shipper's own ${r.shipperLinesPerSecond.toLocaleString()} lines/s)   CPU ${r.cpuSeconds.toFixed(1)} s   peak RSS ${r.peakRssMB} MB`,
  );

// BENCH_SHIP_AB="label:args|label:args" ships the log once per variant, BENCH_REPEAT rounds,
// alternating (A/B in the same run on a shared machine), e.g.
//   BENCH_ONLY=ship BENCH_SHIP_AB="inline:--workers 0|workers:--workers 2" npm run bench:kafka
// An argument KEY=VALUE is set in the shipper's environment instead of passed on its command line;
// BENCH_BIN=PATH runs another build's bin (e.g. a worktree of the previous commit) as that variant.
/** `label:ARGS|label:ARGS` → variants; KEY=VALUE words go to the environment. */
const parseVariants = (spec) =>
  spec.split('|').map((v) => {
    const [label, args = ''] = v.split(':');
    const words = args.split(' ').filter(Boolean);
    return {
      label,
      args: words.filter((w) => !/^[A-Z_][A-Z0-9_]*=/.test(w)),
      env: Object.fromEntries(words.filter((w) => /^[A-Z_][A-Z0-9_]*=/.test(w)).map((w) => w.split('='))),
    };
  });
const variants = parseVariants(process.env.BENCH_SHIP_AB ?? 'ship:');
const rounds = Number(process.env.BENCH_REPEAT ?? 1);
const profilerAB = process.env.BENCH_PROFILER_AB;
const shipRuns = [];
for (let round = 0; round < (profilerAB ? 1 : rounds); round++)
  for (const v of variants) {
    const r = { variant: v.label, round, load: os.loadavg()[0], ...shipOnce(v.args, v.env) };
    shipRuns.push(r);
    showShip(v.label, r);
  }
const shipped = shipRuns[shipRuns.length - 1];
if (process.env.BENCH_ONLY === 'ship') {
  writeFileSync(
    join(here, 'out', 'kafka-ship-results.json'),
    `${JSON.stringify({ date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, partitions, runs: shipRuns }, null, 2)}\n`,
  );
  process.exit(0);
}

// One profiler process drains the topic; time from its start to lag 0. CPU: the process's user +
// system time from /proc (all its threads) just before it is stopped, per event with start-up and
// from the first event on.
const healthPort = 19_464;
// `thread`: that thread of the process only (the main thread's id is the process id).
const cpuSecondsOf = (pid, thread) => {
  try {
    // After the command name: state is field 3, utime 14, stime 15 (clock ticks of 10 ms on Linux).
    const path = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
    const fields = readFileSync(path, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
};
async function profileOnce(extraArgs = [], extraEnv = {}) {
  const profStart = performance.now();
  // BENCH_PROFILER_BIN=<another checkout's packages/cli/bin/edgeguard.js>: that build's profiler (A/B).
  const { BENCH_PROFILER_BIN: profBin = process.env.BENCH_PROFILER_BIN ?? bin, ...profEnv } = extraEnv;
  const profiler = spawn(process.execPath, [profBin, 'run', 'profiler', ...extraArgs], {
    env: { ...env, ...profEnv, EDGEGUARD_HEALTH_PORT: String(healthPort) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let drained = false;
  // A profiler that exits before draining (a bad flag, a crash) ends the run at once instead of
  // leaving the bench polling for its 15-minute limit.
  let exitCode;
  const exited = new Promise((resolve) =>
    profiler.on('exit', (code, signal) => {
      exitCode = code ?? signal;
      resolve();
    }),
  );
  let peakRss = 0;
  let firstEventAt = 0;
  let cpuAtFirstEvent = 0;
  let mainCpuAtFirstEvent = 0;
  // Progress from the service's own /metrics (events processed), sampled every 200 ms: committed
  // offsets (what `edgeguard lag` shows) only move at checkpoints, every few seconds.
  while (!drained && performance.now() - profStart < 900_000) {
    if (exitCode !== undefined) throw new Error(`the profiler exited (${exitCode}) before draining`);
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
    if (events > 0 && firstEventAt === 0) {
      firstEventAt = performance.now();
      cpuAtFirstEvent = cpuSecondsOf(profiler.pid);
      mainCpuAtFirstEvent = cpuSecondsOf(profiler.pid, profiler.pid);
    }
    drained = events >= lines;
  }
  const busySeconds = (performance.now() - firstEventAt) / 1000;
  const profSeconds = (performance.now() - profStart) / 1000;
  const cpuSeconds = cpuSecondsOf(profiler.pid);
  const mainCpuSeconds = cpuSecondsOf(profiler.pid, profiler.pid);
  profiler.kill('SIGTERM');
  await exited;
  return {
    events: lines,
    seconds: profSeconds,
    eventsPerSecond: Math.round(lines / busySeconds),
    busySeconds,
    cpuSeconds,
    cpuMicrosPerEvent: Math.round((cpuSeconds / lines) * 1e7) / 10,
    // From the first event on: without start-up (module loading, connecting, group join).
    busyCpuMicrosPerEvent: Math.round(((cpuSeconds - cpuAtFirstEvent) / lines) * 1e7) / 10,
    peakRssMB: Math.round(peakRss / 1048576),
    // Share of the time from the first event on that the main thread (kafkajs, producing, and the
    // stage when inline) was on a core; the rest it waited (for the broker, for workers, for a core).
    mainBusyShare: Math.round(((mainCpuSeconds - mainCpuAtFirstEvent) / busySeconds) * 100) / 100,
    drained,
  };
}
const showProfiler = (label, r) =>
  console.log(
    `${label.padEnd(9)} ${r.eventsPerSecond.toLocaleString().padStart(9)} events/s  ${r.busySeconds.toFixed(1)} s from first event (${r.seconds.toFixed(1)} s from start)   CPU ${r.cpuSeconds.toFixed(1)} s (${r.cpuMicrosPerEvent} µs/event, ${r.busyCpuMicrosPerEvent} from the first)   main thread busy ${Math.round(r.mainBusyShare * 100)} %   peak RSS ${r.peakRssMB} MB   load ${os.loadavg()[0].toFixed(1)}${r.drained ? '' : '  (did not drain!)'}`,
  );

/** Forgets the profiler's progress (consumer group and checkpoints), so the next run starts over. */
async function resetProfiler() {
  const { Kafka, logLevel } = (await import('kafkajs')).default;
  const { Redis } = await import('ioredis');
  const kafka = new Kafka({
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteGroups([`${prefix}profiler`]).catch(() => undefined);
  await admin.disconnect();
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const keys = await redis.keys(`${prefix}checkpoint:${prefix}profiler:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
}

const profilerVariants = parseVariants(profilerAB ?? 'profiler:');
const profilerRuns = [];
for (let round = 0; round < (profilerAB ? rounds : 1); round++)
  for (const v of profilerVariants) {
    if (profilerRuns.length > 0) await resetProfiler();
    const load = os.loadavg()[0];
    const r = { variant: v.label, round, load, ...(await profileOnce(v.args, v.env)) };
    profilerRuns.push(r);
    showProfiler(v.label, r);
  }
const consumed = profilerRuns[profilerRuns.length - 1];
writeFileSync(
  join(here, 'out', 'kafka-results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, partitions, ship: shipped, shipRuns, profiler: consumed, profilerRuns }, null, 2)}\n`,
);
