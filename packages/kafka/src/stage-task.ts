import type { BusMessage, Emitter, Stage, StageFactory } from '@edgeguard/pipeline';
import { partitionFor, TOPICS } from '@edgeguard/pipeline';
import { type AccessLog, BadInput, type StageRecordWriter, stageRecords } from '@edgeguard/schema';
import type { IHeaders, Message } from 'kafkajs';
import {
  decodeRecordBatch,
  decodeTopicValue,
  encodeJson,
  eventTimeOf,
  HEADERS,
  headerText,
  isRecordBatch,
  RECORD_BATCH_FORMAT,
  RECORD_BATCH_TOPICS,
  type TopicRecord,
} from './codec.js';

/**
 * The per-partition core of the stage runner: one stage instance, its checkpoint, and everything
 * done to a batch of input messages between the fetch and the produce (decoding, duplicate and
 * bad-header checks, the stage, dead letters, output encoding, end markers). It knows nothing of
 * kafkajs' consumer, Redis or threads, so the runner runs it the same way on its own thread
 * (`InlineTasks`) or in worker threads (stage-pool.ts): one code path for the per-message logic.
 */

/** What the runner tells every task: plain data, so that it can be posted to a worker. */
export interface TaskSettings {
  /** The stage's name: the source of its outputs is `<name>/<partition>`. */
  stageName: string;
  /** `EDGEGUARD_TOPIC_PREFIX` of every topic. */
  prefix: string;
  /** Partition count of every topic. */
  partitions: Record<string, number>;
  /** Topics end-of-input markers are passed on to. */
  outputs: string[];
  /** How many instances of this stage exist (the `eg-src-of` header of its outputs). */
  sources: number;
}

/** What is checkpointed per input partition: the state and the offset it corresponds to. */
export interface Checkpoint {
  /** The next input offset to process (every earlier one is inside `state`). */
  nextOffset: string;
  /** This instance's output sequence number (outputs are re-numbered identically after a restore). */
  outSeq: number;
  /** Highest sequence seen per upstream source: duplicates after an upstream restart are dropped. */
  lastSeq: Record<string, number>;
  /** Upstream sources that sent end-of-input. */
  ended: string[];
  state: unknown;
  savedAt: number;
}

