import { Worker } from 'node:worker_threads';
import type { FieldCut } from '@edgeguard/logformat';

export interface ParseWorkerData {
  format: string;
  parser: { trustedProxies?: string[]; maxLineLength?: number; maxFieldLength?: number };
  partitions: number;
  batchRecords: number;
  /** An envelope larger than this is split (when it has more than one record). */
  maxMessageBytes: number;
  maxLineBytes: number;
}

export interface ChunkRequest {
  seq: number;
  chunk: ArrayBuffer;
  length: number;
}

/** A rejected line as it crosses threads (index: 0-based line number within the chunk). */
export interface WireReject {
  index: number;
  reason: string;
  message: string;
  field: string | undefined;
  line: string;
}

/** A kept line whose fields were cut to maxFieldLength, as it crosses threads (index as WireReject's). */
export interface WireFieldCuts {
  index: number;
  cuts: readonly FieldCut[];
  line: string;
}

export interface ChunkResult {
  seq: number;
  /** Lines in the chunk, empty ones included (line numbers stay true). */
  lines: number;
  /** Each parsed record's event time as logged, in input order (for the clock-jump guard). */
  times: Float64Array;
  /** The chunk itself, handed back: parsed again in the main thread when the guard corrects a time. */
  chunk: ArrayBuffer;
  chunkLength: number;
  /** The chunk's Avro batch envelopes, back to back. */
  values: ArrayBuffer;
  /** Per envelope, 5 numbers: partition, offset in `values`, length, records, last record's time. */
  messages: Float64Array;
  rejects: WireReject[];
  fieldCuts: WireFieldCuts[];
}

interface Slot {
  worker: Worker;
  /** Chunks posted to this worker and not answered yet. */
  waiting: Map<number, { resolve: (r: ChunkResult) => void; reject: (e: Error) => void }>;
}

/**
 * Worker threads that parse chunks of whole lines and encode them into per-partition Avro batch
 * envelopes (parse-worker.ts). `parse` posts a chunk (its ArrayBuffer is transferred, not copied)
 * to the worker with the fewest chunks outstanding; results come back as transferred buffers.
 * The caller bounds how many chunks are outstanding and consumes results in submission order,
 * which keeps every partition's records (so every client's lines) in input order.
 */
export class ParsePool {
  private readonly slots: Slot[];
  private failure: Error | null = null;
  private closed = false;

  /**
   * Starts the workers at once (each loads the parsers and the encoder, a few hundred ms, while
   * the caller connects to Kafka); `start` tells them what to do.
   */
  constructor(readonly size: number) {
    const script = new URL('./parse-worker.js', import.meta.url);
    this.slots = Array.from({ length: size }, () => {
      const worker = new Worker(script);
      const slot: Slot = { worker, waiting: new Map() };
      worker.on('message', (message: ChunkResult | { seq: number; error: string }) => {
        const waiter = slot.waiting.get(message.seq);
        if (!waiter) return;
        slot.waiting.delete(message.seq);
        if ('error' in message) waiter.reject(new Error(`parse worker: ${message.error}`));
        else waiter.resolve(message);
      });
      const fail = (error: Error) => {
        this.failure ??= error;
        for (const waiter of slot.waiting.values()) waiter.reject(error);
        slot.waiting.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (!this.closed) fail(new Error(`parse worker exited with code ${code}`));
      });
      return slot;
    });
  }

  /** The settings for every chunk to come (before the first `parse`). */
  start(settings: ParseWorkerData): void {
    for (const slot of this.slots) slot.worker.postMessage({ settings });
  }

  /** Parses one chunk (a Buffer at the start of its ArrayBuffer, which is handed over). */
  parse(seq: number, chunk: Buffer): Promise<ChunkResult> {
    if (this.failure) return Promise.reject(this.failure);
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.waiting.size < slot.waiting.size) slot = s;
    const { buffer, byteOffset, byteLength } = chunk;
    if (byteOffset !== 0) throw new Error('parse pool: a chunk must start its ArrayBuffer');
    return new Promise<ChunkResult>((resolve, reject) => {
      slot.waiting.set(seq, { resolve, reject });
      const request: ChunkRequest = { seq, chunk: buffer as ArrayBuffer, length: byteLength };
      slot.worker.postMessage(request, [buffer as ArrayBuffer]);
    });
  }

  /** Parses the chunks posted from now on as `format` (`auto` settled on the first lines). */
  setFormat(format: string): void {
    for (const slot of this.slots) slot.worker.postMessage({ format });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }
}
