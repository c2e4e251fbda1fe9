import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { survivesTombstone, tombstoneVersionOf } from '../src/index.js';

describe('survivesTombstone', () => {
  const now = 1_800_000_000_000;
  const auto = {
    origin: 'auto' as const,
    decidedAt: now - 10_000,
    expiresAt: now + 600_000,
    version: (now - 10_000) * 100,
  };

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

  it('with a version, deletes what it names and below, whatever its time or origin', () => {
    assert.equal(survivesTombstone(auto, auto.decidedAt - 60_000, now, auto.version), null);
    assert.equal(survivesTombstone(auto, auto.decidedAt, now, auto.version + 1), null);
    const manual = { ...auto, origin: 'manual' as const, version: now * 1000 };
    assert.equal(
      survivesTombstone(manual, now, now, manual.version),
      null,
      "a copy of the operator's delete",
    );
  });

  it("with a version, keeps a higher one: a new owner's decision after an old owner's late tombstone", () => {
    // Made after the decision (its time says "delete"), but for an older version: kept.
    assert.equal(survivesTombstone(auto, auto.decidedAt + 60_000, now, auto.version - 1), 'newer');
    const manual = { ...auto, origin: 'manual' as const, version: now * 1000 };
    assert.equal(survivesTombstone(manual, now, now, auto.version), 'manual');
    assert.equal(survivesTombstone({ ...auto, expiresAt: now }, 0, now, 1), null, 'expired');
  });

  it("a store writer's deletion after a refused copy removes the version it names only", () => {
    const manual = { ...auto, origin: 'manual' as const, version: now * 1000 };
    assert.equal(survivesTombstone(manual, manual.decidedAt, now, manual.version, true), null);
    // The decider's decision after the operator's delete (ten times below), or after a lift (late
    // evidence numbers it a little below the lifted one): decided after the deletion, kept.
    assert.equal(survivesTombstone(auto, manual.decidedAt, now, manual.version, true), 'newer');
    assert.equal(survivesTombstone(auto, auto.decidedAt, now, auto.version + 5, true), 'newer');
    assert.equal(survivesTombstone(manual, now, now, auto.version, true), 'manual', 'a higher one too');
    assert.equal(survivesTombstone({ ...auto, expiresAt: now }, 0, now, 1, true), null, 'expired');
  });

  it('reads a version header only when it is a positive whole number', () => {
    assert.equal(tombstoneVersionOf('180000000000000'), 180_000_000_000_000);
    for (const bad of [undefined, '', '0', '-5', '1.5', '1e9', ' 7', 'x', '99999999999999999'])
      assert.equal(tombstoneVersionOf(bad), undefined, String(bad));
  });
});
