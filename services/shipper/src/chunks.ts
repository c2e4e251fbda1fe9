import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

export interface LineChunkOptions {
  /** Bytes per read (default 1 MiB); a chunk is about this size. */
  chunkBytes?: number;
  /** Longest line kept in bytes (as `openLogSource`: 4 × the parser's maxLineLength). */
  maxLineBytes: number;
  /** The stream read for `-` (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
}

/**
 * Reads a log (a file, gzip recognised by its magic bytes 1f 8b, or `-` for stdin) as chunks of
 * whole lines: each chunk ends just after a newline, except the last one when the input does not
 * end with one. Each chunk is a fresh Buffer over its own ArrayBuffer, so it can be transferred to
 * a worker thread. `splitLines` of the chunks, one after the other, yields exactly the lines
 * `openLogSource(...).batches()` yields: a line longer than `maxLineBytes` keeps its first
 * `maxLineBytes` bytes across reads too (the rest is dropped up to its newline), and a chunk never
 * holds more than one such cut line's worth of carried bytes. Throws at once when the path cannot
 * be opened as a regular file, like `openLogSource`.
 */
export function readLineChunks(path: string, options: LineChunkOptions): AsyncGenerator<Buffer> {
  if (path !== '-' && statSync(path).isDirectory()) throw new Error(`${path} is a directory, not a log file`);
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  const input =
    path === '-' ? (options.stdin ?? process.stdin) : createReadStream(path, { highWaterMark: chunkBytes });
  return alignToLines(decoded(input), options.maxLineBytes);
}

async function* decoded(stream: NodeJS.ReadableStream): AsyncGenerator<Buffer> {
  const raw = (async function* () {
    for await (const chunk of stream)
      yield typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
  })();
  // At least two bytes to look for the gzip magic (a pipe may deliver one byte first).
  const head: Buffer[] = [];
  let headLength = 0;
  while (headLength < 2) {
    const next = await raw.next();
    if (next.done) break;
    head.push(next.value);
    headLength += next.value.length;
  }
  const first = Buffer.concat(head);
  async function* replay(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    yield* raw;
  }
  if (!(first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b)) {
    yield* replay();
    return;
  }
  // Multi-member gzip (concatenated rotations) is read through by zlib's gunzip.
  const gunzip = Readable.from(replay()).pipe(createGunzip({ chunkSize: 256 * 1024 }));
  for await (const chunk of gunzip) yield chunk as Buffer;
}

/** Re-cuts a byte stream at its last newline per piece, carrying the unfinished line (bounded). */
export async function* alignToLines(
  chunks: AsyncIterable<Buffer>,
  maxLineBytes: number,
): AsyncGenerator<Buffer> {
  let carry: Buffer[] = [];
  let carryLength = 0;
  for await (const chunk of chunks) {
    const last = chunk.lastIndexOf(10);
    if (last < 0) {
      if (carryLength < maxLineBytes) {
        const kept = Buffer.from(chunk.subarray(0, maxLineBytes - carryLength));
        carry.push(kept);
        carryLength += kept.length;
      }
      continue;
    }
    const out = Buffer.allocUnsafeSlow(carryLength + last + 1);
    let at = 0;
    for (const piece of carry) at += piece.copy(out, at);
    chunk.copy(out, at, 0, last + 1);
    carry = [];
    carryLength = 0;
    if (last + 1 < chunk.length) {
      const rest = Buffer.from(chunk.subarray(last + 1, Math.min(chunk.length, last + 1 + maxLineBytes)));
      carry.push(rest);
      carryLength = rest.length;
    }
    yield out;
  }
  if (carryLength > 0) {
    const out = Buffer.allocUnsafeSlow(carryLength);
    let at = 0;
    for (const piece of carry) at += piece.copy(out, at);
    yield out;
  }
}

/** One chunk as the async iterable `splitLines` reads. */
export async function* only(chunk: Buffer): AsyncGenerator<Buffer> {
  yield chunk;
}
