import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPlainSignal, type Signal } from '../src/index.js';

describe('isPlainSignal', () => {
  it('takes {name, value} and {name, value, threshold}, a threshold holding undefined as absent', () => {
    assert.equal(isPlainSignal({ name: 'requestsPerMinute', value: 12.5 }), true);
    assert.equal(isPlainSignal({ name: 'repeatRatio', value: 0.9, threshold: 0.8 }), true);
    assert.equal(isPlainSignal({ name: 'botShaped', value: 1, threshold: undefined }), true);
    assert.equal(isPlainSignal(Object.freeze({ name: 'botShaped', value: 1 })), true);
    // What JSON would write of it, and what it held, agree (the threshold key is dropped).
    assert.equal(JSON.stringify({ name: 'a', value: 1, threshold: undefined }), '{"name":"a","value":1}');
  });

  it('refuses what its fields do not fully describe: NaN, other keys, another key order, wrong types', () => {
    assert.equal(isPlainSignal({ name: 'a', value: Number.NaN }), false);
    assert.equal(isPlainSignal({ name: 'a', value: 1, threshold: Number.NaN }), false);
    assert.equal(isPlainSignal({ name: 'a', value: 1, note: 'x' } as Signal), false);
    assert.equal(isPlainSignal({ value: 1, name: 'a' }), false);
    assert.equal(isPlainSignal({ name: 'a', threshold: 2, value: 1 }), false);
    assert.equal(isPlainSignal({ name: 7, value: 1 } as unknown as Signal), false);
    assert.equal(isPlainSignal({ name: 'a', value: '1' } as unknown as Signal), false);
    assert.equal(isPlainSignal({ name: 'a', value: 1, threshold: '2' } as unknown as Signal), false);
  });
});
