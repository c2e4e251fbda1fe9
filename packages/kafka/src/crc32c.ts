import { replaceKafkajsModule } from './kafkajs-internals.js';

/**
 * CRC-32C (Castagnoli), the checksum of Kafka record batches (magic 2), slice-by-8.
 *
 * Polynomial 0x1EDC6F41, reflected 0x82F63B78 (RFC 3720 §12.1 and appendix B.4, the iSCSI CRC;
 * Kafka's `org.apache.kafka.common.utils.Crc32C` is the same function). Slice-by-8 is Intel's
 * table method (M. Kounavis, F. Berry, "A Systematic Approach to Building High Performance
 * Software-based CRC Generators", 2005): eight 256-entry tables, where table k maps a byte to its
 * CRC contribution k bytes further on, so eight bytes are folded per step instead of one.
 * Check value: crc32c("123456789") = 0xE3069283 (RFC 3720 B.4 test vectors are in the tests).
 */
const POLY = 0x82f63b78;
const TABLES = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  TABLES[n] = c;
}
for (let n = 0; n < 256; n++) {
  let c = TABLES[n]!;
  for (let t = 1; t < 8; t++) {
    c = TABLES[c & 0xff]! ^ (c >>> 8);
    TABLES[t * 256 + n] = c;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** CRC-32C of `bytes`, continuing from `crc` (0 for a new checksum); unsigned. */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  const t = TABLES;
  const end = bytes.length;
  let c = ~crc;
  let i = 0;
  if (LITTLE_ENDIAN && end >= 64) {
    // Bytes up to an 8-byte boundary one at a time, then two little-endian words per step read
    // through an Int32Array view (about twice as fast as assembling them from single bytes).
    const head = (8 - (bytes.byteOffset & 7)) & 7;
    while (i < head) c = t[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8);
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, ((end - i) >> 3) << 1);
    const count = words.length;
    for (let w = 0; w < count; w += 2) {
      const lo = c ^ words[w]!;
      const hi = words[w + 1]!;
      c =
        t[1792 + (lo & 0xff)]! ^
        t[1536 + ((lo >>> 8) & 0xff)]! ^
        t[1280 + ((lo >>> 16) & 0xff)]! ^
        t[1024 + (lo >>> 24)]! ^
        t[768 + (hi & 0xff)]! ^
        t[512 + ((hi >>> 8) & 0xff)]! ^
        t[256 + ((hi >>> 16) & 0xff)]! ^
        t[hi >>> 24]!;
    }
    i += count * 4;
  }
  while (i < end) c = t[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export type Crc32cInstall = 'installed' | 'already' | 'unavailable' | 'too-late';
let installed: Crc32cInstall | null = null;

/**
 * Makes kafkajs checksum the record batches it produces with `crc32c` above instead of its own
 * byte-at-a-time loop (~3× slower; 4–8 % of `edgeguard ship`'s CPU). kafkajs has no option for
 * this: its record-batch encoder (`src/protocol/recordBatch/v0/index.js`) takes the function
 * from `src/protocol/recordBatch/crc32C/index.js` when it is first required, which kafkajs does
 * lazily, on the first produce or fetch. So this puts our function in Node's CommonJS module
 * cache under that module's file name before then. kafkajs is frozen upstream (2.2.4), so the
 * internal path is stable; if it is missing, or the encoder is already loaded, kafkajs keeps its
 * own (same result, only slower). The broker verifies every batch's CRC (a wrong one is refused
 * as CORRUPT_MESSAGE), so a mistake here cannot go unnoticed in the tests that produce.
 */
export function installKafkajsCrc32c(): Crc32cInstall {
  if (installed) return installed === 'installed' ? 'already' : installed;
  installed = install();
  return installed;
}

function install(): Exclude<Crc32cInstall, 'already'> {
  return replaceKafkajsModule(
    'src/protocol/recordBatch/crc32C/index.js',
    ['src/protocol/recordBatch/v0/index.js'],
    // Same contract as kafkajs' module: a Buffer in, the unsigned CRC out.
    () => (buffer: Buffer) => crc32c(buffer),
  );
}
