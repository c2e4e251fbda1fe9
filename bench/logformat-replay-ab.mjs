#!/usr/bin/env node
// Whole replays of the demo log, this checkout's @edgeguard/logformat against a baseline's:
//   node bench/logformat-replay-ab.mjs <baseline checkout> [rounds, default 4]
// <baseline checkout> is a directory holding a built packages/logformat/dist (e.g. a copy of main's
// under bench/out/base); the baseline side is this checkout with only that package swapped in
// (bench/logformat-base.mjs), so the difference is the parser's alone. Each round replays once per
// side under /usr/bin/time, the side that goes first alternating. Prints CPU seconds (user + sys)
// and wall seconds per run, the medians, the paired difference per round, and checks that both
// sides wrote the same decisions, verdicts and policies (md5).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [baseArg, roundsArg] = process.argv.slice(2);
if (!baseArg) {
  process.stderr.write('usage: node bench/logformat-replay-ab.mjs <baseline checkout> [rounds]\n');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 4);
const fixtures = join(root, 'packages/testkit/fixtures');
const out = join(os.tmpdir(), `logformat-replay-ab-${process.pid}`);

function replay(side) {
  const files = ['d', 'v', 'p'].map((kind) => `${out}-${side}-${kind}.ndjson`);
  const args = [
    '-f',
    '%U %S %e',
    process.execPath,
    ...(side === 'base' ? ['--import', join(root, 'bench/logformat-base.mjs')] : []),
    join(root, 'packages/cli/bin/edgeguard.js'),
    'replay',
    join(fixtures, 'demo.log.gz'),
    '--config',
    join(fixtures, 'demo.config.json'),
    '--decisions',
    files[0],
    '--verdicts',
    files[1],
    '--policies',
    files[2],
    '--no-progress',
    '--quiet',
  ];
  const child = spawnSync('/usr/bin/time', args, {
    encoding: 'utf8',
    env: { ...process.env, LOGFORMAT_BASE: resolve(baseArg) },
  });
  if (child.status !== 0) throw new Error(`${side} replay failed: ${child.stderr}`);
  const [user, sys, wall] = child.stderr.trim().split('\n').pop().split(' ').map(Number);
  const md5 = files.map((file) => createHash('md5').update(readFileSync(file)).digest('hex').slice(0, 8));
  return { cpu: user + sys, wall, md5: md5.join(' ') };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const results = { base: [], new: [] };
for (let round = 0; round < rounds; round++) {
  for (const side of round % 2 === 0 ? ['base', 'new'] : ['new', 'base']) results[side].push(replay(side));
  const [b, n] = [results.base[round], results.new[round]];
  process.stdout.write(
    `round ${round + 1} (load ${os.loadavg()[0].toFixed(2)}): base ${b.cpu.toFixed(2)} CPU-s ${b.wall.toFixed(2)} s | new ${n.cpu.toFixed(2)} CPU-s ${n.wall.toFixed(2)} s\n`,
  );
}
for (const side of ['base', 'new']) {
  const runs = results[side];
  process.stdout.write(
    `${side.padEnd(4)} median ${median(runs.map((r) => r.cpu)).toFixed(2)} CPU-s, ${median(runs.map((r) => r.wall)).toFixed(2)} s wall; md5 ${[...new Set(runs.map((r) => r.md5))].join(' / ')}\n`,
  );
}
const diffs = results.new.map((r, i) => r.cpu - results.base[i].cpu);
process.stdout.write(
  `paired CPU-s new − base: median ${median(diffs).toFixed(2)} (new cheaper in ${diffs.filter((d) => d < 0).length} of ${rounds})\n`,
);
const md5s = new Set([...results.base, ...results.new].map((r) => r.md5));
if (md5s.size !== 1) {
  process.stdout.write(`outputs differ: ${[...md5s].join(' / ')}\n`);
  process.exit(1);
}
