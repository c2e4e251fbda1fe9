import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { checkLogInput, gunzipIfGzip, type InputDamage } from '@edgeguard/logformat';

export interface LineChunkOptions {
  /** Bytes per read (default 1 MiB); a chunk is at most this plus one carried line. */
  chunkBytes?: number;
  /** Longest line kept in bytes (as `openLogSource`: 4 × the parser's maxLineLength). */
  maxLineBytes: number;
  /** The stream read for `-` (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
}

/** The chunks of one input (iterate once), and whether it was read to its end. */
export interface LineChunks extends AsyncIterable<Buffer> {
  /**
   * As `LogSource.damage`: why reading stopped before the end of a gzip input cut short or
   * corrupt. The chunks hold every whole line before it; the line it broke off is left out. Null
   * while reading, and after an input read to its end.
   */
  readonly damage: InputDamage | null;
}

/**
 * Reads a log (a file, gzip recognised by its magic bytes 1f 8b, or `-` for stdin) as chunks of
 * whole lines: each chunk ends just after a newline, except the last one when the input does not
 * end with one. Each chunk starts its own ArrayBuffer (byteOffset 0), so it can be transferred to
 * a worker thread. `splitLines` of the chunks, one after the other, yields exactly the lines
 * `openLogSource(...).batches()` yields: a line longer than `maxLineBytes` keeps its first
 * `maxLineBytes` bytes across reads too (the rest is dropped up to its newline), and a damaged gzip
 * ends the chunks after the last whole line before the damage, which `damage` then describes. A
 * plain file is read straight into the chunk buffers (no stream buffers, no copy). Throws at once
 * when the path cannot be opened as a regular file, like `openLogSource`.
 */
export function readLineChunks(path: string, options: LineChunkOptions): LineChunks {
  // Throws, naming the path and the OS's reason, for a missing, unreadable or directory path.
  const size = checkLogInput(path);
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  const lineChunks = { damage: null as InputDamage | null, [Symbol.asyncIterator]: () => chunks };
  /** A stream, gunzipped when it is gzip, in chunks; a damage ends it and is kept in `lineChunks`. */
  const streamed = (stream: NodeJS.ReadableStream) =>
    alignToLines(
      streamReader(
        decoded(stream, (error, decodedBytes) => {
          lineChunks.damage = { message: error.message, decodedBytes, brokenLine: '' };
        }),
      ),
      chunkBytes,
      options.maxLineBytes,
      (line) => {
        if (!lineChunks.damage) return false;
        lineChunks.damage.brokenLine = line.toString();
        return true;
      },
    );
  const chunks =
    path !== '-' && size === null
      ? // A named pipe or device: read as a stream (no positions).
        streamed(createReadStream(path, { highWaterMark: chunkBytes }))
      : path === '-'
        ? streamed(options.stdin ?? process.stdin)
        : fileChunks(path, chunkBytes, options.maxLineBytes, streamed);
  return lineChunks;
}

async function* fileChunks(
  path: string,
  chunkBytes: number,
  maxLineBytes: number,
  streamed: (stream: NodeJS.ReadableStream) => AsyncGenerator<Buffer>,
): AsyncGenerator<Buffer> {
  const file = await open(path, 'r');
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await file.read(magic, 0, 2, 0);
    if (bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
      yield* streamed(createReadStream(path, { highWaterMark: chunkBytes }));
      return;
    }
    let position = 0;
    yield* alignToLines(
      async (buffer, offset, length) => {
        const { bytesRead: n } = await file.read(buffer, offset, length, position);
        position += n;
        return n;
      },
      chunkBytes,
      maxLineBytes,
    );
  } finally {
    await file.close();
  }
}

/** Reads into `buffer[offset, offset + length)`; resolves to the bytes read, 0 at the end. */
export type ChunkRead = (buffer: Buffer, offset: number, length: number) => Promise<number>;

/** Fills the buffer from a stream of pieces, as far as the stream goes. */
export function streamReader(pieces: AsyncIterator<Buffer>): ChunkRead {
  let pending: Buffer | null = null;
  return async (buffer, offset, length) => {
    let filled = 0;
    while (filled < length) {
      if (!pending || pending.length === 0) {
        const next = await pieces.next();
        if (next.done) break;
        pending = next.value;
        continue;
      }
      const n = pending.copy(buffer, offset + filled, 0, Math.min(pending.length, length - filled));
      pending = pending.subarray(n);
      filled += n;
    }
    return filled;
  };
}

function decoded(
  stream: NodeJS.ReadableStream,
  damaged: (error: Error, decodedBytes: number) => void,
): AsyncGenerator<Buffer> {
  const raw = (async function* () {
    for await (const chunk of stream)
      yield typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
  })();
  return gunzipIfGzip(raw, undefined, damaged);
}

/**
 * Chunks of whole lines from `read`: each chunk buffer gets the unfinished line carried from the
 * previous one (at most `maxLineBytes` of it), then up to `chunkBytes` read after it, and is cut
 * after its last newline. A line with no newline within reach is kept up to `maxLineBytes` and
 * the rest dropped up to its newline, as `splitLines` does. `brokenOff`, as for `splitLines`, is
 * asked about a last line without a final newline: true when the input broke off inside it (a
 * damaged gzip), and it is then left out.
 */
export async function* alignToLines(
  read: ChunkRead,
  chunkBytes: number,
  maxLineBytes: number,
  brokenOff?: (line: Buffer) => boolean,
): AsyncGenerator<Buffer> {
  let carry = Buffer.alloc(0);
  for (;;) {
    const out = Buffer.allocUnsafeSlow(carry.length + chunkBytes);
    carry.copy(out, 0);
    const n = await read(out, carry.length, chunkBytes);
    if (n === 0) {
      if (carry.length > 0 && !brokenOff?.(carry)) yield out.subarray(0, carry.length);
      return;
    }
    const filled = carry.length + n;
    const last = out.lastIndexOf(10, filled - 1);
    if (last < 0) {
      // Copies: the carried bytes must not keep the whole chunk buffer alive.
      carry = Buffer.from(out.subarray(0, Math.min(filled, maxLineBytes)));
      continue;
    }
    carry = Buffer.from(out.subarray(last + 1, Math.min(filled, last + 1 + maxLineBytes)));
    yield out.subarray(0, last + 1);
  }
}

/** One chunk as the async iterable `splitLines` reads. */
export async function* only(chunk: Buffer): AsyncGenerator<Buffer> {
  yield chunk;
}
