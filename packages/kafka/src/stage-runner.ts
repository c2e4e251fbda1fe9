import type { BusMessage, Emitter, Stage, StageFactory } from '@edgeguard/pipeline';
import { partitionFor, TOPICS } from '@edgeguard/pipeline';
import { type AccessLog, BadInput } from '@edgeguard/schema';
import type { Logger, Metrics } from '@edgeguard/telemetry';
import type { Redis } from 'ioredis';
import type { Consumer, EachBatchPayload, IHeaders, Kafka, Message, Producer } from 'kafkajs';
import { createProducer } from './client.js';
import {
  decodeRecordBatch,
  decodeTopicValue,
  encodeBatchRecord,
  encodeJson,
  encodeRecordBatch,
  eventTimeOf,
  HEADERS,
  headerText,
  isRecordBatch,
  RECORD_BATCH_FORMAT,
  RECORD_BATCH_TOPICS,
  type TopicRecord,
} from './codec.js';

export interface StageRunnerOptions {
  kafka: Kafka;
  redis: Redis;
  factory: StageFactory;
  /** `EDGEGUARD_TOPIC_PREFIX`: prefixes topics, the consumer group and checkpoint keys. */
  prefix: string;
  logger: Logger;
  metrics: Metrics;
  /** Partition count of every topic (the same map as the topology's). */
  partitions: Record<string, number>;
  /** Topics the stage writes to: end-of-input markers are passed on to every partition of them. */
  outputs?: string[];
  /** State is checkpointed with its offset at most this often (ms, wall clock). Default 5 s. */
  checkpointIntervalMs?: number;
  /** kafkajs fetch wait; short in tests. Default 500 ms. */
  maxWaitTimeInMs?: number;
  sessionTimeoutMs?: number;
  /** Called when the consumer crashed for good (the service should exit non-zero and be restarted). */
  onFatal?: (error: Error) => void;
}

/** What is checkpointed per input partition: the state and the offset it corresponds to. */
interface Checkpoint {
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

/** Upstream sources remembered per partition (each is a stage instance: `<stage>/<partition>`). */
const MAX_SOURCES = 4096;
const COUNT = /^[0-9]{1,15}$/;

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

interface PartitionTask {
  partition: number;
  stage: Stage;
  checkpoint: Checkpoint;
  lastCheckpointAt: number;
  dirty: boolean;
  /** Where to seek before processing (a replay-restore starts at the partition's first offset). */
  seekTo?: string;
  /** Outputs up to this sequence were sent before the restart: not sent again while replaying. */
  suppressUpToSeq: number;
  /**
   * The offset the committed state resumes at (the last checkpoint's, else where this task began):
   * after a failed batch the partition is fetched again from here into a freshly restored task.
   */
  rewindTo?: string;
}

interface PendingOutput {
  topic: string;
  message: Message;
}

/**
 * Runs one stage over Kafka: one stage instance per input partition (like a Kafka Streams task),
 * fed by kafkajs `eachBatch`, with these guarantees:
 *
 * - Outputs of a batch are acknowledged by the broker before the batch's offsets count as done.
 * - State is checkpointed to Redis together with the input offset it covers, and the consumer
 *   group offset is committed only to checkpointed offsets. After a crash, restart or rebalance the
 *   new owner restores the state and resumes exactly there: no window lost, nothing counted twice.
 * - Outputs re-emitted between the last checkpoint and a crash carry the same (source, sequence)
 *   as before, because stages are deterministic; consumers drop sequences they have seen, so
 *   at-least-once delivery yields effectively-once processing.
 * - A message that cannot be decoded or processed goes to the dead-letter topic with its origin
 *   and error in headers; the partition keeps flowing.
 */
export class StageRunner {
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly tasks = new Map<string, PartitionTask>();
  private readonly group: string;
  private assigned = false;
  private batchInFlight: Promise<void> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private readonly log: Logger;
  private readonly counters;

