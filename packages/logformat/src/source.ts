import { isAscii } from 'node:buffer';
import { accessSync, constants, createReadStream, type Stats, statSync } from 'node:fs';
import { createGunzip, constants as zlibConstants } from 'node:zlib';
import { BadInput, systemErrorText } from '@edgeguard/schema';
import { DEFAULT_MAX_LINE_LENGTH } from './parser.js';
import { REJECT_REASONS } from './reasons.js';

export interface LogSourceOptions {
  /** Bytes per read. Default 1 MiB: few syscalls, and a batch is then some thousands of lines. */
  chunkBytes?: number;
  /**
   * The parser's maxLineLength. A line longer than 4× this many bytes is cut to that length (the
   * rest is skipped up to its newline), so an endless line cannot exhaust memory; the cut line is
   * still longer than maxLineLength characters, so the parser rejects it as `oversized-line`.
   */
  maxLineLength?: number;
  /** The stream read for the path `-` (default process.stdin); tests pass their own. */
  stdin?: NodeJS.ReadableStream;
  /**
   * Stops reading when aborted: the input stream is destroyed and the lines end there, as if the
   * input had, also while a pipe or a terminal sends nothing (the line it cut is dropped, and a
   * gzip it cut is not reported as damaged).
   */
  signal?: AbortSignal;
}

export interface LogSource {
  /** The path as given (`-` for stdin). */
  readonly path: string;
  /** Size of the file in bytes (compressed size for gzip), null for stdin and other streams. */
  readonly totalBytes: number | null;
  /** Bytes consumed from the file or stream so far (compressed bytes for gzip): progress and ETA. */
  readonly bytesRead: number;
  /** Whether the input is gzip; null until the first bytes were read. */
  readonly gzip: boolean | null;
  /**
   * Why reading stopped before the end of the input: gzip data cut short or corrupt. The lines
   * decoded before it were delivered; the line the damage broke off is not. Null while reading, and
   * after an input read to its end.
   */
  readonly damage: InputDamage | null;
  /**
   * The lines, in order, in batches (one per chunk read). Lines are split on `\n`, a trailing `\r`
   * is removed, the last line is delivered even without a final newline, a line is never split
   * across batches, and empty lines are kept (so that line numbers stay true). Can be iterated once.
   */
  batches(): AsyncIterable<LineBatch>;
}

/** Where and why a gzip input could not be read to its end (see LogSource.damage). */
export interface InputDamage {
  /** zlib's words, as zcat prints them: `unexpected end of file`, `incorrect header check`... */
  message: string;
  /** Bytes of the log (decompressed) delivered before the damage. */
  decodedBytes: number;
  /** The start of the line the damage broke off (empty when it fell on a line's end). */
  brokenLine: string;
}

/**
 * A damaged input as the one `bad-gzip` rejection a reader counts (replay and the shipper alike),
 * located at the line it broke off: `input:line` after the `lines` whole lines read, and the byte
 * of the log where reading stopped. Record it with `damage.brokenLine` as its excerpt.
 */
export function damageRejection(input: string, lines: number, damage: InputDamage): BadInput {
  return new BadInput(
    REJECT_REASONS.badGzip,
    `${damage.message} in the gzip data after line ${lines} (byte ${damage.decodedBytes} of the log): the lines before were kept, the rest could not be read`,
    undefined,
    `${input}:${lines + 1}`,
  );
}

/**
 * One batch of lines. `plain`: every line of it is ASCII and holds no NUL and no backslash,
 * checked once over the chunk's bytes (memchr-speed scans of the whole chunk instead of three
 * scans of every line), so a parser given it may skip its per-line binary-data and escape scans
 * (LineParser.parse's `plain`). Absent or false: nothing is known, the parser checks each line.
 */
export type LineBatch = string[] & { plain?: boolean };

const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;
/**
 * Compressed bytes handed to zlib and not yet decoded, at most (at least one chunk, whatever its
 * size): ~10 MiB of log text ahead of the reader keeps zlib busy on the thread pool while the
 * reader works. One 128 KiB chunk at a time read a 1M-line gzip ~10 % slower than the piped stream
 * did; this reads it within noise of it (or faster), for 128 KiB and 1 MiB reads.
 */
