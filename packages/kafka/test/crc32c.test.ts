import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { crc32c, installKafkajsCrc32c } from '../src/crc32c.js';

const require = createRequire(import.meta.url);
const kafkajsModule = join(
  dirname(require.resolve('kafkajs/package.json')),
  'src/protocol/recordBatch/crc32C/crc32C.js',
);
/** kafkajs' own byte-at-a-time CRC-32C, the reference we replace. */
const reference = require(kafkajsModule) as (buffer: Buffer) => number;

describe('crc32c', () => {
  it('matches the check value and the RFC 3720 B.4 test vectors', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
  });

  it('equals kafkajs’ implementation at every length and alignment', () => {
    const data = randomBytes(4096 + 16);
    for (let offset = 0; offset < 9; offset++)
      for (const length of [0, 1, 7, 8, 9, 63, 64, 65, 100, 1000, 4096]) {
        const view = data.subarray(offset, offset + length);
        assert.equal(crc32c(view), reference(view), `offset ${offset}, length ${length}`);
      }
  });

  it('continues a checksum over pieces', () => {
    const data = randomBytes(1000);
    assert.equal(crc32c(data.subarray(300), crc32c(data.subarray(0, 300))), crc32c(data));
  });

  it('is what kafkajs checksums record batches with once installed', () => {
    const state = installKafkajsCrc32c();
    assert.ok(state === 'installed' || state === 'already', state);
    const index = require(join(dirname(kafkajsModule), 'index.js')) as (buffer: Buffer) => number;
    const probe = randomBytes(256);
    assert.equal(index(probe), reference(probe));
    assert.equal(index.toString().includes('crc32c'), true, 'kafkajs’ crc32C module is ours');
  });
});
