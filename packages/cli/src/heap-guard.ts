import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Caps V8's heap during a replay: once the heap in use passes `limitBytes`, a full collection is
 * forced, and the next one when it passes `growth` × what that one left (never below `limitBytes`).
 *
 * Why: a replay's state only grows (clients, decisions, the backtest), and with a heap limit of
 * gigabytes V8 sets its next full collection at up to 4× the live heap. Where the last natural one
 * falls is timing: a 1M-line replay whose last one fell at 6–7 s ended with ~130 MB of heap in use,
 * one whose last fell at 4–5 s with ~170 MB (everything promoted since, live or dead): peak RSS
 * ~280 vs ~320 MB. The limit is about where a 1M-line, 100k-client replay ends (~100 MB live plus
 * what a natural schedule leaves): such a run pays one or two forced collections (55–181 ms each on a
 * loaded 2-core machine, ~1 % of the run; docs/BENCHMARKS.md, memory pass 4), smaller replays
 * none. Longer replays whose state passes the limit collect at every `growth`× (1.5×: V8 waits for
 * up to 4×), trading a few more full collections for a heap bounded by its live state.
 *
 * A full collection on demand needs V8's `gc` function, which Node exposes only with
 * `--expose-gc`: the flag is set here for new contexts and the function taken from one, so the
 * command's own global scope is unchanged.
 */
export class HeapGuard {
  /** Full collections forced so far. */
  collections = 0;
  private threshold: number;

  constructor(
    readonly limitBytes = 128 * 1024 * 1024,
    readonly growth = 1.5,
    private readonly collect: () => void = exposedGc(),
  ) {
    this.threshold = limitBytes;
  }

  /** Collects when the heap in use is past the threshold (call between batches of work). */
  check(): void {
    if (v8.getHeapStatistics().used_heap_size < this.threshold) return;
    this.collect();
    this.collections++;
    this.threshold = Math.max(this.limitBytes, this.growth * v8.getHeapStatistics().used_heap_size);
  }
}

function exposedGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
