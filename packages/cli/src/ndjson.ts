import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * Appends JSON lines to a file through a buffered stream. Writes are batched into chunks of about
 * 64 KiB so that millions of verdict lines do not become millions of syscalls; `close()` waits
 * until everything is on disk and reports write errors.
 */
export class NdjsonWriter {
  private readonly stream: WriteStream;
  private buffer = '';
  private error: Error | null = null;
  count = 0;

  constructor(readonly path: string) {
    this.stream = createWriteStream(path);
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
    if (this.stream.writableNeedDrain)
      await new Promise<void>((resolve) => this.stream.once('drain', resolve));
  }

  private flush(): void {
    if (this.buffer) this.stream.write(this.buffer);
    this.buffer = '';
  }

  async close(): Promise<void> {
    this.flush();
    await new Promise<void>((resolve, reject) => {
      this.stream.end((error?: Error | null) => (error ? reject(error) : resolve()));
    });
    if (this.error) throw new Error(`cannot write ${this.path}: ${this.error.message}`);
  }
}
