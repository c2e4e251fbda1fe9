#!/usr/bin/env node
// The profiler stage alone: CPU per event on already-parsed records, A/B between builds.
//
//   node bench/profiler.mjs
//
// Reads the generated benchmark log (bench-log.mjs: BENCH_LINES lines, default 1M, from about
// BENCH_CLIENTS clients, default 100k), and in a child process per run parses every line into an
// AccessLog BEFORE timing, collects garbage, then feeds the records one by one to a fresh
// `profiler` stage instance (partition 0 of 1, the topology's deps and allowlist) whose emitter
// only counts the outputs. Reports CPU µs per event (user + system time of the loop, steadier than
// wall time on a shared machine), wall µs per event and the outputs per event.
//
//   BENCH_PROFILER_AB='base:/path/to/other/checkout|new:.'  builds to compare (default: this one),
//                     run alternately BENCH_REPEAT times each (default 3); each root must be built
//   BENCH_VERIFY=1    also hashes every output (topic, key, JSON value): equal digests = equal
//                     outputs (the hashing is timed too, so do not compare its figures)
//   BENCH_MAX_CLIENTS=n  a smaller client table (default bounds.maxClients, 200k), so that evictions
//                     take part (with BENCH_VERIFY: the eviction paths give the same outputs)
//   BENCH_CPU_PROF=f  writes a CPU profile of the timed loop only (first run of each variant,
//                     f.<variant>.cpuprofile) and prints the top functions by self time
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureBenchLog } from './bench-log.mjs';

const here = dirname(fileURLToPath(import.meta.url));

if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], process.argv[5]);
} else {
  await parent();
}

async function parent() {
  const lines = Number(process.env.BENCH_LINES ?? 1_000_000);
  const clients = Number(process.env.BENCH_CLIENTS ?? 100_000);
  const repeat = Number(process.env.BENCH_REPEAT ?? 3);
  const variants = (process.env.BENCH_PROFILER_AB ?? `this:${join(here, '..')}`).split('|').map((spec) => {
    const colon = spec.indexOf(':');
    return { name: spec.slice(0, colon), root: resolve(spec.slice(colon + 1)) };
  });
  const logPath = await ensureBenchLog(lines, clients);
  const load = () =>
    os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  process.stdout.write(`profiler stage, ${logPath}, load ${load()}\n`);
  const samples = new Map(variants.map((v) => [v.name, []]));
  for (let round = 0; round < repeat; round++) {
    for (const variant of variants) {
      const prof =
        round === 0 && process.env.BENCH_CPU_PROF ? `${process.env.BENCH_CPU_PROF}.${variant.name}` : '';
      const run = spawnSync(
        process.execPath,
        ['--expose-gc', fileURLToPath(import.meta.url), '--child', variant.root, logPath, prof],
        { encoding: 'utf8', maxBuffer: 1 << 24 },
      );
      if (run.status !== 0) {
        process.stderr.write(run.stderr);
        throw new Error(`bench run of ${variant.name} failed`);
      }
      const out = run.stdout.trim().split('\n');
      const result = JSON.parse(out.pop());
      samples.get(variant.name).push(result);
      process.stdout.write(
        `${variant.name.padEnd(8)} ${result.cpuUsPerEvent.toFixed(3)} µs CPU/event  ${result.wallUsPerEvent.toFixed(3)} µs wall/event  ${result.outputsPerEvent.toFixed(3)} outputs/event  peak RSS ${result.peakRssMB} MB${result.digest ? `  digest ${result.digest}` : ''}  load ${load()}\n`,
      );
      for (const line of out) process.stdout.write(`  ${line}\n`);
    }
  }
  for (const [name, runs] of samples) {
    const cpu = runs.map((r) => r.cpuUsPerEvent).sort((a, b) => a - b);
    process.stdout.write(
      `${name.padEnd(8)} median ${cpu[Math.floor(cpu.length / 2)].toFixed(3)} µs CPU/event (runs ${runs.map((r) => r.cpuUsPerEvent.toFixed(3)).join(', ')}) = ${Math.round(1e6 / cpu[Math.floor(cpu.length / 2)]).toLocaleString()} events per CPU-second\n`,
    );
  }
}

async function child(root, logPath, profPath) {
  const load = (path) => import(pathToFileURL(join(root, path)).href);
  const { createParser, openLogSource } = await load('packages/logformat/dist/index.js');
  const { createTopology, TOPICS } = await load('packages/pipeline/dist/index.js');
  const { defaultConfig } = await load('packages/config/dist/index.js');
  const { BadInput } = await load('packages/schema/dist/index.js');

  const parser = createParser('combined', {});
  const logs = [];
  for await (const batch of openLogSource(logPath).batches()) {
    for (const line of batch) {
      const log = parser.parse(line);
      if (!(log instanceof BadInput)) logs.push(log);
    }
  }
  const messages = logs.map((log, offset) => ({
    topic: TOPICS.accessLogs,
    partition: 0,
    offset,
    key: log.clientAddress,
    value: log,
    timestamp: log.time,
  }));
  // BENCH_MAX_CLIENTS: a smaller client table, so that evictions take part (digest checks).
  const bounds = { ...defaultConfig.detect.bounds };
  if (process.env.BENCH_MAX_CLIENTS) bounds.maxClients = Number(process.env.BENCH_MAX_CLIENTS);
  const stage = createTopology({
    detect: { ...defaultConfig.detect, bounds },
    allowlist: [],
    partitions: 1,
  }).topology.stages[0].create(0);

  let outputs = 0;
  let digest = 0x811c9dc5;
  const hashText = (text) => {
    let h = digest;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    digest = h;
  };
  const emitter = process.env.BENCH_VERIFY
    ? {
        emit(topic, key, value) {
          outputs++;
          hashText(topic);
          hashText(key);
          hashText(JSON.stringify(value));
        },
      }
    : {
        emit() {
          outputs++;
        },
      };

  globalThis.gc();
  let session = null;
  if (profPath) {
    const { Session } = await import('node:inspector/promises');
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const cpuStart = process.cpuUsage();
  const wallStart = performance.now();
  for (const message of messages) stage.process(message, emitter);
  stage.finish(emitter);
  const wall = performance.now() - wallStart;
  const cpu = process.cpuUsage(cpuStart);
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(`${profPath}.cpuprofile`, JSON.stringify(profile));
    printTopFunctions(profile);
  }
  const events = messages.length;
  process.stdout.write(
    `${JSON.stringify({
      events,
      cpuUsPerEvent: (cpu.user + cpu.system) / events,
      wallUsPerEvent: (wall * 1000) / events,
      outputsPerEvent: outputs / events,
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      digest: process.env.BENCH_VERIFY ? (digest >>> 0).toString(16) : undefined,
      stats: stage.stats(),
    })}\n`,
  );
}

/** Top functions of a CPU profile by self time (samples), with their share. */
function printTopFunctions(profile) {
  const self = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  let total = 0;
  for (const [id, count] of counts) {
    const { callFrame } = byId.get(id);
    const name = `${callFrame.functionName || '(anonymous)'} ${callFrame.url.split('/').slice(-2).join('/')}:${callFrame.lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + count);
    total += count;
  }
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 30);
  for (const [name, count] of top)
    process.stdout.write(`${((count / total) * 100).toFixed(1).padStart(5)} %  ${name}\n`);
}
