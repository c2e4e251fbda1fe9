import { readFile, rename, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { FollowPosition } from '@edgeguard/logformat';
import { BadInput } from '@edgeguard/schema';

/**
 * A followed file's position, saved so that a restarted shipper resumes where the broker last
 * acknowledged instead of at the file's end (lines written while it was down are shipped). The
 * same idea as Filebeat's registry or Fluent Bit's tail database: the file is named by device and
 * inode, so a file rotated while the shipper was down is still found under its new name.
 */
export interface SavedPosition extends FollowPosition {
  /** The followed path, absolute: a position file of another path is not used. */
  path: string;
  savedAt: string;
}

/**
 * The saved position for `input`, or null when there is none yet (no file). A file that cannot
 * be read as one, or that names another path, is an error naming the file: following from the
 * wrong place would lose or repeat lines without a word.
 */
export async function readPosition(file: string, input: string): Promise<FollowPosition | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let saved: Partial<SavedPosition>;
  try {
    saved = JSON.parse(text) as Partial<SavedPosition>;
  } catch {
    saved = {};
  }
  const whole = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!(whole(saved.dev) && whole(saved.ino) && whole(saved.offset) && typeof saved.path === 'string'))
    throw new BadInput(
      'bad-config',
      `position file ${file} is not a saved position ({path, dev, ino, offset}); remove it to follow from the file's end, or fix it`,
      'positionFile',
    );
  if (saved.path !== resolve(input))
    throw new BadInput(
      'bad-config',
      `position file ${file} is for ${saved.path}, not ${resolve(input)}; give each followed file its own position file`,
      'positionFile',
    );
  return { dev: saved.dev, ino: saved.ino, offset: saved.offset };
}

/** Saves a position atomically (a whole file renamed over the old one: never half-written). */
export async function savePosition(file: string, input: string, position: FollowPosition): Promise<void> {
  const saved: SavedPosition = { path: resolve(input), ...position, savedAt: new Date().toISOString() };
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(saved)}\n`);
  await rename(temporary, file);
}
