import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { survivesTombstone } from '../src/index.js';

describe('survivesTombstone', () => {
  const now = 1_800_000_000_000;
  const auto = { origin: 'auto' as const, decidedAt: now - 10_000, expiresAt: now + 600_000 };

  it("deletes the decider's decision with its own expiry or lift (made at or after it)", () => {
    assert.equal(survivesTombstone(auto, auto.decidedAt, now), null, 'same moment');
    assert.equal(survivesTombstone(auto, auto.decidedAt + 1, now), null);
    assert.equal(survivesTombstone(auto, auto.expiresAt, now), null, 'at its expiry');
  });

  it('keeps a decision decided after the tombstone was made (a rewound partition re-sending its past)', () => {
    assert.equal(survivesTombstone(auto, auto.decidedAt - 1, now), 'newer');
    assert.equal(survivesTombstone(auto, auto.decidedAt - 60_000, now), 'newer');
  });

  it("keeps an operator's unexpired manual decision whatever the tombstone's time", () => {
    const manual = { ...auto, origin: 'manual' as const };
    assert.equal(survivesTombstone(manual, auto.decidedAt + 3_600_000, now), 'manual');
    assert.equal(survivesTombstone(manual, auto.decidedAt - 1, now), 'manual');
  });

  it('keeps nothing that is absent or expired, and a tombstone without a readable time deletes', () => {
    assert.equal(survivesTombstone(null, 0, now), null);
    assert.equal(survivesTombstone(undefined, 0, now), null);
    assert.equal(survivesTombstone({ ...auto, origin: 'manual', expiresAt: now }, 0, now), null);
    assert.equal(survivesTombstone({ ...auto, expiresAt: now - 1 }, 0, now), null);
    assert.equal(survivesTombstone(auto, Number.NaN, now), null);
  });
});
