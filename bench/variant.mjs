// One benchmark variant in its own process (see replay.mjs). Prints one JSON line.

import { defaultConfig } from '@edgeguard/cli';
import { createParser, openLogSource } from '@edgeguard/logformat';
import { createReplay } from '@edgeguard/pipeline';
import { BadInput } from '@edgeguard/schema';

const [variant, path] = process.argv.slice(2);
// The classic combined-format regex: what a straightforward parser does.
const COMBINED = /^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+)(?: (\S+))?" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"/;

const parser = createParser('combined', {});
const replay =
  variant === 'pipeline'
    ? createReplay({ detect: defaultConfig.detect, allowlist: [], partitions: 1 })
    : null;
let lines = 0;
let parsed = 0;
let sink = 0;
const started = performance.now();
for await (const batch of openLogSource(path).batches()) {
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
      const log = parser.parse(line);
      if (log instanceof BadInput) continue;
      parsed++;
      if (replay) replay.push(log);
      else sink += log.status;
    }
  }
}
replay?.finish();
const seconds = (performance.now() - started) / 1000;
const stats = replay?.stats();
process.stdout.write(
  `${JSON.stringify({
    variant,
    lines,
    parsed,
    seconds,
    linesPerSecond: Math.round(lines / seconds),
    nsPerLine: (seconds * 1e9) / lines,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    state: stats?.state,
    late: stats?.late,
    evicted: stats?.clientsEvicted,
    messages: stats?.messages,
    sink,
  })}\n`,
);
