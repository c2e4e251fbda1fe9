// The profiler with its partitions in worker threads publishes exactly what it publishes on one
// thread: the same client signals and content partials (keys, event times, values), end markers
// included, from the same shipped log on 3 partitions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scenarioFiles } from './support/scenario.js';
import { edgeguard, eventually, startService, stopService, tail, uniquePrefix } from './support/services.js';

const { log, config } = scenarioFiles({ seed: 11, durationSec: 120, scale: 0.25 });

/** Ships the log, runs one profiler until it has drained it, returns what it published. */
async function profilerOutputs(name: string, workers: string): Promise<string[]> {
  const env = { EDGEGUARD_TOPIC_PREFIX: uniquePrefix(name), EDGEGUARD_CONFIG: config };
  assert.equal(edgeguard(['topics', 'ensure', '--partitions', '3'], env).code, 0);
  const shipped = edgeguard(['ship', log], env);
  assert.equal(shipped.code, 0, shipped.stderr);
  const profiler = await startService('profiler', { ...env, EDGEGUARD_WORKERS: workers });
  try {
    await eventually(`${name}: the profiler to drain`, () => {
      const rows = edgeguard(['lag', '--json'], env)
        .stdout.split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { group: string; lag: number });
      const own = rows.filter((r) => r.group.endsWith('profiler'));
      return own.length === 3 && own.every((r) => r.lag === 0) ? true : undefined;
    });
    const metrics = await (await fetch(`http://127.0.0.1:${profiler.healthPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`edgeguard_stage_workers\\{stage="profiler"[^}]*\\} ${workers}\\b`));
  } finally {
    await stopService(profiler);
  }
  // Order across partitions and message boundaries may differ; each record must not.
  return ['signals', 'content-partials']
    .flatMap((topic) =>
      tail(topic, env, 3).map((r) =>
        JSON.stringify([topic, r.partition, r.key, r.timestamp, r.control ?? null, r.value]),
      ),
    )
    .sort();
}

describe('the profiler in worker threads', { timeout: 300_000 }, () => {
  it('publishes the same signals and content partials with 2 workers as on one thread', async () => {
    const inline = await profilerOutputs('inline', '0');
    const workers = await profilerOutputs('workers', '2');
    assert.ok(inline.length > 1000, `the scenario must produce outputs (got ${inline.length})`);
    assert.equal(workers.length, inline.length);
    assert.deepEqual(workers, inline);
  });
});
