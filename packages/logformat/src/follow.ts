import type { FileHandle } from 'node:fs/promises';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_MAX_LINE_LENGTH } from './parser.js';
import { type LineBatch, splitLines } from './source.js';

/**
 * Where a follower stands in a file: the file (device and inode, so a rotated file is still
 * recognised under another name) and the byte after the last whole line handed out.
 */
export interface FollowPosition {
  dev: number;
  ino: number;
  offset: number;
}

export interface FollowOptions {
  /** Start at the beginning of the current file (default: at its end, like `tail -F`). */
  fromStart?: boolean;
  /**
   * Resume where an earlier follower stopped (its `position()`), instead of at the start or end:
   * - the file at the path is the same one: from `offset` (from 0 if it is now shorter: truncated);
   * - it was rotated meanwhile: the old file is looked for next to the path (a name starting with
   *   the path's, e.g. `access.log.1`, same device and inode), read from `offset` to its end, then
   *   the new file from its start;
   * - the old file is gone (deleted, or compressed to a new inode): the new file from its start,
   *   and `stats.resumeLost` says the old file's rest could not be read.
   * Overrides `fromStart`.
   */
  resumeFrom?: FollowPosition;
  /** How often (ms) to look for new data, truncation and rotation at end of file. Default 250. */
  pollMs?: number;
  /** Stops following (the iteration ends after the data already read). */
  signal?: AbortSignal;
  maxLineLength?: number;
  chunkBytes?: number;
}

export interface FollowStats {
  bytesRead: number;
  /** Files opened at the path: the first one, then one per rotation or reappearance. */
  filesOpened: number;
  /** Polls that found nothing at the path (before it first appears, or between rotations). */
  absentPolls: number;
  rotations: number;
  truncations: number;
  /** With `resumeFrom`: the rotated file it names, found next to the path (null: not looked for). */
  resumedFrom: string | null;
  /** With `resumeFrom`: the file it names was neither at the path nor next to it. */
  resumeLost: boolean;
}

/**
 * Follows a growing log file like `tail -F`, as line batches:
 * - rotation (the path now names another file, e.g. logrotate's `create`): the old file is read
 *   to its end first, then the new one from its start, so no line is lost across the switch; an
 *   unfinished last line of the old file is handed out as a line of its own;
 * - truncation in place (logrotate's `copytruncate`): reading restarts at offset 0;
 * - the file missing for a while (between rename and create): waits for it to appear.
 * Only whole lines are handed out (a line still being written waits for its newline; one longer
 * than a chunk is handed out in pieces, as a file is read). `position()` is the end of the lines
 * of every batch the consumer is done with (it asked for the next one), so a consumer that ships
 * a batch before asking for the next can save it at any moment; `position(true)` also counts
 * the batch it holds, for a consumer that stops after shipping it. Either is what a restart
 * passes back as `resumeFrom`.
 * Uses polling (portable, works on every file system and in containers); `pollMs` bounds latency.
 */
export function followLogFile(
  path: string,
  options: FollowOptions = {},
): {
  stats: FollowStats;
  batches: AsyncGenerator<LineBatch>;
  position: (taken?: boolean) => FollowPosition | null;
} {
  const stats: FollowStats = {
    bytesRead: 0,
    filesOpened: 0,
    absentPolls: 0,
    rotations: 0,
    truncations: 0,
    resumedFrom: null,
    resumeLost: false,
  };
  const at: { position: FollowPosition | null; handedOut: FollowPosition | null } = {
    position: null,
    handedOut: null,
  };
  const maxLineBytes = 4 * (options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH);
  return {
    stats,
    batches: splitLines(followBytes(path, options, maxLineBytes, stats, at), maxLineBytes),
    position: (taken = false) => {
      const position = taken ? (at.handedOut ?? at.position) : at.position;
      return position ? { ...position } : null;
    },
  };
}

/** A file next to `path` (its name starts with path's) that is the file `wanted` names. */
async function findRotated(path: string, wanted: FollowPosition): Promise<string | null> {
  const dir = dirname(path);
  const name = basename(path);
  const entries = await readdir(dir).catch(() => [] as string[]);
  for (const entry of entries) {
    if (entry === name || !entry.startsWith(name)) continue;
    const found = await stat(join(dir, entry)).catch(() => null);
    if (found?.isFile() && found.dev === wanted.dev && found.ino === wanted.ino) return join(dir, entry);
  }
  return null;
}

/**
 * Where "the end" of a file is for a follower starting there: after its last whole line, so a
 * line the writer is in the middle of is read whole once finished, not from its middle. Looks at
 * most `window` bytes back (a longer unfinished line starts at the end, as before).
 */
