// Memory under a flood of distinct very long paths (content keys): the whole in-process pipeline
// (profiler, content-watch, decider, verdict backtest) over generated records, no parsing.
//
//   node --expose-gc bench/long-paths.mjs
//
// LONG_LINES records (default 400k) from LONG_CLIENTS clients (default 100k), each asking for one
// of LONG_PATHS distinct paths (default 100k) of LONG_LENGTH characters (default 4000, just under
// input.maxFieldLength), 2,000 a second of event time. Each path is a flat string, as a parsed
// line's field is. Prints RSS, heap and typed-array bytes every 100k records, at the end and after
// a full GC, and the peak RSS. MAX_KEY_LENGTH=n sets detect.bounds.maxContentKeyLength.
import { defaultConfig } from '@edgeguard/cli';
import { createReplay } from '@edgeguard/pipeline';
import { emptyAccessLog } from '@edgeguard/schema';

const lines = Number(process.env.LONG_LINES ?? 400_000);
const clients = Number(process.env.LONG_CLIENTS ?? 100_000);
const paths = Number(process.env.LONG_PATHS ?? 100_000);
const length = Number(process.env.LONG_LENGTH ?? 4000);
const detect = structuredClone(defaultConfig.detect);
if (process.env.MAX_KEY_LENGTH && 'maxContentKeyLength' in detect.bounds)
  detect.bounds.maxContentKeyLength = Number(process.env.MAX_KEY_LENGTH);
const replay = createReplay({ detect, allowlist: [], partitions: 1 });

const mb = (x) => Math.round(x / 1048576);
const report = (tag, done) => {
  const m = process.memoryUsage();
  process.stderr.write(
    `${tag} records=${done} rss=${mb(m.rss)} heapUsed=${mb(m.heapUsed)} arrayBuffers=${mb(m.arrayBuffers)} peakRss=${Math.round(process.resourceUsage().maxRSS / 1024)}\n`,
  );
};

const filler = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(Math.ceil(length / 36));
const T0 = Date.UTC(2026, 10, 1);
report('start', 0);
for (let i = 0; i < lines; i++) {
  const c = (i * 7919) % clients;
  const p = (i * 104_729) % paths;
  const head = `/p/${p.toString(36)}/`;
  // Flat, like a parsed field (a rope of head + filler would be cheaper than a real log's path).
  const path = JSON.parse(JSON.stringify(head + filler.slice(0, length - head.length)));
  replay.push({
    ...emptyAccessLog(),
    time: T0 + Math.floor(i / 2),
    clientAddress: `10.${(c >> 16) & 255}.${(c >> 8) & 255}.${c & 255}`,
    method: 'GET',
    host: 'shop.example',
    path,
    protocol: 'HTTP/1.1',
    status: 200,
    bytes: 5000,
    cacheStatus: 'MISS',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
    acceptLanguage: 'en-US',
  });
  if ((i + 1) % 100_000 === 0) report('cp', i + 1);
}
replay.finish();
report('end', lines);
globalThis.gc?.();
report('after-gc', lines);
const stats = replay.stats();
process.stderr.write(
  `${JSON.stringify({ state: stats.state, untracked: stats.untrackedContentRequests })}\n`,
);
globalThis.keep = replay;
