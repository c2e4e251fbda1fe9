import {
  closeSync,
  constants,
  createWriteStream,
  fstatSync,
  ftruncateSync,
  openSync,
  statSync,
  unlinkSync,
  type WriteStream,
} from 'node:fs';
import { resolve } from 'node:path';
import { BadInput, systemErrorText } from '@edgeguard/schema';

/**
 * Opens (creates or truncates) an output file now, so that a path that cannot be written fails
 * before any input is read, naming the flag it came from and the OS's reason — not after a
 * whole replay. Returns the file descriptor.
 */
export function openOutput(flag: string, path: string): number {
  return openOutputs([[flag, path]])[0]!;
}

/**
 * Opens (creates or truncates) several output files, all or none: each is first opened without
 * truncating, and only once every one is open are they emptied. When one cannot be opened, those
 * already open are closed, the ones this call created are removed, and the error names the flag,
 * the path and the OS's reason — so an existing `--report` is not emptied because `--verdicts`
 * names a missing directory. Returns the file descriptors, null where the path is undefined.
 */
export function openOutputs(outputs: [flag: string, path: string | undefined][]): (number | null)[] {
  const opened: { fd: number; path: string; created: boolean }[] = [];
  const fds: (number | null)[] = [];
  try {
    for (const [flag, path] of outputs) {
      if (path === undefined) {
        fds.push(null);
        continue;
      }
      const created = statSync(path, { throwIfNoEntry: false }) === undefined;
      let fd: number;
      try {
        fd = openSync(path, constants.O_WRONLY | constants.O_CREAT);
      } catch (error) {
        throw new BadInput('bad-output', `${flag} ${path}: cannot write it: ${systemErrorText(error)}`, flag);
      }
      opened.push({ fd, path, created });
      fds.push(fd);
    }
  } catch (error) {
    for (const { fd, path, created } of opened) {
      closeSync(fd);
      if (created) unlinkSync(path);
    }
    throw error;
  }
  // Only regular files are emptied: /dev/stdout, /dev/null or a pipe cannot be, and need not be.
  for (const { fd } of opened) if (fstatSync(fd).isFile()) ftruncateSync(fd, 0);
  return fds;
}

/**
 * Refuses, before any output is created or truncated, an output that is the input log (opening it
 * would empty the log before it is read) and two outputs naming one file (each would truncate the
 * other's lines). Paths are compared resolved, and for files that exist by device and inode too, so
 * that `./x`, a symlink or a hard link is caught. The input `-` (stdin) never clashes; an output
 * `-` is refused (it is not stdout: it would create a file named '-'). `outputs`:
 * flag and path, the path undefined when the flag is not given.
 */
export function refuseClashingOutputs(
  input: string,
  outputs: [flag: string, path: string | undefined][],
): void {
  // `-` is stdin for the input only: as an output it would create a file named '-'.
  const dash = outputs.find(([, path]) => path === '-');
  if (dash)
    throw new BadInput(
      'bad-output',
      `${dash[0]} -: outputs are files ('-' would create one named '-'); to print it, give /dev/stdout (with --quiet)`,
      dash[0],
    );
  const named = outputs.flatMap(([flag, path]) =>
    path === undefined ? [] : [{ flag, path, ...fileIdentity(path) }],
  );
  if (input !== '-') {
    const log = fileIdentity(input);
    const clash = named.find((output) => sameFile(output, log));
    if (clash)
      throw new BadInput(
        'bad-output',
        `${clash.flag} ${clash.path} is the input log ${input}: writing it would empty the log before it is read`,
        clash.flag,
      );
  }
  for (const [i, output] of named.entries()) {
    const earlier = named.slice(0, i).find((other) => sameFile(other, output));
    if (!earlier) continue;
    const both =
      earlier.path === output.path
        ? `${earlier.flag} and ${output.flag} both name ${output.path}`
        : `${earlier.flag} ${earlier.path} and ${output.flag} ${output.path} are the same file`;
    throw new BadInput('bad-output', `${both}: each output needs a file of its own`, output.flag);
  }
}

interface FileIdentity {
  resolved: string;
  /** `dev:ino` of an existing file, null for a path with no file (yet). */
  inode: string | null;
}

function fileIdentity(path: string): FileIdentity {
  let inode: string | null = null;
  try {
    const stats = statSync(path, { throwIfNoEntry: false });
    if (stats) inode = `${stats.dev}:${stats.ino}`;
  } catch {
    // Not statable (a directory not searchable...): compared by path only; opening it reports why.
  }
  return { resolved: resolve(path), inode };
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.resolved === b.resolved || (a.inode !== null && a.inode === b.inode);
}

/**
 * Appends JSON lines to a file through a buffered stream. Writes are batched into chunks of about
 * 64 KiB so that millions of verdict lines do not become millions of syscalls; `close()` waits
 * until everything is on disk and reports write errors. The file is opened by the constructor
 * (see openOutput) unless the caller opened it already.
 */
export class NdjsonWriter {
  private readonly stream: WriteStream;
  private buffer = '';
  private error: Error | null = null;
  count = 0;

  constructor(
    readonly path: string,
    /** The flag that named the file, for error messages. */
    flag: string,
    /** The file already opened by `openOutputs` (default: opened now). */
    fd: number = openOutput(flag, path),
  ) {
    this.stream = createWriteStream(path, { fd });
    this.stream.on('error', (error) => {
      this.error = error;
    });
  }

  write(value: unknown): void {
    this.buffer += `${JSON.stringify(value)}\n`;
    this.count++;
    if (this.buffer.length >= 65_536) this.flush();
  }

  /** Resolves when the OS has the chunk, so a caller can honour backpressure between batches. */
  async drain(): Promise<void> {
    this.flush();
    if (this.stream.writableNeedDrain && !this.error)
      await new Promise<void>((resolve) => this.stream.once('drain', resolve));
  }

  private flush(): void {
    if (this.buffer && !this.error) this.stream.write(this.buffer);
    this.buffer = '';
  }

  async close(): Promise<void> {
    this.flush();
    // A stream that failed is destroyed: end() on it would only say "Cannot call end after a
    // stream was destroyed", without the file or the cause.
    if (!this.error) {
      await new Promise<void>((resolve) => {
        this.stream.end((error?: Error | null) => {
          this.error ??= error ?? null;
          resolve();
        });
      });
    }
    if (this.error) throw new Error(`cannot write ${this.path}: ${this.error.message}`);
  }
}