const GUNZIP_AHEAD_BYTES = 1024 * 1024;
/**
 * Decoded bytes held for a reader that has not taken them yet, at most (plus one zlib chunk, and
 * what zlib's own buffer holds): past it zlib is paused until the reader catches up. Without it a
 * slow reader of a highly compressed log (repeated lines deflate ~1000:1) had every compressed
 * byte fed ahead decoded and waiting: ~1 GB for the 1 MiB fed.
 */
const GUNZIP_PENDING_BYTES = 4 * 1024 * 1024;

/**
 * Opens a log file, or stdin for `-`. gzip is recognised by its magic bytes (1f 8b), not by the
 * file name, so rotated `access.log.1` that is compressed, and `zcat`-less pipes, both work.
 * Throws (ENOENT, EISDIR...) at once when the file cannot be opened as a regular file.
 */
export function openLogSource(path: string, options: LogSourceOptions = {}): LogSource {
  return new FileLogSource(path, checkLogInput(path), options);
}

/**
 * Checks that `path` is a log openLogSource can read — `-`, or a file (or a FIFO, a device) that
 * exists, is not a directory and may be read — and returns its size in bytes (null when it is not
 * a regular file, or is `-`). Throws an Error naming the path and the reason otherwise. A command
 * calls it before it creates its outputs, so that a mistyped input path leaves them as they were.
 */
export function checkLogInput(path: string): number | null {
  if (path === '-') return null;
  let stats: Stats;
  try {
    stats = statSync(path);
    accessSync(path, constants.R_OK);
  } catch (error) {
    // "/x: cannot read it: no such file or directory (ENOENT)": the path first, the code kept for callers.
    const { code } = error as NodeJS.ErrnoException;
    throw Object.assign(new Error(`${path}: cannot read it: ${systemErrorText(error)}`), { code });
  }
  if (stats.isDirectory()) throw new Error(`${path} is a directory, not a log file`);
  return stats.isFile() ? stats.size : null;
}

class FileLogSource implements LogSource {
  bytesRead = 0;
  gzip: boolean | null = null;
  damage: InputDamage | null = null;
  private started = false;
  private readonly chunkBytes: number;
  /** Longest line kept in bytes; see LogSourceOptions.maxLineLength. */
  private readonly maxLineBytes: number;

  constructor(
    readonly path: string,
    readonly totalBytes: number | null,
    private readonly options: LogSourceOptions,
  ) {
    this.chunkBytes = options.chunkBytes ?? 1024 * 1024;
    this.maxLineBytes = 4 * (options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH);
  }

  batches(): AsyncIterable<LineBatch> {
    if (this.started) throw new Error(`${this.path}: batches() can be iterated only once`);
    this.started = true;
    return this.lines();
  }

  private input(): NodeJS.ReadableStream {
    if (this.path === '-') return this.options.stdin ?? process.stdin;
    return createReadStream(this.path, { highWaterMark: this.chunkBytes });
  }

  /** Raw chunks, counted, with gzip decided from the first two bytes; until `signal` aborts. */
  private async *raw(stream: NodeJS.ReadableStream): AsyncGenerator<Buffer> {
    const signal = this.options.signal;
    if (signal?.aborted) return;
    // Destroyed, the stream ends the loop below with an error, also while it waits for data.
    const stop = () => (stream as NodeJS.ReadableStream & { destroy(): void }).destroy();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      for await (const chunk of stream) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        this.bytesRead += bytes.length;
        yield bytes;
      }
    } catch (error) {
      if (!signal?.aborted) throw error;
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }

  /** The decoded bytes; the file is opened on the first read, not before. */
  private async *decoded(): AsyncGenerator<Buffer> {
    yield* gunzipIfGzip(
      this.raw(this.input()),
      (gzip) => {
        this.gzip = gzip;
      },
      (error, decodedBytes) => {
        // Cut by the abort, not damaged.
        if (this.options.signal?.aborted) return;
        this.damage = { message: error.message, decodedBytes, brokenLine: '' };
      },
    );
  }

  private lines(): AsyncGenerator<LineBatch> {
    return splitLines(this.decoded(), this.maxLineBytes, (line) => {
      // The line an abort cut: not a line of the log.
      if (this.options.signal?.aborted) return true;
      if (!this.damage) return false;
      this.damage.brokenLine = line;
      return true;
    });
  }
}

