import { Worker } from 'node:worker_threads';
import type { BatchOutcome, InputMessage, RestoreOutcome, StageTasks, TaskSettings } from './stage-task.js';
import { decodeOutputs, encodeInputs, transferable } from './wire.js';

/**
 * How a worker thread builds the stage: `module` (a URL) exports `export`, a function that returns
 * the StageFactory from `args` (plain data: it is structured-cloned into the worker).
 */
export interface StageRecipe {
  module: string;
  export: string;
  args: unknown;
}

export interface StageWorkerData {
  recipe: StageRecipe;
  settings: TaskSettings;
}

export type WorkerRequest =
  | {
      op: 'open';
      req: number;
      task: number;
      partition: number;
      saved: ArrayBuffer | null;
      logEnd: string | undefined;
    }
  | { op: 'process'; req: number; task: number; topic: string; messages: ArrayBuffer }
  | { op: 'checkpoint'; req: number; task: number }
  | { op: 'drop'; req: number; task: number };

export type WorkerReply = { req: number } & (
  | { opened: RestoreOutcome }
  | { processed: Omit<BatchOutcome, 'outputs'> & { outputs: ArrayBuffer } }
  | { checkpoint: ArrayBuffer }
  | { error: string }
  | { dropped: true }
);

interface Waiter {
  resolve: (reply: WorkerReply) => void;
  reject: (error: Error) => void;
}

interface Slot {
  index: number;
  /** null after a crash, until the next request starts a fresh one (no restart loop). */
  worker: Worker | null;
  /** Tasks living in this worker (their state dies with it). */
  tasks: Set<number>;
  waiting: Map<number, Waiter>;
}

/**
 * The runner's tasks in worker threads: each task lives in one worker (the one with the fewest
 * tasks when it opened), so a worker runs its partitions' batches one after another while the
 * others run theirs; the runner's thread keeps kafkajs, Redis and the producer. Batches and
 * outputs cross as transferred bytes (wire.ts).
 *
 * A worker that crashes fails every request waiting on it (the runner fails those batches as any
 * failed batch: task dropped, partition rewound to its checkpoint), its other tasks are reported
 * lost through `onLost`, and a fresh worker takes its place.
 */
export class StagePool implements StageTasks {
  private readonly slots: Slot[];
  private readonly slotOf = new Map<number, Slot>();
  private nextRequest = 0;
  private closed = false;

  constructor(
    readonly size: number,
    private readonly data: StageWorkerData,
    private readonly onLost: (tasks: number[], error: Error) => void,
  ) {
    this.slots = Array.from({ length: size }, (_, index) => {
      const slot: Slot = { index, worker: null, tasks: new Set(), waiting: new Map() };
      // Started now: loading the stage's modules takes a few hundred ms, while the runner connects.
      slot.worker = this.spawn(slot);
      return slot;
    });
  }

  async open(id: number, partition: number, saved: Buffer | null, logEnd?: string): Promise<RestoreOutcome> {
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.tasks.size < slot.tasks.size) slot = s;
    slot.tasks.add(id);
    this.slotOf.set(id, slot);
    const bytes = saved === null ? null : transferable(saved);
    try {
      const reply = await this.request(
        slot,
        { op: 'open', req: 0, task: id, partition, saved: bytes, logEnd },
        bytes ? [bytes] : [],
      );
      return (reply as { opened: RestoreOutcome }).opened;
    } catch (error) {
      // Not opened (the stage or its restore threw, or the worker died): nothing to remember.
      this.drop(id);
      throw error;
    }
  }

  async process(id: number, topic: string, messages: readonly InputMessage[]): Promise<BatchOutcome> {
    const encoded = encodeInputs(messages);
    const reply = await this.request(
      this.slot(id),
      { op: 'process', req: 0, task: id, topic, messages: encoded },
      [encoded],
    );
    const { outputs, ...outcome } = (
      reply as { processed: Omit<BatchOutcome, 'outputs'> & { outputs: ArrayBuffer } }
    ).processed;
    return { ...outcome, outputs: decodeOutputs(outputs) };
  }

  async checkpoint(id: number): Promise<Buffer> {
    const reply = await this.request(this.slot(id), { op: 'checkpoint', req: 0, task: id }, []);
    return Buffer.from((reply as { checkpoint: ArrayBuffer }).checkpoint);
  }

  drop(id: number): void {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return;
    this.slotOf.delete(id);
    slot.tasks.delete(id);
    // Nothing waits for it: a worker that dies meanwhile has forgotten the task anyway.
    this.request(slot, { op: 'drop', req: 0, task: id }, []).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((slot) => slot.worker?.terminate()));
  }

  private slot(id: number): Slot {
    const slot = this.slotOf.get(id);
    if (slot === undefined) throw new Error(`stage task ${id} was lost with its worker`);
    return slot;
  }

  private request(slot: Slot, request: WorkerRequest, transfer: ArrayBuffer[]): Promise<WorkerReply> {
    if (this.closed) return Promise.reject(new Error('the stage workers are closed'));
    const req = ++this.nextRequest;
    return new Promise<WorkerReply>((resolve, reject) => {
      slot.waiting.set(req, { resolve, reject });
      slot.worker ??= this.spawn(slot);
      slot.worker.postMessage({ ...request, req }, transfer);
    });
  }

  private spawn(slot: Slot): Worker {
    const worker = new Worker(new URL('./stage-worker.js', import.meta.url), { workerData: this.data });
    worker.on('message', (reply: WorkerReply) => {
      const waiter = slot.waiting.get(reply.req);
      if (waiter === undefined) return;
      slot.waiting.delete(reply.req);
      if ('error' in reply) waiter.reject(new Error(`stage worker ${slot.index}: ${reply.error}`));
      else waiter.resolve(reply);
    });
    let failed = false;
    const fail = (error: Error) => {
      if (failed || this.closed) return;
      failed = true;
      for (const waiter of slot.waiting.values()) waiter.reject(error);
      slot.waiting.clear();
      const lost = [...slot.tasks];
      for (const id of lost) this.slotOf.delete(id);
      slot.tasks.clear();
      if (slot.worker === worker) slot.worker = null;
      void worker.terminate();
      this.onLost(lost, error);
    };
    worker.on('error', (error) => fail(new Error(`stage worker ${slot.index} crashed: ${error.message}`)));
    worker.on('exit', (code) => fail(new Error(`stage worker ${slot.index} exited with code ${code}`)));
    return worker;
  }
}