  constructor(private readonly options: StageRunnerOptions) {
    const { kafka, factory, prefix } = options;
    this.group = `${prefix}${factory.name}`;
    this.log = options.logger.child({ stage: factory.name });
    this.consumer = kafka.consumer({
      groupId: this.group,
      maxWaitTimeInMs: options.maxWaitTimeInMs ?? 500,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 3_000,
      allowAutoTopicCreation: false,
      // Bounded fetches: the batch's outputs are held until acknowledged.
      maxBytes: 8 * 1024 * 1024,
      maxBytesPerPartition: 2 * 1024 * 1024,
    });
    this.producer = createProducer(kafka, {
      idempotent: true,
      maxInFlightRequests: 1,
    });
    const m = options.metrics;
    this.counters = {
      events: m.counter('edgeguard_events_total', 'input values processed', ['stage', 'topic']),
      outputs: m.counter('edgeguard_outputs_total', 'messages produced', ['stage', 'topic']),
      deadLetters: m.counter('edgeguard_dead_letters_total', 'messages routed to the dead-letter topic', [
        'stage',
        'reason',
      ]),
      duplicates: m.counter(
        'edgeguard_duplicates_dropped_total',
        'messages dropped as already seen (upstream replay)',
        ['stage'],
      ),
      lag: m.gauge('edgeguard_consumer_lag', 'messages behind the high watermark', [
        'stage',
        'topic',
        'partition',
      ]),
      checkpointAge: m.gauge('edgeguard_checkpoint_age_seconds', 'seconds since the last checkpoint', [
        'stage',
        'partition',
      ]),
      badCheckpoints: m.counter(
        'edgeguard_checkpoint_unreadable_total',
        'checkpoints that could not be read (the partition was replayed instead)',
        ['stage'],
      ),
      stateSize: m.gauge('edgeguard_state_bytes', 'size of the last checkpointed state (JSON bytes)', [
        'stage',
        'partition',
      ]),
    };
  }

  /** `true`, or why the service is not ready yet (for /readyz). */
  ready(): true | string {
    if (this.stopping) return 'stopping';
    return this.assigned ? true : 'waiting for partition assignment';
  }

