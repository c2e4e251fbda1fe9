import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadInput } from '@edgeguard/schema';
import { stageWorkers } from '../src/stage-service.js';

describe('EDGEGUARD_WORKERS (stage worker threads)', () => {
  it('defaults to the main thread alone', () => {
    assert.equal(stageWorkers({}), 0);
    assert.equal(stageWorkers({ EDGEGUARD_WORKERS: '' }), 0);
  });

  it('takes a whole number from 0 to 64', () => {
    assert.equal(stageWorkers({ EDGEGUARD_WORKERS: '2' }), 2);
    assert.equal(stageWorkers({ EDGEGUARD_WORKERS: '64' }), 64);
  });

  it('rejects anything else, naming the variable', () => {
    for (const bad of ['-1', '1.5', 'two', '65', ' 2'])
      assert.throws(
        () => stageWorkers({ EDGEGUARD_WORKERS: bad }),
        (error: unknown) => error instanceof BadInput && /EDGEGUARD_WORKERS/.test(error.message),
        bad,
      );
  });
});
