/**
 * The public face of the testkit: `generateScenario` streams a labelled log for the given options;
 * `writeScenario` writes it to a file (gzip when the name ends in .gz) with its labels as JSON lines.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { constants, createGzip, gzipSync } from 'node:zlib';
import { type Incident, type Plan, plan, resolveOptions, type ScenarioOptions } from './cast.js';
import type { RequestEvent } from './engine.js';
import { EDGE_LOG_FORMAT, EDGE_TRUSTED_PROXIES, LineFormatter } from './formats.js';
import type { ClientLabel, Role } from './labels.js';

export interface Scenario {
  /** The log, one line per string (no newline), in log order. */
  lines(): Iterable<string>;
  /** Ground truth for every client address that appears in `lines()`. */
  labels(): ClientLabel[];
  /** The `--format` value that parses these lines: `combined` or `nginx:<EDGE_LOG_FORMAT>`. */
  format: string;
  /** Proxies whose X-Forwarded-For is trusted (the load balancers in `edge` format). */
  trustedProxies: string[];
  /** The incident as planned: the swarm's hot pages and its window (epoch ms). */
  incident: Incident;
  /** Client counts per role as planned (clients that fall outside a `targetLines` cut have no label). */
  populations: Record<Role, number>;
}

const BATCH = 4096;

/** Runs one pass, handing each batch of events (in log order) to `onBatch`. */
function run(planned: Plan, onBatch: (events: RequestEvent[]) => void): void {
  const batch: RequestEvent[] = [];
  let more = true;
  while (more) {
    more = planned.engine.fill(batch, BATCH);
    if (batch.length > 0) onBatch(batch);
    batch.length = 0;
  }
}

export function generateScenario(options: ScenarioOptions = {}): Scenario {
  const resolved = resolveOptions(options);
  let cachedLabels: ClientLabel[] | null = null;
  const firstPlan = plan(resolved);
  let unusedPlan: Plan | null = firstPlan;
  const takePlan = (): Plan => {
    const planned = unusedPlan ?? plan(resolved);
    unusedPlan = null;
    return planned;
  };
  return {
    *lines(): Iterable<string> {
      const planned = takePlan();
      const formatter = new LineFormatter(resolved.format);
      const batch: RequestEvent[] = [];
      let more = true;
      while (more) {
        more = planned.engine.fill(batch, BATCH);
        for (const event of batch) yield formatter.line(event);
        batch.length = 0;
      }
      cachedLabels = planned.registry.labels();
    },
    labels(): ClientLabel[] {
      if (cachedLabels === null) {
        const planned = takePlan();
        run(planned, () => {});
        cachedLabels = planned.registry.labels();
      }
      return cachedLabels.map((label) => ({ ...label }));
    },
    format: resolved.format === 'edge' ? `nginx:${EDGE_LOG_FORMAT}` : 'combined',
    trustedProxies: resolved.format === 'edge' ? [...EDGE_TRUSTED_PROXIES] : [],
    incident: firstPlan.incident,
    populations: { ...resolved.counts },
  };
}

/** Bytes per write: big enough that stream overhead vanishes, small enough to stay in cache. */
const CHUNK_BYTES = 1 << 20;

/**
 * Writes the scenario's log to `logPath` (gzip-compressed when it ends in `.gz`) and, when
 * `labelsPath` is given, its labels there as JSON lines (one ClientLabel per line; gzip on `.gz`).
 * Streams: memory stays bounded however many lines are written.
 */
export async function writeScenario(
  options: ScenarioOptions,
  logPath: string,
  labelsPath?: string,
): Promise<{ lines: number }> {
  const resolved = resolveOptions(options);
  const planned = plan(resolved);
  const formatter = new LineFormatter(resolved.format);
  const file = createWriteStream(logPath);
  const gzip = logPath.endsWith('.gz') ? createGzip({ level: constants.Z_BEST_COMPRESSION }) : null;
  const sink: Writable = gzip ?? file;
  const done = gzip ? pipeline(gzip, file) : finished(file);
  // Lines are ASCII (we generate every byte), so latin1 encoding is exact and the fastest.
  let chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let used = 0;
  const flush = async () => {
    if (used === 0) return;
    const full = chunk.subarray(0, used);
    chunk = Buffer.allocUnsafe(CHUNK_BYTES); // the stream owns `full` until it is written
    used = 0;
    if (!sink.write(full)) await Promise.race([once(sink, 'drain'), done]);
  };
  const batch: RequestEvent[] = [];
  let more = true;
  while (more) {
    more = planned.engine.fill(batch, BATCH);
    for (const event of batch) {
      const line = formatter.line(event);
      if (used + line.length + 1 > CHUNK_BYTES) await flush();
      used += chunk.write(line, used, 'latin1');
      chunk[used++] = 10;
    }
    batch.length = 0;
  }
  await flush();
  sink.end();
  await done;
  if (labelsPath !== undefined) {
    const text = planned.registry
      .labels()
      .map((label) => `${JSON.stringify(label)}\n`)
      .join('');
    await writeFile(labelsPath, labelsPath.endsWith('.gz') ? gzipSync(text) : text);
  }
  return { lines: planned.engine.lines };
}