  async start(): Promise<void> {
    const { factory, prefix } = this.options;
    await this.producer.connect();
    await this.consumer.connect();
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      this.assigned = true;
      const assignment = event.payload.memberAssignment;
      // Drop tasks of partitions we no longer own: their new owner restores from the checkpoint.
      for (const key of [...this.tasks.keys()]) {
        const [topic, partition] = splitTaskKey(key);
        if (!assignment[topic]?.includes(partition)) this.tasks.delete(key);
      }
      this.log.info({ assignment }, 'partitions assigned');
    });
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      this.log.error(
        { error: event.payload.error?.message, restart: event.payload.restart },
        'consumer crashed',
      );
      // kafkajs restarts the consumer after retriable errors; otherwise the service cannot go on.
      if (!event.payload.restart) this.options.onFatal?.(event.payload.error);
    });
    for (const topic of factory.inputs)
      await this.consumer.subscribe({ topic: prefix + topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => {
        if (this.stopping) return Promise.resolve();
        return this.exclusive(() => this.handleBatch(payload));
      },
    });
    // Checkpoint partitions that went quiet, so the committed offsets (and `edgeguard lag`) catch up
    // without waiting for the next batch.
    const interval = this.options.checkpointIntervalMs ?? 5_000;
    this.idleTimer = setInterval(() => {
      void this.exclusive(() => this.checkpointDue(interval)).catch((error: Error) =>
        this.log.warn({ error: error.message }, 'idle checkpoint failed'),
      );
    }, interval);
    this.idleTimer.unref();
  }

  /**
   * Batches and idle checkpoints never overlap: a checkpoint must see the state and the offset
   * of the same moment.
   */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.batchInFlight.then(work, work);
    this.batchInFlight = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async checkpointDue(interval: number): Promise<void> {
    if (this.stopping) return;
    for (const [key, task] of this.tasks) {
      if (task.dirty && Date.now() - task.lastCheckpointAt >= interval) await this.saveCheckpoint(key, task);
    }
  }

  /** Graceful stop: finish the batch in flight, checkpoint and commit every owned partition, close. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    // Stop fetching, let the batch in flight finish, then checkpoint and commit while the group
    // membership is still valid (kafkajs refuses commits after stop()).
    this.consumer.pause(this.options.factory.inputs.map((topic) => ({ topic: this.options.prefix + topic })));
    await this.batchInFlight;
    for (const [key, task] of this.tasks) {
      if (task.dirty) await this.saveCheckpoint(key, task);
    }
    await this.consumer.disconnect();
    await this.producer.disconnect();
    this.log.info('stopped');
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const topic = batch.topic.slice(this.options.prefix.length);
    const key = taskKey(batch.topic, batch.partition);
    const task = this.tasks.get(key) ?? (await this.restoreTask(key, batch.partition, batch.topic));
    const progress = { acknowledged: false };
    try {
      await this.processBatch(task, key, topic, payload, progress);
    } catch (error) {
      this.eventsInBatch = 0;
      // After the outputs were acknowledged (a checkpoint write or the closing heartbeat failed, as
      // in every rebalance) state and offsets agree: keep the task, let kafkajs retry.
      if (progress.acknowledged) throw error;
      // Before: the stage's state and the task's offsets have moved past what was acknowledged:
      // forget the task and fetch again from the committed checkpoint, so kafkajs' retry (or the
      // restart after a crash) neither skips this batch's messages nor checkpoints outputs that
      // were never sent; end markers the failed batch queued are not sent either.
      this.tasks.delete(key);
      this.pendingEnds = this.pendingEnds.filter((end) => end.task !== task);
      if (task.rewindTo !== undefined)
        this.consumer.seek({ topic: batch.topic, partition: batch.partition, offset: task.rewindTo });
      this.log.warn(
        { partition: batch.partition, rewindTo: task.rewindTo, error: (error as Error).message },
        'batch failed: partition rewound to its checkpoint',
      );
      throw error;
    }
  }

  private async processBatch(
    task: PartitionTask,
    key: string,
    topic: string,
    { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload,
    progress: { acknowledged: boolean },
  ): Promise<void> {
    const { prefix, factory } = this.options;
    if (task.seekTo !== undefined) {
      // Replay-restore: abandon this batch; the next fetch starts at the partition's beginning.
      this.consumer.seek({ topic: batch.topic, partition: batch.partition, offset: task.seekTo });
      task.seekTo = undefined;
      return;
    }
    const outputs: PendingOutput[] = [];
    const source = `${factory.name}/${batch.partition}`;
    const sources = String(this.inputPartitions(topic));
    const batches = new RecordBatches(source, sources);
    const emitter: Emitter = {
      emit: (outTopic, outKey, value, timestamp) => {
        const seq = ++task.checkpoint.outSeq;
        if (seq <= task.suppressUpToSeq) return; // sent before the restart
        const partition = partitionFor(outKey, this.options.partitions[outTopic] ?? 1);
        if (value !== null && RECORD_BATCH_TOPICS.has(outTopic)) {
          batches.add(prefix + outTopic, partition, { key: outKey, time: timestamp, seq, value });
          return;
        }
        outputs.push({
          topic: prefix + outTopic,
          message: {
            key: outKey,
            value: encodeJson(value),
            partition,
            headers: {
              [HEADERS.eventTime]: String(timestamp),
              [HEADERS.source]: source,
              [HEADERS.sequence]: String(seq),
              [HEADERS.sources]: sources,
            },
          },
        });
      },
    };

    let processed = 0;
    for (const message of batch.messages) {
      if (!isRunning() || isStale() || this.stopping) break;
      if (BigInt(message.offset) < BigInt(task.checkpoint.nextOffset)) {
        resolveOffset(message.offset); // already inside the restored state
        continue;
      }
      task.rewindTo ??= message.offset;
      this.processMessage(task, topic, batch.partition, message, emitter, outputs);
      task.checkpoint.nextOffset = (BigInt(message.offset) + 1n).toString();
      task.dirty = true;
      resolveOffset(message.offset);
      if (++processed % 500 === 0) await heartbeat();
    }
    for (const output of batches.drain()) outputs.push(output);
    await this.flush(outputs, factory.name);
    progress.acknowledged = true;
    // Counted once per batch: a labelled prom-client increment per record cost a few % of a profiler.
    if (this.eventsInBatch > 0) {
      this.counters.events.inc({ stage: factory.name, topic }, this.eventsInBatch);
      this.eventsInBatch = 0;
    }
    this.counters.lag.set(
      { stage: factory.name, topic, partition: String(batch.partition) },
      Number(batch.offsetLag()),
    );
    const interval = this.options.checkpointIntervalMs ?? 5_000;
    if (task.dirty && Date.now() - task.lastCheckpointAt >= interval) await this.saveCheckpoint(key, task);
    this.counters.checkpointAge.set(
      { stage: factory.name, partition: String(batch.partition) },
      (Date.now() - task.lastCheckpointAt) / 1000,
    );
    await heartbeat();
  }

  private processMessage(
    task: PartitionTask,
    topic: string,
    partition: number,
    message: EachBatchPayload['batch']['messages'][number],
    emitter: Emitter,
    outputs: PendingOutput[],
  ): void {
    const stageName = this.options.factory.name;
    const source = headerText(message.headers, HEADERS.source);
    const batched = isRecordBatch(message.headers);
    const sequence = batched ? undefined : headerText(message.headers, HEADERS.sequence);
    const bad = badHeaders(message.headers, source, sequence, task.checkpoint.lastSeq);
    if (bad !== null) {
      outputs.push(this.deadLetter(topic, partition, message, bad));
      return;
    }
    if (source !== undefined && sequence !== undefined) {
      const seq = Number(sequence);
      if (seq <= (task.checkpoint.lastSeq[source] ?? 0)) {
        this.counters.duplicates.inc({ stage: stageName });
        return;
      }
      task.checkpoint.lastSeq[source] = seq;
    }
    const timestamp = eventTimeOf(message.headers, message.timestamp);
    if (headerText(message.headers, HEADERS.control) === 'end') {
      try {
        this.handleEnd(
          task,
          source ?? `input/${partition}`,
          Number(headerText(message.headers, HEADERS.sources) ?? 1),
          emitter,
          timestamp,
        );
      } catch (error) {
        // A stage whose flush at end of input throws must not fail the batch again on every retry.
        outputs.push(this.deadLetter(topic, partition, message, error as Error));
      }
      return;
    }
    if (batched) {
      let records: TopicRecord[];
      try {
        if (message.value === null) throw new BadInput('undecodable', 'record batch without a value');
        records = decodeRecordBatch(message.value);
      } catch (error) {
        outputs.push(this.deadLetter(topic, partition, message, error as Error));
        return;
      }
      for (let index = 0; index < records.length; index++) {
        const record = records[index]!;
        // Per-record sequence: a batch re-sent after an upstream restart may be cut differently.
        if (source !== undefined) {
          if (record.seq <= (task.checkpoint.lastSeq[source] ?? 0)) {
            this.counters.duplicates.inc({ stage: stageName });
            continue;
          }
          task.checkpoint.lastSeq[source] = record.seq;
        }
        this.processValue(
          task,
          topic,
          partition,
          message,
          index,
          record.key,
          record.value,
          record.time,
          emitter,
          outputs,
        );
      }
      return;
    }
    let values: unknown[];
    try {
      values = decodeTopicValue(topic, message.value, message.headers);
    } catch (error) {
      outputs.push(this.deadLetter(topic, partition, message, error as Error));
      return;
    }
    const messageKey = message.key?.toString() ?? '';
    for (let index = 0; index < values.length; index++) {
      const value = values[index];
      // access-logs messages are batches of many clients: the record's client is its key.
      const key = topic === TOPICS.accessLogs ? (value as AccessLog).clientAddress : messageKey;
      this.processValue(task, topic, partition, message, index, key, value, timestamp, emitter, outputs);
    }
  }

  /**
   * One value through the stage. A value the stage throws on is dead-lettered on its own (with its
   * index in the message) and the rest of its batch goes on.
   */
  private processValue(
    task: PartitionTask,
    topic: string,
    partition: number,
    message: EachBatchPayload['batch']['messages'][number],
    index: number,
    key: string,
    value: unknown,
    timestamp: number,
    emitter: Emitter,
    outputs: PendingOutput[],
  ): void {
    const busMessage: BusMessage = {
      topic,
      partition,
      offset: Number(message.offset),
      key,
      value,
      timestamp,
    };
    try {
      task.stage.process(busMessage, emitter);
      this.eventsInBatch++;
    } catch (error) {
      outputs.push(this.deadLetter(topic, partition, message, error as Error, { index, value }));
    }
  }

  /**
   * End of input from one upstream source. Once every source of this partition has ended, the
   * stage flushes (as a replay does at end of file) and passes the end on to its own outputs.
   */
  private handleEnd(
    task: PartitionTask,
    source: string,
    sources: number,
    emitter: Emitter,
    timestamp: number,
  ): void {
    if (!task.checkpoint.ended.includes(source)) task.checkpoint.ended.push(source);
    if (task.checkpoint.ended.length < sources) return;
    task.checkpoint.ended = [];
    task.stage.finish?.(emitter);
    this.pendingEnds.push({ task, timestamp });
  }

  private pendingEnds: { task: PartitionTask; timestamp: number }[] = [];
  /** Values processed in the batch in flight (batches never overlap). */
  private eventsInBatch = 0;

  private inputPartitions(_topic: string): number {
    return Math.max(1, ...this.options.factory.inputs.map((t) => this.options.partitions[t] ?? 1));
  }

  /**
   * A dead letter: the original message (undecodable), or one record of a batch message that the
   * stage could not process, JSON-encoded, with its index (the other records were processed).
   */
  private deadLetter(
    topic: string,
    partition: number,
    message: EachBatchPayload['batch']['messages'][number],
    error: Error,
    record?: { index: number; value: unknown },
  ): PendingOutput {
    const reason = error instanceof BadInput ? error.reason : 'processing-error';
    this.counters.deadLetters.inc({ stage: this.options.factory.name, reason });
    this.log.warn(
      { topic, partition, offset: message.offset, index: record?.index, reason, error: error.message },
      'message routed to dead-letter topic',
    );
    const origin = {
      [HEADERS.error]: `${reason}: ${error.message}`.slice(0, 1000),
      [HEADERS.originTopic]: topic,
      [HEADERS.originPartition]: String(partition),
      [HEADERS.originOffset]: message.offset,
      [HEADERS.stage]: this.options.factory.name,
    };
    if (record !== undefined)
      return {
        topic: this.options.prefix + TOPICS.deadLetter,
        message: {
          key: message.key,
          value: encodeJson(record.value),
          headers: { ...origin, [HEADERS.originIndex]: String(record.index) },
        },
      };
    return {
      topic: this.options.prefix + TOPICS.deadLetter,
      message: { key: message.key, value: message.value, headers: { ...(message.headers ?? {}), ...origin } },
    };
  }

  /** Sends a batch's outputs (and end markers) and waits for the broker's acknowledgement. */
  private async flush(outputs: PendingOutput[], stageName: string): Promise<void> {
    for (const { task, timestamp } of this.pendingEnds.splice(0)) {
      const source = `${stageName}/${task.partition}`;
      for (const outTopic of this.outputTopics()) {
        const parts = this.options.partitions[outTopic] ?? 1;
        for (let p = 0; p < parts; p++) {
          task.checkpoint.outSeq++;
          if (task.checkpoint.outSeq <= task.suppressUpToSeq) continue;
          outputs.push({
            topic: this.options.prefix + outTopic,
            message: {
              key: null,
              value: null,
              partition: p,
              headers: {
                [HEADERS.eventTime]: String(timestamp),
                [HEADERS.control]: 'end',
                [HEADERS.source]: source,
                [HEADERS.sequence]: String(task.checkpoint.outSeq),
                [HEADERS.sources]: String(this.inputPartitions('')),
              },
            },
          });
        }
      }
    }
    if (outputs.length === 0) return;
    const byTopic = new Map<string, Message[]>();
    for (const { topic, message } of outputs) {
      const list = byTopic.get(topic);
      if (list) list.push(message);
      else byTopic.set(topic, [message]);
      this.counters.outputs.inc({ stage: stageName, topic: topic.slice(this.options.prefix.length) });
    }
    // Requests stay under the broker's message.max.bytes (1 MiB default) for any one partition.
    let request: { topic: string; messages: Message[] }[] = [];
    let requestBytes = 0;
    for (const [topic, messages] of byTopic) {
      let current: Message[] = [];
      request.push({ topic, messages: current });
      for (const message of messages) {
        const size = (message.value?.length ?? 0) + 128;
        if (requestBytes + size > MAX_REQUEST_BYTES && requestBytes > 0) {
          await this.producer.sendBatch({
            acks: -1,
            topicMessages: request.filter((t) => t.messages.length > 0),
          });
          current = [];
          request = [{ topic, messages: current }];
          requestBytes = 0;
        }
        current.push(message);
        requestBytes += size;
      }
    }
    await this.producer.sendBatch({ acks: -1, topicMessages: request.filter((t) => t.messages.length > 0) });
  }

  /** Output topics this stage writes, for end markers: the topology's topics it is not reading. */
  private outputTopics(): string[] {
    return this.options.outputs ?? [];
  }

  private checkpointKey(key: string): string {
    return `${this.options.prefix}checkpoint:${this.group}:${key}`;
  }

  /**
   * Rebuilds a partition's state when this instance takes the partition over. With a stage that
   * snapshots its state, the checkpoint is restored and processing resumes at its offset. With a
   * stage that does not, the state is rebuilt by replaying the partition from its first retained
   * offset: stages are deterministic, so the replay regenerates the same state and the same
   * outputs with the same sequence numbers; the outputs sent before are not sent again (and
   * would be dropped downstream anyway). Exact while the input is retained; it costs a replay of
   * the retained input at start.
   */
  private async restoreTask(key: string, partition: number, topic: string): Promise<PartitionTask> {
    const stage = this.options.factory.create(partition);
    const saved = await this.options.redis.get(this.checkpointKey(key));
    const blank = (): Checkpoint => ({
      nextOffset: '0',
      outSeq: 0,
      lastSeq: {},
      ended: [],
      state: null,
      savedAt: 0,
    });
    const task: PartitionTask = {
      partition,
      stage,
      checkpoint: blank(),
      lastCheckpointAt: Date.now(),
      dirty: false,
      suppressUpToSeq: 0,
    };
    const checkpoint = saved ? parseCheckpoint(saved) : null;
    if (!saved) {
      this.log.info({ partition }, 'no checkpoint: starting with empty state');
    } else {
      if (checkpoint === null) {
        // Not ours or cut short: rebuild from the partition's start; re-sent outputs keep their
        // sequence numbers, so consumers downstream drop the ones they already have.
        this.counters.badCheckpoints.inc({ stage: this.options.factory.name });
        this.log.error(
          { partition, saved: saved.slice(0, 200) },
          'unreadable checkpoint: replaying the partition',
        );
      }
      if (checkpoint !== null && checkpoint.state !== null && stage.restore) {
        stage.restore(checkpoint.state);
        task.checkpoint = checkpoint;
        task.rewindTo = checkpoint.nextOffset;
        this.log.info({ partition, nextOffset: checkpoint.nextOffset }, 'state restored from checkpoint');
      } else {
        const admin = this.options.kafka.admin();
        await admin.connect();
        const low =
          (await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect())).find(
            (o) => o.partition === partition,
          )?.low ?? '0';
        task.seekTo = low;
        task.rewindTo = low;
        task.suppressUpToSeq = checkpoint?.outSeq ?? 0;
        this.log.info(
          { partition, from: low, until: checkpoint?.nextOffset },
          'rebuilding state by replaying the partition',
        );
      }
    }
    this.tasks.set(key, task);
    return task;
  }

  private async saveCheckpoint(key: string, task: PartitionTask): Promise<void> {
    task.checkpoint.state = task.stage.snapshot ? task.stage.snapshot() : null;
    task.checkpoint.savedAt = Date.now();
    const text = JSON.stringify(task.checkpoint);
    await this.options.redis.set(this.checkpointKey(key), text);
    const [topic] = splitTaskKey(key);
    // Commit only what the checkpoint covers: a new owner resumes exactly at the restored state.
    await this.consumer.commitOffsets([
      { topic, partition: task.partition, offset: task.checkpoint.nextOffset },
    ]);
    task.lastCheckpointAt = Date.now();
    task.rewindTo = task.checkpoint.nextOffset;
    task.dirty = false;
    this.counters.stateSize.set(
      { stage: this.options.factory.name, partition: String(task.partition) },
      text.length,
    );
  }
}

