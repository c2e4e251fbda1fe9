import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { BadInput } from '@edgeguard/schema';
import { defaultShipWorkers } from '../src/index.js';

describe('defaultShipWorkers', () => {
  it('takes EDGEGUARD_SHIP_WORKERS when set', () => {
    assert.equal(defaultShipWorkers({ EDGEGUARD_SHIP_WORKERS: '0' }), 0);
    assert.equal(defaultShipWorkers({ EDGEGUARD_SHIP_WORKERS: '3' }), 3);
  });

  it('is one per core, at most 8, none on one core, when unset', () => {
    const cores = availableParallelism();
    assert.equal(defaultShipWorkers({}), cores < 2 ? 0 : Math.min(cores, 8));
    assert.equal(defaultShipWorkers({ EDGEGUARD_SHIP_WORKERS: '' }), defaultShipWorkers({}));
  });

  it('refuses what is not a whole number from 0 to 64 with a clear BadInput', () => {
    for (const bad of ['two', '-1', '1.5', '65'])
      assert.throws(
        () => defaultShipWorkers({ EDGEGUARD_SHIP_WORKERS: bad }),
        (error: unknown) =>
          error instanceof BadInput && error.reason === 'bad-config' && error.message.includes(bad),
      );
  });
});
