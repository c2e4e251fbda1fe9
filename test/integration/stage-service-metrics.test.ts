// A stage service's labelled counters whose label values are known are on /metrics from the
// start, at 0: `rate(edgeguard_dead_letters_total{reason="undecodable"}[5m])` and alerts on it saw
// no series at all before the first dead letter.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  edgeguard,
  type RunningService,
  startService,
  stopService,
  uniquePrefix,
} from './support/services.js';

describe('a fresh stage service', { timeout: 120_000 }, () => {
  const services: RunningService[] = [];
  after(async () => {
    for (const service of services) await stopService(service);
  });

  async function metricsOf(name: string, env: NodeJS.ProcessEnv): Promise<string> {
    const service = await startService(name, env);
    services.push(service);
    return (await fetch(`http://127.0.0.1:${service.healthPort}/metrics`)).text();
  }

  /** The series `metric{labels…, service}` is exported with the value 0. */
  function atZero(text: string, metric: string, labels: string, service: string): void {
    const series = `${metric}{${labels},service="${service}"} 0`;
    assert.ok(text.split('\n').includes(series), `${series} not in /metrics`);
  }

  it('lists its dead-letter reasons, inputs and other known series at 0 (profiler)', async () => {
    const env = { EDGEGUARD_TOPIC_PREFIX: uniquePrefix('zero-profiler') };
    assert.equal(edgeguard(['topics', 'ensure', '--partitions', '1'], env).code, 0);
    const text = await metricsOf('profiler', env);
    for (const reason of [
      'undecodable',
      'unknown-schema',
      'bad-header',
      'not-an-access-log',
      'bad-content-partial',
      'bad-signal',
      'processing-error',
    ])
      atZero(text, 'edgeguard_dead_letters_total', `stage="profiler",reason="${reason}"`, 'profiler');
    atZero(text, 'edgeguard_events_total', 'stage="profiler",topic="access-logs"', 'profiler');
    atZero(text, 'edgeguard_dead_letters_truncated_total', 'stage="profiler",how="cut"', 'profiler');
    atZero(text, 'edgeguard_dead_letters_truncated_total', 'stage="profiler",how="dropped"', 'profiler');
    atZero(text, 'edgeguard_duplicates_dropped_total', 'stage="profiler"', 'profiler');
    atZero(text, 'edgeguard_checkpoint_unreadable_total', 'stage="profiler"', 'profiler');
  });

  it('lists its allowlist and decision-store outcomes at 0 (decider)', async () => {
    const env = { EDGEGUARD_TOPIC_PREFIX: uniquePrefix('zero-decider') };
    assert.equal(edgeguard(['topics', 'ensure', '--partitions', '1'], env).code, 0);
    const text = await metricsOf('decider', env);
    atZero(text, 'edgeguard_dead_letters_total', 'stage="decider",reason="bad-signal"', 'decider');
    atZero(text, 'edgeguard_events_total', 'stage="decider",topic="signals"', 'decider');
    for (const op of ['add', 'remove', 'rejected'])
      atZero(text, 'edgeguard_allowlist_records_total', `op="${op}"`, 'decider');
    for (const result of ['applied', 'ignored', 'deleted', 'absent', 'kept-manual', 'kept-newer'])
      atZero(text, 'edgeguard_store_writes_total', `topic="decisions",result="${result}"`, 'decider');
    for (const result of ['allowed', 'disallowed', 'absent'])
      atZero(text, 'edgeguard_store_writes_total', `topic="allowlist",result="${result}"`, 'decider');
    for (const kind of ['decision', 'allow'])
      atZero(text, 'edgeguard_store_swept_total', `kind="${kind}"`, 'decider');
    for (const record of ['auto', 'tombstone'])
      atZero(text, 'edgeguard_store_republished_total', `record="${record}"`, 'decider');
  });
});
