#!/usr/bin/env node
// The profiler stage alone: CPU per event on already-parsed records, A/B between builds.
//
//   node bench/profiler.mjs
//
// Reads the generated benchmark log (bench-log.mjs: BENCH_LINES lines, default 1M, from about
// BENCH_CLIENTS clients, default 100k) and, in one child process, parses every line into an
// AccessLog BEFORE timing. Then, for BENCH_REPEAT rounds (default 3), each build in turn feeds
// the same records one by one to a fresh `profiler` stage instance of its own (partition 0 of 1,
// the topology's deps and allowlist) whose emitter only counts the outputs; the instance is
// dropped and garbage collected before the next run. Builds are loaded side by side as separate
// module instances, so an A/B alternates every few seconds on identical input and drifts in the
// machine's load hit both alike. Reports CPU µs per event (user + system time of the loop,
// steadier than wall time on a shared machine), wall µs per event, outputs per event and the
// heap the run's state holds.
//
//   BENCH_PROFILER_AB='base:/path/to/other/checkout|new:.'  builds to compare (default: this one);
//                     each root must be built (npm ci and turbo build)
//   BENCH_VERIFY=1    also hashes every output (topic, key, JSON value): equal digests = equal
//                     outputs (the hashing is timed too, so do not compare its figures)
//   BENCH_MAX_CLIENTS=n  a smaller client table (default bounds.maxClients, 200k), so that evictions
//                     take part (with BENCH_VERIFY: the eviction paths give the same outputs)
//   BENCH_EVENTS=n    only the log's first n records (e.g. a short run under
//                     `valgrind --tool=callgrind --trace-children=yes`: instruction counts are steady
//                     on a loaded machine where CPU time is not)
//   BENCH_CPU_PROF=f  writes a CPU profile of the timed loop only (first run of each build,
//                     f.<name>.cpuprofile) and prints the top functions by self time
//   BENCH_PARSE_IN_LOOP=1  keeps the lines, not the records, and parses each line (the first
//                     build's parser, a fresh one per run) right before the stage takes it, inside
//                     the timed loop, as a replay does: the line and its fields are then in the
//                     cache when the stage reads them. Records parsed before the loop are cold (1M
//                     of them, ~0.5 GB), which overstates whatever reads a field's characters
//                     (docs/BENCHMARKS.md, fifth session of 2026-11-29). The figures then include
//                     the parse (the same for every build: the paired difference is the stage's)
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureBenchLog } from './bench-log.mjs';

const here = dirname(fileURLToPath(import.meta.url));

if (process.argv[2] === '--child') {
  await child(process.argv[3]);
} else {
  await parent();
}

async function parent() {
  const lines = Number(process.env.BENCH_LINES ?? 1_000_000);
  const clients = Number(process.env.BENCH_CLIENTS ?? 100_000);
  const logPath = await ensureBenchLog(lines, clients);
  process.stdout.write(`profiler stage, ${logPath}, load ${load()}\n`);
  // A child, so that --expose-gc is on whatever way this script was started.
  const run = spawnSync(
    process.execPath,
    ['--expose-gc', fileURLToPath(import.meta.url), '--child', logPath],
    {
      stdio: 'inherit',
    },
  );
  process.exitCode = run.status ?? 1;
}

