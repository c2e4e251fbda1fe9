// The generated benchmark log: a combined-format log of `lines` lines from about `clients` clients
// (testkit, seed 7), written once and cached in bench/out/.
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const out = join(dirname(fileURLToPath(import.meta.url)), 'out');

export async function ensureBenchLog(lines, clients) {
  mkdirSync(out, { recursive: true });
  const logPath = join(out, `bench-${lines}-${clients}.log`);
  if (existsSync(logPath)) return logPath;
  const { writeScenario } = await import('@edgeguard/testkit');
  const t0 = performance.now();
  process.stderr.write(
    `bench: generating ${lines.toLocaleString()} lines from ~${clients.toLocaleString()} clients → ${logPath}\n`,
  );
  // Written aside and renamed, so an interrupted run never leaves a truncated log in the cache.
  const written = await writeScenario(
    { seed: 7, format: 'combined', targetLines: lines, clients, jitterMs: 1500 },
    `${logPath}.partial`,
  );
  renameSync(`${logPath}.partial`, logPath);
  process.stderr.write(
    `bench: generated ${written.lines.toLocaleString()} lines in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  return logPath;
}
