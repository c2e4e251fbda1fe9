#!/usr/bin/env node
// A/B of replay variants (bench/variant.mjs) between a baseline checkout and this one, in one run:
//   node --expose-gc bench/replay-ab.mjs <baseline checkout> [variants, default read,regex,parse]
// Each round runs every variant once per side, the side that goes first alternating, so that a
// noisy machine (load changing over minutes) hurts both sides alike. BENCH_ROUNDS (default 5).
// The baseline is a built checkout (e.g. a detached worktree of main after `npx turbo run build`);
// both sides read this checkout's bench log (bench/out/bench-1000000-100000.log, `npm run bench`
// makes it). Prints per-round lines/s and lines per CPU-second, then the medians per side and, per
// variant, the paired difference of CPU seconds (new − base within each round: the machine's drift
// between rounds cancels) with the number of rounds the new side was cheaper. A single run on a
// shared 2-core machine swings by ±20 %: a claim wants 8 rounds or more. BENCH_LOCK=<file> runs
// each process under `flock <file>`, so that benchmarks started by others wait their turn instead of
// running beside it.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [baseArg, variantsArg] = process.argv.slice(2);
if (!baseArg) {
  process.stderr.write('usage: node bench/replay-ab.mjs <baseline checkout> [variants]\n');
  process.exit(2);
}
const sides = { base: join(resolve(baseArg), 'bench/variant.mjs'), new: join(here, 'variant.mjs') };
const variants = (variantsArg ?? 'read,regex,parse').split(',');
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const logPath = join(here, 'out/bench-1000000-100000.log');
const lock = process.env.BENCH_LOCK;

function run(script, variant) {
  const node = [process.execPath, '--expose-gc', script, variant, logPath];
  const [command, ...args] = lock ? ['flock', lock, ...node] : node;
  const child = spawnSync(command, args, {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (child.status !== 0) throw new Error(`${script} ${variant} failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop());
}

const results = {};
process.stdout.write(
  `load before: ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}\n`,
);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? ['base', 'new'] : ['new', 'base'];
  const cells = [];
  for (const variant of variants) {
    for (const side of order) {
      const r = run(sides[side], variant);
      const key = `${variant}@${side}`;
      results[key] = [...(results[key] ?? []), r];
      cells.push(
        `${key} ${(r.linesPerSecond / 1e6).toFixed(3)}M/s ${(r.linesPerCpuSecond / 1e6).toFixed(3)}M/CPU-s`,
      );
    }
  }
  process.stdout.write(`round ${round + 1} (load ${os.loadavg()[0].toFixed(2)}): ${cells.join(' | ')}\n`);
}
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
process.stdout.write('\nmedians (lines/s wall, lines per CPU-second, peak RSS MB):\n');
for (const [key, runs] of Object.entries(results)) {
  process.stdout.write(
    `${key.padEnd(14)} ${(median(runs.map((r) => r.linesPerSecond)) / 1e6).toFixed(3)} M/s  ${(median(runs.map((r) => r.linesPerCpuSecond)) / 1e6).toFixed(3)} M/CPU-s  ${median(runs.map((r) => r.peakRssMB))} MB  (CPU-s runs: ${runs.map((r) => (r.linesPerCpuSecond / 1e6).toFixed(3)).join(', ')})\n`,
  );
}
process.stdout.write('\npaired CPU seconds, new − base per round (median; rounds where new was cheaper):\n');
for (const variant of variants) {
  const base = results[`${variant}@base`];
  const diffs = results[`${variant}@new`].map((r, i) => r.cpuSeconds - base[i].cpuSeconds);
  process.stdout.write(
    `${variant.padEnd(14)} ${median(diffs) >= 0 ? '+' : ''}${median(diffs).toFixed(3)} s  (${diffs.filter((d) => d < 0).length} of ${diffs.length})\n`,
  );
}
process.stdout.write(
  `load after: ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}\n`,
);
