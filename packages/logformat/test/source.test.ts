import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { constants, gunzipSync, gzipSync } from 'node:zlib';
import { isBadInput } from '@edgeguard/schema';
import {
  createParser,
  gunzipIfGzip,
  type LineBatch,
  type LogSource,
  openLogSource,
  splitLines,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'logformat-source-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function collect(source: LogSource): Promise<{ lines: string[]; batches: string[][] }> {
  const batches: string[][] = [];
  for await (const batch of source.batches()) batches.push(batch);
  return { lines: batches.flat(), batches };
}

const sample = Array.from(
  { length: 50 },
  (_, i) =>
    `203.0.113.${i} - - [21/Jan/2024:09:30:12 +0000] "GET /p/${i}?q=é HTTP/1.1" 200 ${i} "-" "ua ${i}"`,
);

describe('openLogSource', () => {
  it('delivers every line of a file in order, with size and progress', async () => {
    const path = file('plain.log', `${sample.join('\n')}\n`);
    const source = openLogSource(path);
    assert.equal(source.totalBytes, statSync(path).size);
    const { lines } = await collect(source);
    assert.deepEqual(lines, sample);
    assert.equal(source.bytesRead, source.totalBytes);
    assert.equal(source.gzip, false);
  });

  it('strips CR of CRLF line ends, keeps empty lines, and delivers a last line without newline', async () => {
    const { lines } = await collect(openLogSource(file('crlf.log', 'a\r\nb\r\n\r\nc\rd\r\nlast')));
    assert.deepEqual(lines, ['a', 'b', '', 'c\rd', 'last']);
  });

  it('never splits a line across batches, whatever the chunk size', async () => {
    const path = file('chunks.log', `${sample.join('\n')}\n`);
    for (const chunkBytes of [5, 64, 333]) {
      const { lines, batches } = await collect(openLogSource(path, { chunkBytes }));
      assert.deepEqual(lines, sample, `chunkBytes ${chunkBytes}`);
      assert.ok(batches.length > 1, `chunkBytes ${chunkBytes} gives several batches`);
    }
  });

  it('reads gzip input recognised by its magic bytes, not its name, counting compressed bytes', async () => {
    const text = `${sample.join('\n')}\n`;
    const path = file('rotated.log.1', gzipSync(text));
    const source = openLogSource(path, { chunkBytes: 100 });
    const { lines } = await collect(source);
    assert.deepEqual(lines, sample);
    assert.equal(source.gzip, true);
    assert.equal(source.bytesRead, statSync(path).size);
    assert.ok(source.bytesRead < Buffer.byteLength(text));
  });

  it('reads concatenated gzip members (rotated files joined together)', async () => {
    const path = file('joined.gz', Buffer.concat([gzipSync('one\ntwo\n'), gzipSync('three\n')]));
    assert.deepEqual((await collect(openLogSource(path))).lines, ['one', 'two', 'three']);
  });

  it('reads "-" from a stdin-like stream, plain or gzip, even when bytes arrive one at a time', async () => {
    const plain = openLogSource('-', { stdin: Readable.from([Buffer.from('x\ny'), Buffer.from('z\n')]) });
    assert.equal(plain.totalBytes, null);
    assert.deepEqual((await collect(plain)).lines, ['x', 'yz']);
    const zipped = gzipSync('from a pipe\nsecond\n');
    const bytes = [...zipped].map((byte) => Buffer.from([byte]));
    const piped = openLogSource('-', { stdin: Readable.from(bytes) });
    assert.deepEqual((await collect(piped)).lines, ['from a pipe', 'second']);
    assert.equal(piped.gzip, true);
    assert.equal(piped.bytesRead, zipped.length);
  });

  it('decodes UTF-8 characters split across chunks', async () => {
    const path = file('utf8.log', 'häßlich – 日本\nok\n');
    for (const chunkBytes of [1, 2, 3, 5]) {
      assert.deepEqual((await collect(openLogSource(path, { chunkBytes }))).lines, ['häßlich – 日本', 'ok']);
    }
  });

  it('cuts an overlong line so that it cannot exhaust memory, and the parser rejects it as oversized', async () => {
    const maxLineLength = 100;
    const huge = `198.51.100.1 - - ${'A'.repeat(10_000)}`;
    const path = file('overlong.log', `${sample[0]}\n${huge}\n${sample[1]}\n${huge}`);
    for (const chunkBytes of [64, 4096, 1 << 20]) {
      const { lines } = await collect(openLogSource(path, { chunkBytes, maxLineLength }));
      assert.equal(lines.length, 4, `chunkBytes ${chunkBytes}`);
      assert.equal(lines[0], sample[0]);
      assert.equal(lines[2], sample[1]);
      const parser = createParser('combined', { maxLineLength });
      for (const cut of [lines[1]!, lines[3]!]) {
        assert.ok(cut.length > maxLineLength && cut.length <= 4 * maxLineLength, `cut to ${cut.length}`);
        const result = parser.parse(cut);
        assert.ok(isBadInput(result));
        assert.equal(result.reason, 'oversized-line');
        assert.equal(result.message, 'line longer than maxLineLength 100', 'not the length it was cut to');
      }
    }
  });

  it('turns bytes that are not UTF-8 into lines the parser rejects as binary', async () => {
    const path = file(
      'binary.log',
      Buffer.concat([Buffer.from('203.0.113.1 - - [x'), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]),
    );
    const { lines } = await collect(openLogSource(path));
    const result = createParser('combined').parse(lines[0]!);
    assert.ok(isBadInput(result));
    assert.equal(result.reason, 'binary');
  });

  it('marks a batch plain only when all its lines are ASCII without NUL or backslash', async () => {
    async function batchesOf(...chunks: string[]): Promise<LineBatch[]> {
      const batches: LineBatch[] = [];
      for await (const batch of splitLines(Readable.from(chunks.map((c) => Buffer.from(c))), 1024)) {
        batches.push(batch);
      }
      return batches;
    }
    const plainness = async (...chunks: string[]) =>
      (await batchesOf(...chunks)).map((b) => b.plain === true);
    assert.deepEqual(await plainness('a b\nc d\n'), [true]);
    assert.deepEqual(await plainness('a\\x22b\nc\n'), [false], 'a backslash');
    assert.deepEqual(await plainness('a\0b\nc\n'), [false], 'a NUL');
    assert.deepEqual(await plainness('a\nb é\n'), [false], 'a character beyond ASCII');
    // A line carried over from the previous chunk counts for the batch it is delivered in.
    assert.deepEqual(await plainness('a\\', 'b\nc\n', 'd\n'), [false, true]);
    assert.deepEqual(await plainness('ab', 'c\nd\\\n'), [false]);
    assert.deepEqual(await plainness('ab', 'c\nd\n'), [true]);
    // The last line without a newline comes alone and unchecked.
    assert.deepEqual(await plainness('a\nb'), [true, false]);
  });

  it("parses every line of a file the same with and without its batch's plain mark", async () => {
    const lines = [
      ...sample.slice(0, 5).map((line) => line.replace('é', 'e')),
      String.raw`203.0.113.9 - - [21/Jan/2024:09:30:12 +0000] "GET /q?x=\x22 HTTP/1.1" 200 1 "-" "ua \"quoted\""`,
      '203.0.113.9 - - [21/Jan/2024:09:30:12 +0000] "G\u0000T / HTTP/1.1" 200 1 "-" "ua"',
      ...sample.slice(5, 10).map((line) => line.replace('é', 'e')),
    ];
    const path = file('mixed.log', `${lines.join('\n')}\n`);
    const parser = createParser('combined');
    for (const chunkBytes of [100, 400]) {
      let plainBatches = 0;
      for await (const batch of openLogSource(path, { chunkBytes }).batches()) {
        if (batch.plain) plainBatches++;
        for (const line of batch)
          assert.deepEqual(parser.parse(line, undefined, batch.plain), parser.parse(line));
      }
      assert.ok(plainBatches > 0, `chunkBytes ${chunkBytes}: some batches are plain`);
    }
  });

  it('gives nothing for an empty file, and can be iterated only once', async () => {
    const source = openLogSource(file('empty.log', ''));
    assert.deepEqual((await collect(source)).lines, []);
    assert.throws(() => source.batches(), /only once/);
  });

  it('keeps the lines before the cut of a truncated gzip and says where it stopped', async () => {
    const log = Array.from({ length: 5000 }, (_, i) => `${sample[i % 50]!} ${(i * 7919) % 100_003}`);
    const gzip = gzipSync(`${log.join('\n')}\n`);
    const source = openLogSource(file('cut.log.gz', gzip.subarray(0, Math.floor(gzip.length * 0.6))));
    const { lines } = await collect(source);
    assert.ok(lines.length > 1000 && lines.length < 5000, `${lines.length} lines before the cut`);
    assert.deepEqual(lines, log.slice(0, lines.length), 'every whole line before the cut, in order');
    assert.ok(source.damage, 'the damage is reported, not thrown');
    assert.equal(source.damage.message, 'unexpected end of file');
    const next = log[lines.length]!;
    assert.ok(next.startsWith(source.damage.brokenLine), 'the broken-off line is not delivered');
    assert.ok(source.damage.brokenLine.length < next.length);
    const delivered = lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
    assert.equal(source.damage.decodedBytes, delivered + Buffer.byteLength(source.damage.brokenLine));
  });

  it('keeps every whole line before the cut however small the reads (zcat keeps them all)', async () => {
    const log = Array.from({ length: 3000 }, (_, i) => `${sample[i % 50]!} ${(i * 7919) % 100_003}`);
    const gzip = gzipSync(`${log.join('\n')}\n`);
    const cut = gzip.subarray(0, Math.floor(gzip.length * 0.7));
    // What zlib can decode of it at all: a sync flush instead of the final one that fails.
    const decodable = gunzipSync(cut, { finishFlush: constants.Z_SYNC_FLUSH }).toString();
    const whole = decodable.slice(0, decodable.lastIndexOf('\n')).split('\n');
    for (const chunkBytes of [100, 4096, 1024 * 1024]) {
      const source = openLogSource(file(`cut-${chunkBytes}.log.gz`, cut), { chunkBytes });
      const { lines } = await collect(source);
      assert.deepEqual(lines, whole, `reads of ${chunkBytes} bytes`);
      assert.equal(source.damage?.decodedBytes, Buffer.byteLength(decodable));
    }
  });

  it('reports a fake gzip (magic bytes, then garbage) as damaged input with no lines', async () => {
    const source = openLogSource(file('fake.gz', Buffer.from('\x1f\x8bnot gzip at all\n', 'latin1')));
    assert.deepEqual((await collect(source)).lines, []);
    assert.match(source.damage?.message ?? '', /unknown compression method/);
  });

  it('reads an intact gzip to its end with no damage', async () => {
    const source = openLogSource(file('whole.log.gz', gzipSync(`${sample.join('\n')}`)));
    assert.deepEqual((await collect(source)).lines, sample, 'the last line needs no newline');
    assert.equal(source.damage, null);
  });

  it('throws from gunzipIfGzip on a truncated gzip when no one takes the damage', async () => {
    const gzip = gzipSync(sample.join('\n'));
    async function* raw() {
      yield gzip.subarray(0, gzip.length - 10);
    }
    await assert.rejects(async () => {
      for await (const _ of gunzipIfGzip(raw()));
    }, /unexpected end of file/);
  });

  it('holds a bounded amount of decoded bytes ahead of a slow reader of a highly compressed gzip', async () => {
    // 96 MiB of one repeated line in ~100 KB of gzip (96 members of 1 MiB each), all of it fed to
    // zlib at once: unbounded, zlib decoded it all while the reader slept on its first chunks.
    const line = Buffer.from('192.0.2.1 - - [10/Oct/2025:13:55:36 +0000] "GET / HTTP/1.1" 200 612 "-" "x"\n');
    const member = gzipSync(Buffer.alloc(1024 * 1024, line));
    const gzip = Buffer.concat(Array.from({ length: 96 }, () => member));
    async function* raw() {
      yield gzip;
    }
    // Buffers the reader dropped count until collected: collect before each reading.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    let total = 0;
    let chunks = 0;
    for await (const chunk of gunzipIfGzip(raw())) {
      total += chunk.length;
      if (chunks++ % 8 === 0) {
        gc();
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.equal(total, 96 * 1024 * 1024, 'every byte delivered');
    assert.ok(peak < 12 * 1024 * 1024, `at most ~4 MiB waiting, saw ${(peak / 2 ** 20).toFixed(1)} MiB`);
  });

  it('fails at open for a missing file or a directory', () => {
    assert.throws(
      () => openLogSource(join(dir, 'missing.log')),
      (error: NodeJS.ErrnoException) =>
        error.code === 'ENOENT' &&
        error.message === `${join(dir, 'missing.log')}: cannot read it: no such file or directory (ENOENT)`,
    );
    assert.throws(() => openLogSource(dir), /directory/);
  });
});
