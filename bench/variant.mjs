// One benchmark variant in its own process (see replay.mjs). Prints one JSON line.

import { buildReport, defaultConfig, replayLog } from '@edgeguard/cli';
import { createParser, openLogSource } from '@edgeguard/logformat';
import { createReplay } from '@edgeguard/pipeline';
import { BadInput } from '@edgeguard/schema';

const [variant, path] = process.argv.slice(2);
// The classic combined-format regex: what a straightforward parser does.
const COMBINED = /^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+)(?: (\S+))?" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"/;

const parser = createParser('combined', {});
const replay =
  variant === 'pipeline' || variant === 'pipeline-capped'
    ? createReplay({ detect: defaultConfig.detect, allowlist: [], partitions: 1 })
    : null;
let lines = 0;
let parsed = 0;
let sink = 0;
const started = performance.now();
const cpuStarted = process.cpuUsage();
// `replay`: what `edgeguard replay <log> --quiet` does (the CLI's reading, report and bounds).
const report =
  variant === 'replay'
    ? buildReport(await replayLog({ input: path, config: structuredClone(defaultConfig), progress: false }))
    : null;
if (report) {
  lines = report.input.lines;
  parsed = report.input.parsed;
}
for await (const batch of report ? [] : openLogSource(path).batches()) {
  for (const line of batch) {
    lines++;
    if (variant === 'read') {
      sink += line.length;
    } else if (variant === 'regex') {
      const m = COMBINED.exec(line);
      if (m) {
        parsed++;
        sink += m[7].length;
      }
    } else {
      const log = parser.parse(line, undefined, batch.plain);
      if (log instanceof BadInput) continue;
      parsed++;
      if (replay) replay.push(log);
      else sink += log.status;
    }
  }
}
replay?.finish();
globalThis.keepReplay = replay;
const seconds = (performance.now() - started) / 1000;
// CPU time of this process (user + system): steadier than wall time on a shared machine.
const cpu = process.cpuUsage(cpuStarted);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
// Live heap after a full GC with the pipeline's state still held: what the state costs.
globalThis.gc?.();
const heapAfterGcMB = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
const arrayBuffersMB = Math.round(process.memoryUsage().arrayBuffers / 2 ** 20);
const stats = replay?.stats();
process.stdout.write(
  `${JSON.stringify({
    variant,
    lines,
    parsed,
    seconds,
    linesPerSecond: Math.round(lines / seconds),
    nsPerLine: (seconds * 1e9) / lines,
    cpuSeconds,
    linesPerCpuSecond: Math.round(lines / cpuSeconds),
    heapAfterGcMB,
    arrayBuffersMB,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    state: stats?.state,
    late: stats?.late,
    evicted: stats?.clientsEvicted,
    messages: stats?.messages,
    sink,
  })}\n`,
);
