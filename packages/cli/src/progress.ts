import cliProgress from 'cli-progress';

/**
 * Progress on stderr for long replays: a bar with lines/s and ETA when the input size is known,
 * a running line count otherwise. Only on a terminal; silent when stderr is piped (CI, scripts).
 */
export class Progress {
  private readonly bar: cliProgress.SingleBar | null;
  private readonly started = Date.now();
  private lastUpdate = 0;

  constructor(
    private readonly totalBytes: number | null,
    enabled = process.stderr.isTTY === true,
  ) {
    if (!enabled) {
      this.bar = null;
      return;
    }
    const format =
      totalBytes !== null
        ? 'replay |{bar}| {percentage}% | {lines} lines | {rate} lines/s | ETA {eta_formatted}'
        : 'replay | {lines} lines | {rate} lines/s';
    this.bar = new cliProgress.SingleBar(
      { format, stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 50, fps: 5 },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(totalBytes ?? 1, 0, { lines: 0, rate: 0 });
  }

  update(bytesRead: number, lines: number): void {
    if (!this.bar) return;
    const now = Date.now();
    if (now - this.lastUpdate < 200) return;
    this.lastUpdate = now;
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    const payload = {
      lines: lines.toLocaleString('en-US'),
      rate: Math.round(lines / seconds).toLocaleString('en-US'),
    };
    this.bar.update(this.totalBytes !== null ? Math.min(bytesRead, this.totalBytes) : 0, payload);
  }

  /**
   * Writes a line of its own to stderr: over the bar while it shows (which redraws below it), with
   * line wrapping on for it (the bar turns it off, which would cut the line at the terminal's width).
   */
  message(text: string): void {
    process.stderr.write(this.bar ? `\r\x1b[K\x1b[?7h${text}\n\x1b[?7l` : `${text}\n`);
  }

  stop(): void {
    this.bar?.stop();
  }
}
