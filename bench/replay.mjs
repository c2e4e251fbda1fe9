#!/usr/bin/env node
// `npm run bench`: replay throughput, peak RSS and per-stage cost on a generated log.
//
// Generates (once, cached in bench/out/) a combined-format log of BENCH_LINES lines (default 1M)
// from about BENCH_CLIENTS clients (default 100k) with the testkit, then runs each variant in its
// own child process so that peak RSS is per variant:
//   read      read + split lines only (the floor)
//   regex     read + a plain regex parse of combined lines (the baseline named in the issue)
//   parse     read + edgeguard's combined parser
//   pipeline  read + parse + the whole pipeline (profiler, content-watch, decider, backtest)
//   replay    `edgeguard replay` itself (the CLI's replayLog and report: the peak-RSS target)
//   pipeline-capped  the same as pipeline with V8's old generation capped (--max-old-space-size=BENCH_CAP_MB,
//             default 192): the operator knob that trades GC headroom for peak RSS (V8 otherwise
//             lets the old generation grow to ~3× the live state between full collections)
// Per-stage cost is the difference between consecutive variants. Results go to stdout and to
// bench/out/results.json; docs/BENCHMARKS.md records them with the machine and date.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'out');
mkdirSync(out, { recursive: true });
const lines = Number(process.env.BENCH_LINES ?? 1_000_000);
const clients = Number(process.env.BENCH_CLIENTS ?? 100_000);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const logPath = join(out, `bench-${lines}-${clients}.log`);

if (!existsSync(logPath)) {
  const { writeScenario } = await import('@edgeguard/testkit');
  const t0 = performance.now();
  process.stderr.write(
    `bench: generating ${lines.toLocaleString()} lines from ~${clients.toLocaleString()} clients → ${logPath}\n`,
  );
  const written = await writeScenario(
    { seed: 7, format: 'combined', targetLines: lines, clients, jitterMs: 1500 },
    logPath,
  );
  process.stderr.write(
    `bench: generated ${written.lines.toLocaleString()} lines in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
}

const capMB = Number(process.env.BENCH_CAP_MB ?? 192);
// BENCH_VARIANTS=replay,pipeline runs only those.
const variants = process.env.BENCH_VARIANTS?.split(',') ?? [
  'read',
  'regex',
  'parse',
  'pipeline',
  'pipeline-capped',
  'replay',
];
const nodeFlags = (variant) =>
  variant === 'pipeline-capped' ? ['--expose-gc', `--max-old-space-size=${capMB}`] : ['--expose-gc'];
const results = {};
for (const variant of variants) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const child = spawnSync(
      process.execPath,
      [...nodeFlags(variant), join(here, 'variant.mjs'), variant, logPath],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      },
    );
    if (child.status !== 0) {
      process.stderr.write(child.stderr);
      throw new Error(`bench variant ${variant} failed`);
    }
    samples.push(JSON.parse(child.stdout.trim().split('\n').pop()));
  }
  // Median run by throughput: these machines are noisy, so one outlier must not decide.
  samples.sort((a, b) => a.linesPerSecond - b.linesPerSecond);
  results[variant] = {
    ...samples[Math.floor(samples.length / 2)],
    runs: samples.map((s) => s.linesPerSecond),
    peakRssRunsMB: samples.map((s) => s.peakRssMB),
  };
  const r = results[variant];
  process.stdout.write(
    `${variant.padEnd(15)} ${r.linesPerSecond.toLocaleString().padStart(11)} lines/s  ${r.nsPerLine.toFixed(0).padStart(5)} ns/line  ${r.linesPerCpuSecond.toLocaleString().padStart(11)} lines/CPU-s  peak RSS ${r.peakRssMB} MB  heap after GC ${r.heapAfterGcMB} MB  (runs: ${r.runs.map((x) => x.toLocaleString()).join(', ')}; peak RSS ${r.peakRssRunsMB.join(', ')} MB)\n`,
  );
}
const cost = (a, b) => Math.max(0, results[b].nsPerLine - results[a].nsPerLine).toFixed(0);
if (['read', 'regex', 'parse', 'pipeline'].every((v) => results[v])) {
  process.stdout.write(
    `per-stage ns/line: read ${results.read.nsPerLine.toFixed(0)}, parse ${cost('read', 'parse')} (regex baseline ${cost('read', 'regex')}), detection pipeline ${cost('parse', 'pipeline')}\n`,
  );
}
if (results.pipeline?.state) {
  process.stdout.write(
    `pipeline state: ${JSON.stringify(results.pipeline.state)} messages: ${JSON.stringify(results.pipeline.messages)}\n`,
  );
}
const summary = {
  date: new Date().toISOString(),
  machine: {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  },
  log: { path: logPath, lines, clients },
  cappedOldSpaceMB: capMB,
  results,
};
writeFileSync(join(out, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
