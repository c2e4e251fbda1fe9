// What survives young-generation collections (live at the end, or promoted and collected by a full
// GC), by allocating function, from V8's sampling heap profiler:
//   node --expose-gc bench/memprof.mjs [lines-limit, default 400000]
// The profile is written to bench/out/survivors.heapprofile (open it in Chrome DevTools).

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');
await session.post('HeapProfiler.startSampling', {
  samplingInterval: 16384,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: false,
});
process.argv[2] = process.argv[2] ?? '400000';
await import('./memrun.mjs');
const { profile } = await session.post('HeapProfiler.stopSampling');
const self = new Map();
const walk = (node) => {
  const f = node.callFrame;
  const here = `${f.functionName || '(anon)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
  const size = node.selfSize;
  if (size) self.set(here, (self.get(here) ?? 0) + size);
  for (const c of node.children) walk(c);
};
walk(profile.head);
const total = [...self.values()].reduce((a, b) => a + b, 0);
console.error('total sampled MB', (total / 1048576).toFixed(1));
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30))
  console.error((v / 1048576).toFixed(1).padStart(7), k);
writeFileSync(new URL('./out/survivors.heapprofile', import.meta.url), JSON.stringify(profile));