/** Bytes per produce request: below the broker's default message.max.bytes of 1 MiB. */
const MAX_REQUEST_BYTES = 768 * 1024;

/**
 * Characters of encoded records per batch message: at most 3 bytes each in UTF-8, so a batch stays
 * under MAX_REQUEST_BYTES.
 */
const MAX_BATCH_CHARS = 192 * 1024;

/** One input batch's outputs to record-batch topics, grouped into messages per topic partition. */
class RecordBatches {
  private readonly open = new Map<
    string,
    { topic: string; partition: number; records: string[]; chars: number; last: TopicRecord }
  >();
  private readonly closed: PendingOutput[] = [];

  constructor(
    private readonly source: string,
    private readonly sources: string,
  ) {}

  add(topic: string, partition: number, record: TopicRecord): void {
    const key = `${topic}#${partition}`;
    const encoded = encodeBatchRecord(record);
    let batch = this.open.get(key);
    if (batch !== undefined && batch.chars + encoded.length > MAX_BATCH_CHARS) {
      this.close(batch);
      batch = undefined;
    }
    if (batch === undefined) {
      batch = { topic, partition, records: [], chars: 2, last: record };
      this.open.set(key, batch);
    }
    batch.records.push(encoded);
    batch.chars += encoded.length + 1;
    batch.last = record;
  }

  /** Every batch as a message, in the order they were filled. */
  drain(): PendingOutput[] {
    for (const batch of this.open.values()) this.close(batch);
    this.open.clear();
    return this.closed.splice(0);
  }

  private close(batch: { topic: string; partition: number; records: string[]; last: TopicRecord }): void {
    this.closed.push({
      topic: batch.topic,
      message: {
        key: null,
        value: encodeRecordBatch(batch.records),
        partition: batch.partition,
        headers: {
          [HEADERS.format]: RECORD_BATCH_FORMAT,
          [HEADERS.eventTime]: String(batch.last.time),
          [HEADERS.source]: this.source,
          [HEADERS.sequence]: String(batch.last.seq),
          [HEADERS.sources]: this.sources,
        },
      },
    });
    batch.records = [];
  }
}

function taskKey(topic: string, partition: number): string {
  return `${topic}#${partition}`;
}

function splitTaskKey(key: string): [string, number] {
  const at = key.lastIndexOf('#');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}
