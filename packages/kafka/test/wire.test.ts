import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeOutputs, decodeWire, encodeInputs, encodeOutputs, transferable } from '../src/wire.js';

describe('messages between the runner and its stage workers (wire)', () => {
  it('hands a fetched batch over byte for byte: offsets, times, keys, values, repeated headers', () => {
    const inputs = [
      {
        offset: '9007199254740993',
        timestamp: '1700000000000',
        key: Buffer.from('203.0.113.7'),
        value: Buffer.from([0, 1, 2, 255]),
        headers: { 'eg-src': Buffer.from('profiler/2'), 'eg-x': [Buffer.from('a'), Buffer.from('é')] },
      },
      { offset: '10', timestamp: '0', key: null, value: null, headers: {} },
    ];
    const decoded = decodeWire(encodeInputs(inputs));
    assert.equal(decoded.length, 2);
    assert.equal(decoded[0]!.offset, '9007199254740993', 'offsets stay exact strings');
    assert.equal(decoded[0]!.timestamp, '1700000000000');
    assert.deepEqual(decoded[0]!.key, inputs[0]!.key);
    assert.deepEqual(decoded[0]!.value, inputs[0]!.value);
    assert.deepEqual(decoded[0]!.headers['eg-src'], Buffer.from('profiler/2'));
    assert.deepEqual(decoded[0]!.headers['eg-x'], [Buffer.from('a'), Buffer.from('é')]);
    assert.equal(decoded[1]!.key, null);
    assert.equal(decoded[1]!.value, null, 'a tombstone stays a tombstone');
  });

  it('hands outputs back with their topic and partition, string keys and headers as UTF-8', () => {
    const outputs = [
      {
        topic: 'p.signals',
        message: { key: 'clé', value: Buffer.from('[1]'), partition: 0, headers: { 'eg-seq': '42' } },
      },
      { topic: 'p.dead-letter', message: { key: null, value: null, headers: { 'eg-error': 'x' } } },
    ];
    const back = decodeOutputs(encodeOutputs(outputs));
    assert.equal(back[0]!.topic, 'p.signals');
    assert.equal(back[0]!.message.partition, 0);
    assert.deepEqual(back[0]!.message.key, Buffer.from('clé'));
    assert.deepEqual(back[0]!.message.headers, { 'eg-seq': Buffer.from('42') });
    assert.equal('partition' in back[1]!.message, false, 'no partition: the producer chooses');
    assert.equal(back[1]!.message.value, null);
  });

  it('transfers a Buffer that owns its memory without copying it', () => {
    const own = Buffer.allocUnsafeSlow(16);
    assert.equal(transferable(own), own.buffer);
    const slice = Buffer.from('a string short enough for the pool');
    const copy = transferable(slice);
    assert.equal(copy.byteLength, slice.length);
    assert.deepEqual(Buffer.from(copy), slice);
  });
});