async function afterLastLine(handle: FileHandle, size: number, window: number): Promise<number> {
  const length = Math.min(size, window);
  if (length === 0) return size;
  const tail = Buffer.allocUnsafe(length);
  const { bytesRead } = await handle.read(tail, 0, length, size - length);
  if (bytesRead !== length || tail[length - 1] === 10) return size;
  const newline = tail.lastIndexOf(10);
  return newline >= 0 ? size - length + newline + 1 : length === size ? 0 : size;
}

async function* followBytes(
  path: string,
  options: FollowOptions,
  maxLineBytes: number,
  stats: FollowStats,
  at: { position: FollowPosition | null; handedOut: FollowPosition | null },
): AsyncGenerator<Buffer> {
  const pollMs = options.pollMs ?? 250;
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  const signal = options.signal;
  let handle: FileHandle | null = null;
  let dev = -1;
  let inode = -1;
  let position = 0;
  /** The file's size when its end was an unfinished line: nothing to read until it grows. */
  let unfinishedAt = -1;
  let first = true;
  let resume = options.resumeFrom ?? null;
  const wait = () => sleep(pollMs, undefined, { signal }).catch(() => undefined);
  /** Hands out bytes that end a line; `consumed` of them came from the file (default: all). */
  const handOut = (bytes: Buffer, consumed = bytes.length): Buffer => {
    position += consumed;
    stats.bytesRead += consumed;
    at.handedOut = { dev, ino: inode, offset: position };
    return bytes;
  };
  try {
    while (!signal?.aborted) {
      if (!handle) {
        let opened = path;
        let startAt: 'start' | 'end' | number = first && !options.fromStart ? 'end' : 'start';
        if (resume) {
          const current = await stat(path).catch(() => null);
          if (!(current && current.dev === resume.dev && current.ino === resume.ino)) {
            const rotated = await findRotated(path, resume);
            stats.resumedFrom = rotated;
            if (rotated) opened = rotated;
            else stats.resumeLost = true;
          }
          startAt = stats.resumeLost ? 'start' : resume.offset;
          resume = null;
        }
        try {
          handle = await open(opened, 'r');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          first = false; // a file that appears later is read from its start
          stats.absentPolls++;
          await wait();
          continue;
        }
        const current = await handle.stat();
        dev = current.dev;
        inode = current.ino;
        position =
          startAt === 'end'
            ? await afterLastLine(handle, current.size, maxLineBytes)
            : startAt === 'start'
              ? 0
              : startAt;
        if (position > current.size) {
          stats.truncations++; // shorter than where we stopped: truncated while we were away
          position = 0;
        }
        unfinishedAt = -1;
        first = false;
        stats.filesOpened++;
        at.position = { dev, ino: inode, offset: position };
        at.handedOut = at.position;
      }
      const size = (await handle.stat()).size;
      if (size < position) {
        stats.truncations++;
        position = 0;
        unfinishedAt = -1;
        at.position = { dev, ino: inode, offset: 0 };
        at.handedOut = at.position;
      }
      if (size > position && size !== unfinishedAt) {
        const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, size - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        const lastNewline = bytesRead > 0 ? buffer.lastIndexOf(10, bytesRead - 1) : -1;
        // Whole lines only; a chunk without any newline is part of a line longer than a chunk.
        const whole = lastNewline >= 0 ? lastNewline + 1 : bytesRead === chunkBytes ? bytesRead : 0;
        if (whole > 0) {
          yield handOut(buffer.subarray(0, whole));
          at.position = { dev, ino: inode, offset: position }; // the consumer came back for more
          continue;
        }
        if (bytesRead > 0)
          unfinishedAt = size; // a line still being written: wait for more
        else continue;
      }
      // At the end of the file we hold: has the path moved on to a new file?
      const atPath = await stat(path).catch(() => null);
      if (atPath && (atPath.ino !== inode || atPath.dev !== dev)) {
        // Lines appended to the old file between our size check and the rename are still to
        // read: drain it first (the loop comes back here once it is at its end again).
        const end = (await handle.stat()).size;
        if (end > position && end !== unfinishedAt) continue;
        if (end > position) {
          // Its last line was never finished: it is a line of its own, not the new file's start.
          const rest = Buffer.allocUnsafe(end - position + 1);
          const { bytesRead } = await handle.read(rest, 0, end - position, position);
          rest[bytesRead] = 10;
          yield handOut(rest.subarray(0, bytesRead + 1), bytesRead);
          at.position = { dev, ino: inode, offset: position };
        }
        stats.rotations++;
        await handle.close();
        handle = null;
        continue; // the new file is read from its start
      }
      await wait();
    }
  } finally {
    await handle?.close();
  }
}