/**
 * `raw`'s bytes, gunzipped when they start with the gzip magic (1f 8b): a log file and its
 * rotated `.gz` read the same whatever their names. `sniffed` is told once which it was. Collects
 * at least two bytes before deciding, since a pipe may deliver one byte first. Multi-member gzip
 * (concatenated rotations) is read through by zlib's gunzip.
 *
 * gzip data that is cut short (a copy still being written, a partial download) or corrupt makes
 * zlib fail after it delivered what it could decode. With `damaged`, that failure ends the
 * output there and is told to it, with the decoded bytes delivered so far, so that a reader can
 * keep what came before; without it, the zlib error is thrown.
 */
export async function* gunzipIfGzip(
  raw: AsyncGenerator<Buffer>,
  sniffed?: (gzip: boolean) => void,
  damaged?: (error: Error, decodedBytes: number) => void,
): AsyncGenerator<Buffer> {
  const head: Buffer[] = [];
  let headLength = 0;
  while (headLength < 2) {
    const next = await raw.next();
    if (next.done) break;
    head.push(next.value);
    headLength += next.value.length;
  }
  const first = Buffer.concat(head);
  const gzip = first.length >= 2 && first[0] === GZIP_MAGIC_0 && first[1] === GZIP_MAGIC_1;
  sniffed?.(gzip);
  async function* replay(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    yield* raw;
  }
  if (!gzip) {
    yield* replay();
    return;
  }
  // Fed by hand, at most GUNZIP_AHEAD_BYTES compressed ahead of what is yielded (zlib decodes on
  // the thread pool meanwhile), and read through 'data' rather than the stream's async iterator:
  // when zlib fails, the stream is destroyed and that iterator drops what it had decoded but not
  // yet handed out — the last whole lines before the damage, more or fewer depending on timing.
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  const input = replay();
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  // Set by the 'error' listener: typed so that the checks below are not narrowed to null.
  let failure = null as Error | null;
  let writingBytes = 0;
  let inputEnded = false;
  /** Wakes the loop below when zlib has news: output, a write done, a failure, the close. */
  let wake: (() => void) | null = null;
  const news = () => {
    const resume = wake;
    wake = null;
    resume?.();
  };
  gunzip.on('data', (chunk: Buffer) => {
    pending.push(chunk);
    pendingBytes += chunk.length;
    // Paused, zlib's readable side fills and its transform stops taking input until resumed.
    if (pendingBytes >= GUNZIP_PENDING_BYTES) gunzip.pause();
    news();
  });
  gunzip.on('error', (error) => {
    failure = error;
    news();
  });
  gunzip.on('close', news);
  const written = (bytes: number) => () => {
    writingBytes -= bytes;
    news();
  };
  let decodedBytes = 0;
  try {
    for (;;) {
      while (!inputEnded && writingBytes < GUNZIP_AHEAD_BYTES && !gunzip.destroyed) {
        const next = await input.next();
        if (next.done) {
          inputEnded = true;
          // The sync flush first: without it, zlib keeps what it decoded of the last deflate
          // block for the final flush, which fails on a gzip cut short and so drops it.
          gunzip.flush(zlibConstants.Z_SYNC_FLUSH, () => {
            if (!gunzip.destroyed) gunzip.end();
          });
        } else {
          writingBytes += next.value.length;
          gunzip.write(next.value, written(next.value.length));
        }
      }
      if (pending.length > 0) {
        for (let next = pending.shift(); next; next = pending.shift()) {
          pendingBytes -= next.length;
          decodedBytes += next.length;
          yield next;
        }
        // All taken: let zlib go on (what it buffered while paused comes out as 'data' at once).
        if (gunzip.isPaused()) gunzip.resume();
        continue;
      }
      // 'close' comes after the last output, and after the error of a gzip cut short (which
      // follows 'finish': end's callback would be too early).
      if (gunzip.closed) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    gunzip.destroy();
    // A reader that stopped early: close the file under it now, not when it is collected.
    await input.return(undefined);
  }
  // 'close' is flagged before 'error' is emitted: the stream's own record, should the loop have
  // seen the first before the second.
  failure ??= (gunzip.errored as Error | null) ?? null;
  if (failure === null) return;
  if (!damaged || !isZlibError(failure)) throw failure;
  damaged(failure, decodedBytes);
}

/** zlib's own failures (Z_BUF_ERROR, Z_DATA_ERROR...): the data, not the reading, is at fault. */
function isZlibError(error: unknown): error is Error {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('Z_');
}

/**
 * Splits a byte stream into batches of lines (one batch per chunk): `\n` separated, a trailing
 * `\r` removed, the last line delivered without a final newline, no line split across batches,
 * and a line longer than `maxLineBytes` cut to that length (the rest skipped up to its newline).
 * `brokenOff`, when given, is asked about a last line without a final newline: true when the input
 * broke off inside it (damaged gzip), and the line is then left out, since it is not a whole line.
 */
export async function* splitLines(
  chunks: AsyncIterable<Buffer>,
  maxLineBytes: number,
  brokenOff?: (line: string) => boolean,
): AsyncGenerator<LineBatch> {
  /** Bytes of a line not yet ended by a newline (at most maxLineBytes of it are kept). */
  let carry: Buffer[] = [];
  let carryLength = 0;
  for await (const chunk of chunks) {
    let newline = chunk.indexOf(10);
    if (newline < 0) {
      if (carryLength < maxLineBytes) {
        const kept = Buffer.from(chunk.subarray(0, maxLineBytes - carryLength));
        carry.push(kept);
        carryLength += kept.length;
      }
      continue;
    }
    const batch: LineBatch = [];
    let start = 0;
    let plain = true;
    if (carryLength > 0) {
      const room = Math.max(0, maxLineBytes - carryLength);
      carry.push(chunk.subarray(0, Math.min(newline, room)));
      const carried = Buffer.concat(carry);
      batch.push(decodeLine(carried, 0, carried.length, false));
      plain = isAscii(carried) && noNulOrBackslash(carried);
      carry = [];
      carryLength = 0;
      start = newline + 1;
      newline = chunk.indexOf(10, start);
    }
    // ASCII (most logs) decodes faster as latin1, with the same result.
    const lastNewline = chunk.lastIndexOf(10);
    const lines = chunk.subarray(start, lastNewline + 1);
    const ascii = isAscii(lines);
    batch.plain = plain && ascii && noNulOrBackslash(lines);
    while (newline >= 0) {
      const end = newline - start > maxLineBytes ? start + maxLineBytes : newline;
      batch.push(decodeLine(chunk, start, end, ascii));
      start = newline + 1;
      newline = chunk.indexOf(10, start);
    }
    if (start < chunk.length) {
      // Copy: the rest of the chunk must not keep the whole chunk alive.
      const rest = Buffer.from(chunk.subarray(start, start + maxLineBytes));
      carry.push(rest);
      carryLength = rest.length;
    }
    yield batch;
  }
  if (carryLength > 0) {
    const last = decodeLine(Buffer.concat(carry), 0, carryLength, false);
    if (!brokenOff?.(last)) yield [last];
  }
}

const BACKSLASH = 0x5c;

/** Whether `bytes` hold no NUL and no backslash (see LineBatch). */
function noNulOrBackslash(bytes: Buffer): boolean {
  return bytes.indexOf(0) < 0 && bytes.indexOf(BACKSLASH) < 0;
}

/**
 * One line as its own string (not a slice of a chunk-sized string, which would keep the whole
 * chunk alive for as long as any field of the line is referenced downstream).
 */
function decodeLine(bytes: Buffer, start: number, end: number, ascii: boolean): string {
  const stop = end > start && bytes[end - 1] === 13 ? end - 1 : end;
  return bytes.toString(ascii ? 'latin1' : 'utf8', start, stop);
}
