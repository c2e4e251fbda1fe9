import { type FileHandle, open, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_MAX_LINE_LENGTH } from './parser.js';
import { type LineBatch, splitLines } from './source.js';

export interface FollowOptions {
  /** Start at the beginning of the current file (default: at its end, like `tail -F`). */
  fromStart?: boolean;
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
}

/**
 * Follows a growing log file like `tail -F`, as line batches:
 * - rotation (the path now names another file, e.g. logrotate's `create`): the old file is read
 *   to its end first, then the new one from its start, so no line is lost across the switch;
 * - truncation in place (logrotate's `copytruncate`): reading restarts at offset 0;
 * - the file missing for a while (between rename and create): waits for it to appear.
 * Uses polling (portable, works on every file system and in containers); `pollMs` bounds latency.
 */
export function followLogFile(
  path: string,
  options: FollowOptions = {},
): { stats: FollowStats; batches: AsyncGenerator<LineBatch> } {
  const stats: FollowStats = { bytesRead: 0, filesOpened: 0, absentPolls: 0, rotations: 0, truncations: 0 };
  const maxLineBytes = 4 * (options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH);
  return { stats, batches: splitLines(followBytes(path, options, stats), maxLineBytes) };
}

async function* followBytes(
  path: string,
  options: FollowOptions,
  stats: FollowStats,
): AsyncGenerator<Buffer> {
  const pollMs = options.pollMs ?? 250;
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  const signal = options.signal;
  let handle: FileHandle | null = null;
  let inode = -1;
  let position = 0;
  let first = true;
  const wait = () => sleep(pollMs, undefined, { signal }).catch(() => undefined);
  try {
    while (!signal?.aborted) {
      if (!handle) {
        try {
          handle = await open(path, 'r');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          first = false; // a file that appears later is read from its start
          stats.absentPolls++;
          await wait();
          continue;
        }
        const current = await handle.stat();
        inode = current.ino;
        position = first && !options.fromStart ? current.size : 0;
        first = false;
        stats.filesOpened++;
      }
      const size = (await handle.stat()).size;
      if (size < position) {
        stats.truncations++;
        position = 0;
      }
      if (size > position) {
        const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, size - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        position += bytesRead;
        stats.bytesRead += bytesRead;
        if (bytesRead > 0) yield buffer.subarray(0, bytesRead);
        continue;
      }
      // At the end of the file we hold: has the path moved on to a new file?
      const atPath = await stat(path).catch(() => null);
      if (atPath && atPath.ino !== inode) {
        // Lines appended to the old file between our size check and the rename are still to
        // read: drain it first (the loop comes back here once it is at its end again).
        if ((await handle.stat()).size > position) continue;
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
