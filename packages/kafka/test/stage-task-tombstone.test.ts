// A stage's tombstone on a compacted topic names the version it deletes (`eg-version`), so that
// the store writer and edges keep a newer record for the key (packages/schema survivesTombstone).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Stage } from '@edgeguard/pipeline';
import { HEADERS } from '../src/codec.js';
import { StageTask } from '../src/stage-task.js';

describe('tombstones a stage emits', () => {
  it('carry the version they delete as eg-version; other outputs carry none', () => {
    const stage: Stage = {
      name: 'decider',
      process: (message, out) => {
        out.emit('decisions', 'ip:192.0.2.1', { version: 7 }, message.timestamp);
        out.emit('decisions', 'ip:192.0.2.1', null, message.timestamp + 1, 7);
        out.emit('decisions', 'ip:192.0.2.2', null, message.timestamp + 2);
      },
    };
    const task = new StageTask(stage, 0, {
      stageName: 'decider',
      prefix: 'p.',
      partitions: { signals: 1, decisions: 1 },
      outputs: ['decisions'],
      sources: 1,
    });
    const outcome = task.process('signals', [
      { offset: '0', timestamp: '1000', key: Buffer.from('k'), value: Buffer.from('{}'), headers: {} },
    ]);
    const headers = outcome.outputs.map((o) => o.message.headers ?? {});
    assert.deepEqual(
      headers.map((h) => h[HEADERS.version]),
      [undefined, '7', undefined],
    );
    assert.deepEqual(
      headers.map((h) => h[HEADERS.eventTime]),
      ['1000', '1001', '1002'],
    );
  });
});