/** A consumed message as the task needs it (kafkajs' message, or one decoded from a worker's wire). */
export interface InputMessage {
  offset: string;
  timestamp: string;
  key?: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

export interface PendingOutput {
  topic: string;
  message: Message;
}

/** A message routed to the dead-letter topic, for the runner's log line and counter. */
export interface DeadLetterNote {
  topic: string;
  partition: number;
  offset: string;
  index?: number;
  reason: string;
  error: string;
  /** The value was cut to MAX_DEAD_LETTER_BYTES: its original size. */
  truncated?: number;
}

export interface BatchOutcome {
  /** Messages processed from the start of the batch (all of them unless told to stop). */
  processed: number;
  /** The next input offset once those are processed. */
  nextOffset: string;
  /** Outputs, dead letters and end markers, in the order they are to be produced. */
  outputs: PendingOutput[];
  /** Values the stage processed. */
  events: number;
  /** Messages or records dropped as already seen. */
  duplicates: number;
  deadLetters: DeadLetterNote[];
}

/**
 * How a task began: `empty` (no checkpoint), `restored` (state and offset from the checkpoint), or
 * `replay` (rebuild the state from the partition's first offset; the outputs of inputs before
 * `savedOffset` were sent already). `unreadable`: the saved checkpoint was not one.
 */
export interface RestoreOutcome {
  kind: 'empty' | 'restored' | 'replay';
  unreadable: boolean;
  nextOffset: string;
  /** The checkpoint's offset, when it was readable (what a replay catches up to). */
  savedOffset?: string;
  /**
   * The checkpoint's offset is past the partition's log end: it belongs to an older incarnation of
   * the topic (deleted and created again, or truncated). A replay that sends every output,
   * numbered above the checkpoint's `outSeq`.
   */
  stale?: { outSeq: number };
}

/** Upstream sources remembered per partition (each is a stage instance: `<stage>/<partition>`). */
const MAX_SOURCES = 4096;
const COUNT = /^[0-9]{1,15}$/;

/** A dead letter's reason when what failed was not a BadInput. */
const PROCESSING_ERROR = 'processing-error';

/**
 * Bytes of a dead letter's value: the rest is cut (`eg-truncated` holds the original size), so a
 * bad input near the broker's message size does not make a dead letter the broker refuses.
 */
export const MAX_DEAD_LETTER_BYTES = 256 * 1024;

/** The headers a dead letter is given (the rest are the input message's own). */
export const DEAD_LETTER_HEADERS: readonly string[] = [
  HEADERS.error,
  HEADERS.originTopic,
  HEADERS.originPartition,
  HEADERS.originOffset,
  HEADERS.originIndex,
  HEADERS.stage,
  HEADERS.truncated,
];

/**
 * The known reasons an input is dead-lettered (edgeguard_dead_letters_total's `reason`, whose
 * series start at 0): not decodable (`undecodable`, `unknown-schema`: codec.ts and
 * packages/schema), bad provenance headers (`bad-header`, here), refused by the stage
 * (`not-an-access-log`: the profiler, packages/pipeline; `bad-content-partial`: content-watch and
 * `bad-signal`: the decider, packages/detect), or an error that is not a BadInput
 * (`processing-error`). A BadInput of another reason thrown by a stage is counted under it as well.
 */
export const DEAD_LETTER_REASONS: readonly string[] = [
  'undecodable',
  'unknown-schema',
  'bad-header',
  'not-an-access-log',
  'bad-content-partial',
  'bad-signal',
  PROCESSING_ERROR,
];

/** Bytes per produce request: below the broker's default message.max.bytes of 1 MiB. */
export const MAX_REQUEST_BYTES = 768 * 1024;

/**
 * Bytes of Avro-encoded records per batch message (a record that does not fit starts the next
 * one), so a batch stays well under MAX_REQUEST_BYTES.
 */
const MAX_BATCH_BYTES = 192 * 1024;

const blankCheckpoint = (): Checkpoint => ({
  nextOffset: '0',
  outSeq: 0,
  lastSeq: {},
  ended: [],
  state: null,
  savedAt: 0,
});

/**
 * Why a message's edgeguard headers cannot be trusted, or null: a sequence or source count that is
 * not a whole number would disable duplicate detection or end a stage's input early, and every new
 * source name is remembered in the checkpoint.
 */
function badHeaders(
  headers: IHeaders | undefined,
  source: string | undefined,
  sequence: string | undefined,
  lastSeq: Record<string, number>,
): BadInput | null {
  if (sequence !== undefined && !COUNT.test(sequence))
    return new BadInput('bad-header', `${HEADERS.sequence} is not a whole number: ${sequence.slice(0, 40)}`);
  const sources = headerText(headers, HEADERS.sources);
  if (sources !== undefined && (!COUNT.test(sources) || Number(sources) < 1))
    return new BadInput('bad-header', `${HEADERS.sources} is not a count ≥ 1: ${sources.slice(0, 40)}`);
  if (source !== undefined && !(source in lastSeq) && Object.keys(lastSeq).length >= MAX_SOURCES)
    return new BadInput('bad-header', `more than ${MAX_SOURCES} upstream sources on one partition`);
  return null;
}

/**
 * Where an output comes from, in its headers: event time, the emitting stage instance, its output
 * sequence number (what consumers drop duplicates by) and how many instances feed the topic.
 */
function provenance(source: string, sources: string, time: number, seq: number): IHeaders {
  return {
    [HEADERS.eventTime]: String(time),
    [HEADERS.source]: source,
    [HEADERS.sequence]: String(seq),
    [HEADERS.sources]: sources,
  };
}

/** A saved checkpoint, or null when the text is not one (foreign, cut short, another version). */
function parseCheckpoint(text: string): Checkpoint | null {
  let value: Partial<Checkpoint>;
  try {
    value = JSON.parse(text) as Partial<Checkpoint>;
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  const ok =
    typeof value.nextOffset === 'string' &&
    /^[0-9]{1,20}$/.test(value.nextOffset) &&
    Number.isSafeInteger(value.outSeq) &&
    value.lastSeq !== null &&
    typeof value.lastSeq === 'object' &&
    Object.values(value.lastSeq).every(Number.isSafeInteger) &&
    Array.isArray(value.ended) &&
    'state' in value;
  return ok ? (value as Checkpoint) : null;
}

/** The state of one batch being processed: where its outputs go, and what it counted. */
interface BatchWork {
  topic: string;
  outputs: PendingOutput[];
  batches: RecordBatches;
  emitter: Emitter;
  events: number;
  duplicates: number;
  deadLetters: DeadLetterNote[];
  /**
   * End-of-input markers to pass on after the batch's outputs: their event time, and whether the
   * end came from an input whose outputs were sent before the restart (numbered, not sent again).
   */
  ends: { timestamp: number; resent: boolean }[];
}

/** One stage instance on one input partition (a Kafka Streams task), with its checkpoint. */
export class StageTask {
  private checkpoint = blankCheckpoint();
  /**
   * While replaying after a restart: the restored checkpoint's offset. Every output of an input
   * before it was sent (and acknowledged) before the checkpoint was written, so it is not sent
   * again; every output of an input at or past it is sent. Null once the replay reached it.
   */
  private resendUntil: bigint | null = null;
  /** The restored checkpoint's output sequence: numbering goes on above it once the replay is done. */
  private savedOutSeq = 0;
  /** The input being processed is one whose outputs were sent before the restart. */
  private resending = false;
  private readonly source: string;
  /** Outputs to record-batch topics of the batch being processed (their buffers kept between batches). */
  private readonly batches: RecordBatches;

  constructor(
    private readonly stage: Stage,
    readonly partition: number,
    private readonly settings: TaskSettings,
  ) {
    this.source = `${settings.stageName}/${partition}`;
    this.batches = new RecordBatches(settings.prefix, this.source, String(settings.sources));
  }

  get nextOffset(): string {
    return this.checkpoint.nextOffset;
  }

  /**
   * Takes over a saved checkpoint (Redis text, or null when there is none). With a stage that
   * snapshots its state, the state is restored and processing resumes at its offset. Otherwise the
   * runner replays the partition from its first retained offset: stages are deterministic, so the
   * replay regenerates the same state and the same outputs with the same sequence numbers, and the
   * outputs sent before are not sent again.
   *
   * `logEnd` is the partition's log end offset (high watermark): a checkpoint past it was written
   * for an older incarnation of the topic (deleted and created again, or truncated), whose offsets
   * say nothing of this one's. Its state and offset are not used: the partition is replayed from
   * its start and every output is sent (none of the new inputs' outputs was), numbered above the
   * checkpoint's sequence so that consumers downstream do not drop them as already seen.
   */
  restore(saved: string | null, logEnd?: string): RestoreOutcome {
    if (saved === null) return { kind: 'empty', unreadable: false, nextOffset: '0' };
    const checkpoint = parseCheckpoint(saved);
    if (checkpoint !== null && logEnd !== undefined && BigInt(checkpoint.nextOffset) > BigInt(logEnd)) {
      this.checkpoint.outSeq = checkpoint.outSeq;
      return {
        kind: 'replay',
        unreadable: false,
        nextOffset: '0',
        savedOffset: checkpoint.nextOffset,
        stale: { outSeq: checkpoint.outSeq },
      };
    }
    if (checkpoint !== null && checkpoint.state !== null && this.stage.restore) {
      this.stage.restore(checkpoint.state);
      this.checkpoint = checkpoint;
      return { kind: 'restored', unreadable: false, nextOffset: checkpoint.nextOffset };
    }
    // Replay from the partition's first retained offset. The outputs sent before are known by the
    // input offset they came from, not by counting outputs: the replay may produce fewer or more
    // of them than the first run (retention deleted the partition's oldest input, the stage's
    // configuration changed), and counting would then drop live outputs or send old ones again.
    // A checkpoint that is not ours or cut short: everything is sent again, numbered from 1 as
    // before, so consumers downstream drop the ones they already have.
    if (checkpoint !== null) {
      this.resendUntil = BigInt(checkpoint.nextOffset);
      this.savedOutSeq = checkpoint.outSeq;
    }
    return {
      kind: 'replay',
      unreadable: checkpoint === null,
      nextOffset: '0',
      savedOffset: checkpoint?.nextOffset,
    };
  }

  /** The task is dropped: its stage instance gets no more input. */
  close(): void {
    this.stage.close?.();
  }

  /** The checkpoint with the stage's current state, as saved in Redis. */
  checkpointText(): string {
    this.checkpoint.state = this.stage.snapshot ? this.stage.snapshot() : null;
    this.checkpoint.savedAt = Date.now();
    return JSON.stringify(this.checkpoint);
  }

  /**
   * Processes messages of `topic` (all at or past `nextOffset`, in offset order) until
   * `keepGoing` says stop; the outputs are to be produced and acknowledged before the offsets
   * count as done.
   */
  process(topic: string, messages: readonly InputMessage[], keepGoing: () => boolean = always): BatchOutcome {
    const work = this.newBatch(topic);
    let processed = 0;
    for (const message of messages) {
      if (!keepGoing()) break;
      this.enter(BigInt(message.offset));
      this.processMessage(work, message);
      this.checkpoint.nextOffset = (BigInt(message.offset) + 1n).toString();
      processed++;
    }
    for (const output of work.batches.drain()) work.outputs.push(output);
    for (const end of work.ends) this.passEndOn(work, end.timestamp, end.resent);
    return {
      processed,
      nextOffset: this.checkpoint.nextOffset,
      outputs: work.outputs,
      events: work.events,
      duplicates: work.duplicates,
      deadLetters: work.deadLetters,
    };
  }

  /**
   * Before an input is processed during a replay: are its outputs ones sent before the restart?
   * At the first input at or past the restored offset the replay is over, and sequence numbers go
   * on above both the replay's and the checkpoint's (consumers downstream drop any number not above
   * the highest they have seen from this source).
   */
  private enter(offset: bigint): void {
    if (this.resendUntil === null) return;
    if (offset < this.resendUntil) {
      this.resending = true;
      return;
    }
    this.resending = false;
    this.resendUntil = null;
    this.checkpoint.outSeq = Math.max(this.checkpoint.outSeq, this.savedOutSeq);
  }

  private newBatch(topic: string): BatchWork {
    const { prefix, partitions } = this.settings;
    const sources = String(this.settings.sources);
    const outputs: PendingOutput[] = [];
    const batches = this.batches;
    batches.discard(); // anything left by a batch that failed
    const emitter: Emitter = {
      emit: (outTopic, outKey, value, timestamp, version) => {
        const seq = ++this.checkpoint.outSeq;
        if (this.resending) return; // sent before the restart
        const partition = partitionFor(outKey, partitions[outTopic] ?? 1);
        if (value !== null && RECORD_BATCH_TOPICS.has(outTopic)) {
          batches.add(outTopic, partition, { key: outKey, time: timestamp, seq, value });
          return;
        }
        outputs.push({
          topic: prefix + outTopic,
          message: {
            key: outKey,
            value: encodeJson(value),
            partition,
            headers:
              value === null && version !== undefined
                ? { ...provenance(this.source, sources, timestamp, seq), [HEADERS.version]: String(version) }
                : provenance(this.source, sources, timestamp, seq),
          },
        });
      },
    };
    return { topic, outputs, batches, emitter, events: 0, duplicates: 0, deadLetters: [], ends: [] };
  }

  private processMessage(work: BatchWork, message: InputMessage): void {
    const { topic } = work;
    const lastSeq = this.checkpoint.lastSeq;
    const source = headerText(message.headers, HEADERS.source);
    const batched = isRecordBatch(message.headers);
    const sequence = batched ? undefined : headerText(message.headers, HEADERS.sequence);
    const bad = badHeaders(message.headers, source, sequence, lastSeq);
    if (bad !== null) {
      this.deadLetter(work, message, bad);
      return;
    }
    if (source !== undefined && sequence !== undefined) {
      const seq = Number(sequence);
      if (seq <= (lastSeq[source] ?? 0)) {
        work.duplicates++;
        return;
      }
      lastSeq[source] = seq;
    }
    const timestamp = eventTimeOf(message.headers, message.timestamp);
    if (headerText(message.headers, HEADERS.control) === 'end') {
      try {
        this.handleEnd(
          work,
          source ?? `input/${this.partition}`,
          Number(headerText(message.headers, HEADERS.sources) ?? 1),
          timestamp,
        );
      } catch (error) {
        // A stage whose flush at end of input throws must not fail the batch again on every retry.
        this.deadLetter(work, message, error as Error);
      }
      return;
    }
    if (batched) {
      let records: TopicRecord[];
      try {
        if (message.value === null) throw new BadInput('undecodable', 'record batch without a value');
        records = decodeRecordBatch(message.value, message.headers);
      } catch (error) {
        this.deadLetter(work, message, error as Error);
        return;
      }
      for (let index = 0; index < records.length; index++) {
        const record = records[index]!;
        // Per-record sequence: a batch re-sent after an upstream restart may be cut differently.
        if (source !== undefined) {
          if (record.seq <= (lastSeq[source] ?? 0)) {
            work.duplicates++;
            continue;
          }
          lastSeq[source] = record.seq;
        }
        this.processValue(work, message, index, record.key, record.value, record.time);
      }
      return;
    }
    let values: unknown[];
    try {
      values = decodeTopicValue(topic, message.value, message.headers);
    } catch (error) {
      this.deadLetter(work, message, error as Error);
      return;
    }
    const messageKey = message.key?.toString() ?? '';
    for (let index = 0; index < values.length; index++) {
      const value = values[index];
      // access-logs messages are batches of many clients: the record's client is its key.
      const key = topic === TOPICS.accessLogs ? (value as AccessLog).clientAddress : messageKey;
      this.processValue(work, message, index, key, value, timestamp);
    }
  }

  /**
   * One value through the stage. A value the stage throws on is dead-lettered on its own (with its
   * index in the message) and the rest of its batch goes on.
   */
  private processValue(
    work: BatchWork,
    message: InputMessage,
    index: number,
    key: string,
    value: unknown,
    timestamp: number,
  ): void {
    const busMessage: BusMessage = {
      topic: work.topic,
      partition: this.partition,
      offset: Number(message.offset),
      key,
      value,
      timestamp,
    };
    try {
      this.stage.process(busMessage, work.emitter);
      work.events++;
    } catch (error) {
      this.deadLetter(work, message, error as Error, { index, value });
    }
  }

  /**
   * End of input from one upstream source. Once every source of this partition has ended, the
   * stage flushes (as a replay does at end of file) and passes the end on to its own outputs.
   */
  private handleEnd(work: BatchWork, source: string, sources: number, timestamp: number): void {
    const checkpoint = this.checkpoint;
    if (!checkpoint.ended.includes(source)) checkpoint.ended.push(source);
    if (checkpoint.ended.length < sources) return;
    checkpoint.ended = [];
    this.stage.finish?.(work.emitter);
    work.ends.push({ timestamp, resent: this.resending });
  }

  /** End markers to every partition of every output topic, numbered after the batch's outputs. */
  private passEndOn(work: BatchWork, timestamp: number, resent: boolean): void {
    const { prefix, partitions, outputs } = this.settings;
    for (const outTopic of outputs) {
      const parts = partitions[outTopic] ?? 1;
      for (let p = 0; p < parts; p++) {
        const seq = ++this.checkpoint.outSeq;
        if (resent) continue;
        work.outputs.push({
          topic: prefix + outTopic,
          message: {
            key: null,
            value: null,
            partition: p,
            headers: {
              ...provenance(this.source, String(this.settings.sources), timestamp, seq),
              [HEADERS.control]: 'end',
            },
          },
        });
      }
    }
  }

  /**
   * A dead letter: the original message (undecodable), or one record of a batch message that the
   * stage could not process, JSON-encoded, with its index (the other records were processed).
   */
  private deadLetter(
    work: BatchWork,
    message: InputMessage,
    error: Error,
    record?: { index: number; value: unknown },
  ): void {
    // Routed aside (and counted) before the restart already.
    if (this.resending) return;
    const { topic } = work;
    const reason = error instanceof BadInput ? error.reason : PROCESSING_ERROR;
    let value = record !== undefined ? encodeJson(record.value) : message.value;
    const size = value?.length ?? 0;
    const truncated = size > MAX_DEAD_LETTER_BYTES ? size : undefined;
    // A copy: the cut value must not keep the whole input alive while it is in flight.
    if (value && truncated !== undefined) value = Buffer.from(value.subarray(0, MAX_DEAD_LETTER_BYTES));
    work.deadLetters.push({
      topic,
      partition: this.partition,
      offset: message.offset,
      index: record?.index,
      reason,
      error: error.message,
      truncated,
    });
    const { stageName, prefix } = this.settings;
    const origin: IHeaders = {
      [HEADERS.error]: `${reason}: ${error.message}`.slice(0, 1000),
      [HEADERS.originTopic]: topic,
      [HEADERS.originPartition]: String(this.partition),
      [HEADERS.originOffset]: message.offset,
      [HEADERS.stage]: stageName,
    };
    if (record !== undefined) origin[HEADERS.originIndex] = String(record.index);
    if (truncated !== undefined) origin[HEADERS.truncated] = String(truncated);
    work.outputs.push({
      topic: prefix + TOPICS.deadLetter,
      message: {
        key: message.key ?? null,
        value,
        // An undecodable message keeps its own headers (under the dead letter's).
        headers: record !== undefined ? origin : { ...(message.headers ?? {}), ...origin },
      },
    });
  }
}

const always = () => true;

/**
 * Where the runner's tasks live: on its own thread (`InlineTasks`) or in worker threads
 * (`StagePool`). A task is known by the id the runner gives it; every call about one task comes
 * after the previous one settled.
 */
export interface StageTasks {
  /** `logEnd`: the partition's log end offset, to tell a checkpoint of an older incarnation of the topic. */
  open(id: number, partition: number, saved: Buffer | null, logEnd?: string): Promise<RestoreOutcome>;
  /** `keepGoing` is asked before each message where the tasks run on the runner's thread. */
  process(
    id: number,
    topic: string,
    messages: readonly InputMessage[],
    keepGoing: () => boolean,
  ): Promise<BatchOutcome>;
  /** The checkpoint's JSON (bytes) with the state of this moment. */
  checkpoint(id: number): Promise<Buffer>;
  /** Forgets a task (partition revoked or batch failed). */
  drop(id: number): void;
  close(): Promise<void>;
}

/** The tasks on the calling thread: the runner's default, and what each stage worker runs. */
export class InlineTasks implements StageTasks {
  private readonly tasks = new Map<number, StageTask>();

  constructor(
    private readonly factory: StageFactory,
    private readonly settings: TaskSettings,
  ) {}

  async open(id: number, partition: number, saved: Buffer | null, logEnd?: string): Promise<RestoreOutcome> {
    return this.openNow(id, partition, saved, logEnd);
  }

  openNow(id: number, partition: number, saved: Buffer | null, logEnd?: string): RestoreOutcome {
    const task = new StageTask(this.factory.create(partition), partition, this.settings);
    const outcome = task.restore(saved === null ? null : saved.toString('utf8'), logEnd);
    this.tasks.set(id, task);
    return outcome;
  }

  async process(
    id: number,
    topic: string,
    messages: readonly InputMessage[],
    keepGoing: () => boolean,
  ): Promise<BatchOutcome> {
    return this.processNow(id, topic, messages, keepGoing);
  }

  processNow(
    id: number,
    topic: string,
    messages: readonly InputMessage[],
    keepGoing?: () => boolean,
  ): BatchOutcome {
    return this.task(id).process(topic, messages, keepGoing);
  }

  async checkpoint(id: number): Promise<Buffer> {
    return this.checkpointNow(id);
  }

  checkpointNow(id: number): Buffer {
    return Buffer.from(this.task(id).checkpointText());
  }

  drop(id: number): void {
    this.tasks.get(id)?.close();
    this.tasks.delete(id);
  }

  async close(): Promise<void> {
    for (const task of this.tasks.values()) task.close();
    this.tasks.clear();
  }

  private task(id: number): StageTask {
    const task = this.tasks.get(id);
    if (task === undefined) throw new Error(`stage task ${id} is not open here`);
    return task;
  }
}

/**
 * One input batch's outputs to record-batch topics, grouped into messages per topic partition: each
 * record is Avro-encoded into its partition's open batch as it is emitted.
 */
class RecordBatches {
  /**
   * By output topic (unprefixed), then partition: no key string built per record. Bounded by the
   * output topics' partition counts.
   */
  private readonly open = new Map<string, (OpenBatch | undefined)[]>();
  /** The same batches in the order they were first opened: the order `drain` sends them in. */
  private readonly order: OpenBatch[] = [];
  private readonly closed: PendingOutput[] = [];

  constructor(
    private readonly prefix: string,
    private readonly source: string,
    private readonly sources: string,
  ) {}

  add(outTopic: string, partition: number, record: TopicRecord): void {
    let byPartition = this.open.get(outTopic);
    if (byPartition === undefined) {
      byPartition = [];
      this.open.set(outTopic, byPartition);
    }
    let batch = byPartition[partition];
    if (batch === undefined) {
      batch = { topic: this.prefix + outTopic, partition, writer: stageRecords.writer(), last: record };
      byPartition[partition] = batch;
      this.order.push(batch);
    }
    const full = batch.writer.add(record, MAX_BATCH_BYTES);
    if (full !== null) this.close(batch, full);
    batch.last = record;
  }

  /** Every batch as a message, in the order they were filled. */
  drain(): PendingOutput[] {
    for (const batch of this.order) {
      const value = batch.writer.finish();
      if (value !== null) this.close(batch, value);
    }
    return this.closed.splice(0);
  }

  /** Forgets unsent records (keeps the writers' buffers). */
  discard(): void {
    for (const batch of this.order) batch.writer.finish();
    this.closed.length = 0;
  }

  /** `value` holds the batch's records up to and with `batch.last`. */
  private close(batch: OpenBatch, value: Buffer): void {
    this.closed.push({
      topic: batch.topic,
      message: {
        key: null,
        value,
        partition: batch.partition,
        headers: {
          [HEADERS.format]: RECORD_BATCH_FORMAT,
          [HEADERS.schema]: stageRecords.fingerprint,
          ...provenance(this.source, this.sources, batch.last.time, batch.last.seq),
        },
      },
    });
  }
}

interface OpenBatch {
  topic: string;
  partition: number;
  writer: StageRecordWriter;
  /** The batch's last record so far: its event time and sequence number head the message. */
  last: TopicRecord;
}