function load() {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

async function child(logPath) {
  const repeat = Number(process.env.BENCH_REPEAT ?? 3);
  const builds = [];
  for (const spec of (process.env.BENCH_PROFILER_AB ?? `this:${join(here, '..')}`).split('|')) {
    const colon = spec.indexOf(':');
    const root = resolve(spec.slice(colon + 1));
    const importFrom = (path) => import(pathToFileURL(join(root, path)).href);
    builds.push({
      name: spec.slice(0, colon),
      pipeline: await importFrom('packages/pipeline/dist/index.js'),
      config: await importFrom('packages/config/dist/index.js'),
      logformat: await importFrom('packages/logformat/dist/index.js'),
      schema: await importFrom('packages/schema/dist/index.js'),
    });
  }
  // The records, parsed once by the first build's parser.
  const { logformat, schema, pipeline } = builds[0];
  const parser = logformat.createParser('combined', {});
  const parseInLoop = process.env.BENCH_PARSE_IN_LOOP === '1';
  const logs = [];
  const kept = [];
  const limit = Number(process.env.BENCH_EVENTS ?? Number.POSITIVE_INFINITY);
  read: for await (const batch of logformat.openLogSource(logPath).batches()) {
    for (const line of batch) {
      if (logs.length >= limit) break read;
      const log = parser.parse(line);
      if (!(log instanceof schema.BadInput)) {
        // In-loop parsing keeps the lines only (the records made here are dropped).
        logs.push(parseInLoop ? null : log);
        if (parseInLoop) kept.push(line);
      }
    }
  }
  const message = (log, offset) => ({
    topic: pipeline.TOPICS.accessLogs,
    partition: 0,
    offset,
    key: log.clientAddress,
    value: log,
    timestamp: log.time,
  });
  // Parsed in the timed loop: a fresh parser per run (its address memo starts empty), and the
  // lines that parsed above, so offsets and records are the same as parsed beforehand.
  const messages = parseInLoop
    ? {
        length: kept.length,
        *[Symbol.iterator]() {
          const inLoop = logformat.createParser('combined', {});
          for (let offset = 0; offset < kept.length; offset++) {
            yield message(inLoop.parse(kept[offset]), offset);
          }
        },
      }
    : logs.map(message);
  process.stdout.write(
    `${messages.length.toLocaleString()} records ${parseInLoop ? 'parsed in the timed loop (lines kept)' : 'parsed'}\n`,
  );

  const samples = new Map(builds.map((b) => [b.name, []]));
  for (let round = 0; round < repeat; round++) {
    for (const build of builds) {
      const prof =
        round === 0 && process.env.BENCH_CPU_PROF ? `${process.env.BENCH_CPU_PROF}.${build.name}` : '';
      const result = await timeRun(build, messages, prof);
      samples.get(build.name).push(result);
      process.stdout.write(
        `${build.name.padEnd(8)} ${result.cpuUsPerEvent.toFixed(3)} µs CPU/event  ${result.wallUsPerEvent.toFixed(3)} µs wall/event  ${result.outputsPerEvent.toFixed(3)} outputs/event  state ${result.stateMB} MB${result.digest ? `  digest ${result.digest}` : ''}  load ${load()}\n`,
      );
    }
  }
  for (const [name, runs] of samples) {
    const cpu = runs.map((r) => r.cpuUsPerEvent).sort((a, b) => a - b);
    const median = cpu[Math.floor(cpu.length / 2)];
    process.stdout.write(
      `${name.padEnd(8)} median ${median.toFixed(3)} µs CPU/event (runs ${runs.map((r) => r.cpuUsPerEvent.toFixed(3)).join(', ')}) = ${Math.round(1e6 / median).toLocaleString()} events per CPU-second; stats ${JSON.stringify(runs[0].stats)}\n`,
    );
  }
}

async function timeRun(build, messages, profPath) {
  const { createTopology } = build.pipeline;
  const { defaultConfig } = build.config;
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
  const heapBefore = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
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
    session.disconnect();
    writeFileSync(`${profPath}.cpuprofile`, JSON.stringify(profile));
    printTopFunctions(profile);
  }
  globalThis.gc();
  const heapAfter = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const events = messages.length;
  return {
    events,
    cpuUsPerEvent: (cpu.user + cpu.system) / events,
    wallUsPerEvent: (wall * 1000) / events,
    outputsPerEvent: outputs / events,
    // What the stage's state holds after the run (heap + typed arrays, after a full GC).
    stateMB: Math.round((heapAfter - heapBefore) / 2 ** 20),
    digest: process.env.BENCH_VERIFY ? (digest >>> 0).toString(16) : undefined,
    stats: stage.stats(),
  };
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
