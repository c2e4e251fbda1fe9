#!/usr/bin/env node
// In-process A/B of the compiled nginx log_format parser, a baseline build against this one:
//   node bench/nginx-format-ab.mjs <baseline checkout> [log, default the demo log]
// <baseline checkout> is any directory holding a built packages/logformat/dist (e.g. a copy of
// main's dist under bench/out/base/packages/logformat/dist; it resolves its own dependencies from
// this checkout's node_modules). Every line of the log is parsed, per round, by each side's parser
// for the demo's format (packages/testkit/fixtures/demo.config.json, with its trusted proxies) and
// for nginx's combined format (the rest of each line ignored), the side that goes first alternating
// round by round, so that a shared machine's changing load hurts both alike. Each side runs in a
// loop function of its own (compiled from its own source), so that neither sees the other's parser
// at its call site. BENCH_ROUNDS (default 20). Prints per format and side the min and median ns per
// line (wall and process CPU) and the median of the per-round ratios new/base; the hand-written
// combined parser (combined@fixed, this checkout's) is measured each round for reference.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const [baseArg, logArg] = process.argv.slice(2);
if (!baseArg) {
  process.stderr.write('usage: node bench/nginx-format-ab.mjs <baseline checkout> [log]\n');
  process.exit(2);
}
const rounds = Number(process.env.BENCH_ROUNDS ?? 20);
const distOf = (checkout) => join(resolve(checkout), 'packages/logformat/dist/index.js');
const sides = { base: await import(distOf(baseArg)), new: await import(distOf(root)) };
const logPath = logArg ?? join(root, 'packages/testkit/fixtures/demo.log.gz');
const demo = JSON.parse(readFileSync(join(root, 'packages/testkit/fixtures/demo.config.json'), 'utf8')).input;

const lines = [];
const plains = [];
for await (const batch of sides.new.openLogSource(logPath).batches()) {
  for (const line of batch) {
    lines.push(line);
    plains.push(batch.plain === true);
  }
}

const formats = {
  demo: [demo.format, { trustedProxies: demo.trustedProxies }],
  combined: [
    'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"',
    {},
  ],
};

/** A pass over every line, as a function of its own per side and format (no shared feedback). */
function makePass(tag) {
  return new Function(
    'parser',
    'lines',
    'plains',
    `// ${tag}
    let kept = 0;
    for (let i = 0; i < lines.length; i++) {
      const record = parser.parse(lines[i], undefined, plains[i]);
      if (record.status !== undefined) kept++;
    }
    return kept;`,
  );
}

const runs = [];
for (const [format, [spec, options]] of Object.entries(formats)) {
  for (const side of ['base', 'new']) {
    runs.push({
      format,
      side,
      parser: sides[side].createParser(spec, options),
      pass: makePass(`${format} ${side}`),
    });
  }
}

function measure(run) {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const kept = run.pass(run.parser, lines, plains);
  const wall = Number(process.hrtime.bigint() - started) / lines.length;
  const used = process.cpuUsage(cpu);
  return { wall, cpu: ((used.user + used.system) * 1000) / lines.length, kept };
}

// Warm-up: two passes each, not counted.
for (const run of runs) for (let k = 0; k < 2; k++) run.kept = measure(run).kept;
for (const format of Object.keys(formats)) {
  const [a, b] = runs.filter((run) => run.format === format);
  if (a.kept !== b.kept) throw new Error(`${format}: base kept ${a.kept} lines, new ${b.kept}`);
}

process.stdout.write(
  `${lines.length.toLocaleString()} lines of ${logPath}, ${rounds} rounds, load ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}\n`,
);
// The hand-written combined parser on the same lines, measured each round for reference.
const reference = {
  format: 'combined',
  side: 'fixed',
  parser: sides.new.createParser('combined'),
  pass: makePass('combined fixed'),
};
measure(reference);
measure(reference);
const results = new Map([...runs, reference].map((run) => [run, []]));
for (let round = 0; round < rounds; round++) {
  const cells = [];
  for (const format of Object.keys(formats)) {
    const pair = runs.filter((run) => run.format === format);
    for (const run of round % 2 === 0 ? pair : [...pair].reverse()) {
      const result = measure(run);
      results.get(run).push(result);
      cells.push(`${format}@${run.side} ${result.wall.toFixed(0)}`);
    }
  }
  results.get(reference).push(measure(reference));
  process.stdout.write(
    `round ${round + 1} (load ${os.loadavg()[0].toFixed(2)}) ns/line: ${cells.join(' | ')}\n`,
  );
}

const median = (values) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted.length % 2
    ? sorted[sorted.length >> 1]
    : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
};
process.stdout.write('\nns per line (wall min / median, CPU min / median):\n');
for (const run of [...runs, reference]) {
  const r = results.get(run);
  const wall = r.map((x) => x.wall);
  const cpu = r.map((x) => x.cpu);
  process.stdout.write(
    `${`${run.format}@${run.side}`.padEnd(14)} wall ${Math.min(...wall).toFixed(0)} / ${median(wall).toFixed(0)}   CPU ${Math.min(...cpu).toFixed(0)} / ${median(cpu).toFixed(0)}\n`,
  );
}
process.stdout.write('\nnew / base, median of the per-round ratios (wall, CPU):\n');
for (const format of Object.keys(formats)) {
  const [base, next] = runs.filter((run) => run.format === format).map((run) => results.get(run));
  const ratio = (key) => median(next.map((x, i) => x[key] / base[i][key]));
  const cheaper = next.filter((x, i) => x.wall < base[i].wall).length;
  process.stdout.write(
    `${format.padEnd(10)} ${ratio('wall').toFixed(3)} ${ratio('cpu').toFixed(3)}  (new faster in ${cheaper} of ${rounds} rounds)\n`,
  );
}
