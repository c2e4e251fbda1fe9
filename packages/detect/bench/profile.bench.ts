/**
 * Hot-path benchmark of the profiler (per-request work of detection) and of the whole in-process
 * pipeline (profiler + content-watch + decider over the MemoryBus, plus the verdict backtest).
 *
 *   node --import tsx packages/detect/bench/profile.bench.ts [lines] [clients]
 *
 * Input: a realistic testkit mix (humans, app devices, the residential swarm, ...) parsed into
 * AccessLog objects BEFORE timing, so only detection is measured. Prints ns per request and
 * requests per second, best of 3 runs.
 */
import { createParser } from '@edgeguard/logformat';
import type { AccessLog } from '@edgeguard/schema';
import { generateScenario } from '@edgeguard/testkit';
import { defaultDeps } from '../../pipeline/src/default-deps.js';
import { createReplay } from '../../pipeline/src/replay.js';
import { Allowlist } from '../src/allowlist.js';
import { withDefaults } from '../src/config.js';
import { Profiler, type ProfilerSink } from '../src/profiler.js';

const lines = Number(process.argv[2] ?? 500_000);
const clients = Number(process.argv[3] ?? 50_000);

const scenario = generateScenario({
  seed: 7,
  format: 'combined',
  targetLines: lines,
  clients,
  jitterMs: 1500,
});
const parser = createParser(scenario.format);
const logs: AccessLog[] = [];
for (const line of scenario.lines()) {
  const parsed = parser.parse(line);
  if ('time' in parsed) logs.push(parsed as AccessLog);
}
const distinct = new Set(logs.map((l) => l.clientAddress)).size;
console.log(
  `input: ${logs.length} requests from ${distinct} clients over ${((logs.at(-1)!.time - logs[0]!.time) / 1000).toFixed(0)} s of log time`,
);

const config = withDefaults();
const deps = defaultDeps();
let emitted = 0;
const sink: ProfilerSink = {
  clientSignal: () => {
    emitted++;
  },
  fingerprintPartial: () => {
    emitted++;
  },
  contentPartial: () => {
    emitted++;
  },
  tick: () => {
    emitted++;
  },
};

function run(label: string, body: () => void): void {
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint();
    body();
    const ns = Number(process.hrtime.bigint() - start);
    best = Math.min(best, ns);
  }
  const perRequest = best / logs.length;
  console.log(
    `${label.padEnd(34)} ${perRequest.toFixed(0).padStart(5)} ns/request  ${(1e9 / perRequest / 1e6).toFixed(2)} M requests/s`,
  );
}

run('profiler (one partition)', () => {
  const profiler = new Profiler(config, deps, 0, 1, new Allowlist().has.bind(new Allowlist()));
  emitted = 0;
  for (const log of logs) profiler.observe(log, sink);
  profiler.finish(sink);
});
console.log(`  (profiler emitted ${emitted} messages: ${(emitted / logs.length).toFixed(3)} per request)`);

run('pipeline (createReplay, backtest)', () => {
  const replay = createReplay({ detect: config, allowlist: [] });
  for (const log of logs) replay.push(log);
  replay.finish();
});
const memory = process.memoryUsage();
console.log(`heap used ${(memory.heapUsed / 1e6).toFixed(0)} MB, rss ${(memory.rss / 1e6).toFixed(0)} MB`);
