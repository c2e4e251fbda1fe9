import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { openLogSource, splitLines } from '@edgeguard/logformat';
import { alignToLines, readLineChunks, streamReader } from '../src/chunks.js';

async function* pieces(bytes: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

async function* only(chunk: Buffer): AsyncGenerator<Buffer> {
  yield chunk;
}

async function collect(batches: AsyncIterable<string[]>): Promise<string[]> {
  const lines: string[] = [];
  for await (const batch of batches) lines.push(...batch);
  return lines;
}

/** Lines as the workers see them: each aligned chunk split on its own. */
async function viaChunks(
  bytes: Buffer,
  sizes: number[],
  maxLineBytes: number,
  chunkBytes = 16,
): Promise<string[]> {
  const lines: string[] = [];
  for await (const chunk of alignToLines(streamReader(pieces(bytes, sizes)), chunkBytes, maxLineBytes)) {
    assert.equal(chunk.byteOffset, 0, 'a chunk starts its ArrayBuffer (transferable)');
    assert.ok(chunk.length <= chunkBytes + maxLineBytes);
    lines.push(...(await collect(splitLines(only(chunk), maxLineBytes))));
  }
  return lines;
}

describe('alignToLines', () => {
  const maxLineBytes = 40;
  const texts = [
    'a\nbb\r\nccc\n\n\ndddd',
    `short\n${'x'.repeat(100)}\nafter\n${'y'.repeat(41)}\r\n${'z'.repeat(39)}\n`,
    `été ünïcödé\n日本語のログ\n${'é'.repeat(30)}\nend`,
    'no newline at all, and longer than the limit of forty bytes for sure',
    '\n\n\n',
    '',
  ];
  for (const [k, text] of texts.entries())
    it(`cuts text ${k} into the lines splitLines reads from the whole stream`, async () => {
      const bytes = Buffer.from(text);
      const expected = await collect(splitLines(pieces(bytes, [bytes.length || 1]), maxLineBytes));
      for (const sizes of [[1], [2, 3], [7], [13, 1, 29], [64], [bytes.length || 1]])
        for (const chunkBytes of [1, 5, 16, 100])
          assert.deepEqual(
            await viaChunks(bytes, sizes, maxLineBytes, chunkBytes),
            expected,
            `reads of ${sizes}, chunks of ${chunkBytes}`,
          );
    });

  it('agrees with splitLines on random logs read in random pieces', async () => {
    let seed = 7;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const alphabet = ['a', 'b', ' ', '\n', '\r', 'é', '€', '\n'];
    for (let round = 0; round < 200; round++) {
      const length = Math.floor(random() * 400);
      const text = Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      const bytes = Buffer.from(text);
      const sizes = Array.from({ length: 5 }, () => 1 + Math.floor(random() * 60));
      const chunkBytes = 1 + Math.floor(random() * 80);
      const expected = await collect(splitLines(pieces(bytes, sizes), maxLineBytes));
      assert.deepEqual(await viaChunks(bytes, sizes, maxLineBytes, chunkBytes), expected, `round ${round}`);
    }
  });
});

describe('readLineChunks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shipper-chunks-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('ends a truncated gzip after its last whole line and reports the damage as openLogSource does', async () => {
    const log = Array.from(
      { length: 4000 },
      (_, i) => `198.51.100.${i % 250} line ${i} ${(i * 7919) % 100_003}`,
    );
    const gzip = gzipSync(`${log.join('\n')}\n`);
    const path = join(dir, 'cut.log.gz');
    writeFileSync(path, gzip.subarray(0, Math.floor(gzip.length * 0.6)));
    const source = openLogSource(path);
    const expected = await collect(source.batches());
    assert.ok(expected.length > 1000 && expected.length < 4000, `${expected.length} lines before the cut`);
    for (const chunkBytes of [100, 4096, 1024 * 1024]) {
      const chunks = readLineChunks(path, { maxLineBytes: 1024, chunkBytes });
      const lines: string[] = [];
      for await (const chunk of chunks) lines.push(...(await collect(splitLines(only(chunk), 1024))));
      assert.deepEqual(lines, expected, `chunks of ${chunkBytes}: the broken-off line left out`);
      assert.deepEqual(chunks.damage, source.damage, `chunks of ${chunkBytes}`);
    }
    assert.ok(source.damage?.brokenLine, 'the cut fell inside a line');
  });

  it('reports a fake gzip (magic bytes, then garbage) as damage with no chunks', async () => {
    const path = join(dir, 'fake.gz');
    writeFileSync(path, Buffer.from('\x1f\x8bnot gzip at all\n', 'latin1'));
    const chunks = readLineChunks(path, { maxLineBytes: 1024 });
    for await (const chunk of chunks) assert.fail(`a chunk: ${chunk.length} bytes`);
    assert.match(chunks.damage?.message ?? '', /unknown compression method/);
  });

  it('fails at once, as openLogSource does, for a missing path or a directory', () => {
    const missing = join(dir, 'missing.log');
    for (const path of [missing, dir]) {
      const expected = (() => {
        try {
          openLogSource(path);
        } catch (error) {
          return (error as Error).message;
        }
        return assert.fail(`openLogSource(${path}) did not throw`);
      })();
      assert.throws(() => readLineChunks(path, { maxLineBytes: 1024 }), { message: expected });
    }
    assert.throws(
      () => readLineChunks(missing, { maxLineBytes: 1024 }),
      /missing\.log: cannot read it: .*\(ENOENT\)/,
    );
  });

  it('reads an intact gzip to its end with no damage', async () => {
    const path = join(dir, 'whole.log.gz');
    writeFileSync(path, gzipSync('a\nbb\nccc'));
    const chunks = readLineChunks(path, { maxLineBytes: 1024 });
    const lines: string[] = [];
    for await (const chunk of chunks) lines.push(...(await collect(splitLines(only(chunk), 1024))));
    assert.deepEqual(lines, ['a', 'bb', 'ccc']);
    assert.equal(chunks.damage, null);
  });
});
