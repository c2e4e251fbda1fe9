// Memory checkpoints of the pipeline variant (after `npm run bench` generated the log):
//   node --expose-gc bench/memrun.mjs [lines-limit]
// prints process.memoryUsage() every 200k lines, at the end and after a full GC; env SNAP=<file>
// writes a heap snapshot at the end, STATS=1 prints V8's heap spaces, CHUNK=<bytes> sets the read size.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { defaultConfig } from '@edgeguard/cli';
import { createParser, openLogSource } from '@edgeguard/logformat';
import { createReplay } from '@edgeguard/pipeline';
import { BadInput } from '@edgeguard/schema';

const limit = Number(process.argv[2] ?? 1e9);
const path =
  process.env.LOG ?? join(dirname(fileURLToPath(import.meta.url)), 'out', 'bench-1000000-100000.log');
const parser = createParser('combined', {});
const replay = createReplay({ detect: defaultConfig.detect, allowlist: [], partitions: 1 });
let lines = 0;
const mb = (x) => Math.round(x / 1048576);
const report = (tag) => {
  const m = process.memoryUsage();
  process.stderr.write(
    `${tag} lines=${lines} rss=${mb(m.rss)} heapUsed=${mb(m.heapUsed)} heapTotal=${mb(m.heapTotal)} ext=${mb(m.external)} ab=${mb(m.arrayBuffers)} maxRSS=${Math.round(process.resourceUsage().maxRSS / 1024)}\n`,
  );
};
const t0 = performance.now();
outer: for await (const batch of openLogSource(path, {
  chunkBytes: Number(process.env.CHUNK ?? 1048576),
}).batches()) {
  for (const line of batch) {
    lines++;
    const log = parser.parse(line);
    if (log instanceof BadInput) continue;
    replay.push(log);
    if (lines % 200000 === 0) report('cp');
    if (lines >= limit) break outer;
  }
}
replay.finish();
const s = (performance.now() - t0) / 1000;
report('end');
globalThis.gc?.();
report('after-gc');
process.stderr.write(`${Math.round(lines / s)} lines/s\n`);
const st = replay.stats();
process.stderr.write(`${JSON.stringify(st.state)}\n`);
if (process.env.SNAP) {
  v8.writeHeapSnapshot(process.env.SNAP);
}
if (process.env.STATS) {
  for (const sp of v8.getHeapSpaceStatistics())
    process.stderr.write(`${sp.space_name} ${mb(sp.space_used_size)}/${mb(sp.space_size)}\n`);
}
globalThis.keep = replay;
