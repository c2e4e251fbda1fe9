import { type StageFactory, TOPICS } from '@edgeguard/pipeline';
import type { Logger, Metrics } from '@edgeguard/telemetry';
import type { Redis } from 'ioredis';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import { createProducer, within } from './client.js';
import { HEADERS } from './codec.js';
import { StagePool, type StageRecipe } from './stage-pool.js';
import {
  type BatchOutcome,
  DEAD_LETTER_HEADERS,
  DEAD_LETTER_REASONS,
  InlineTasks,
  MAX_REQUEST_BYTES,
  type PendingOutput,
  type StageTasks,
  type TaskSettings,
} from './stage-task.js';

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
  /**
   * Output bytes handed to the producer and not yet acknowledged beyond which a batch waits
   * (backpressure): while a batch's outputs are in flight the next batches are fetched and
   * processed. 0: every batch waits for its own outputs' acknowledgement. Default 8 MiB.
   */
  maxInFlightBytes?: number;
  /**
   * Worker threads that run the partitions' tasks (decoding, the stage, output encoding, state
   * snapshots), partitions spread over them; this thread keeps kafkajs, Redis and the producer.
   * 0 (default): everything on this thread. Needs `recipe`.
   */
  workers?: number;
  /** How a worker thread builds the same stage as `factory` (with `workers`). */
  recipe?: StageRecipe;
  /**
   * How long a Redis command of the runner (checkpoint read or write, the readiness probe) may go
   * unanswered before the runner gives up on it and counts the checkpoint store as unreachable.
   * Default 5 s.
   */
  redisTimeoutMs?: number;
  /** Called when the consumer crashed for good (the service should exit non-zero and be restarted). */
  onFatal?: (error: Error) => void;
  /**
   * Called with outputs once the broker has acknowledged them (`topic` without the prefix; dead
   * letters not included): each output the stage emits once, not the outputs a replay after a
   * restart regenerates and does not send again. What it throws is logged, never fails the send.
   */
  onSent?: (topic: string, messages: readonly Message[]) => void;
}

/**
 * The runner's bookkeeping of one input partition; the stage instance and its checkpoint live in
 * a StageTask (stage-task.ts), on this thread or in a worker.
 */
interface PartitionTask {
  /** The task's id in `StageTasks` (a new one for every restore). */
  id: number;
  partition: number;
  /** The next input offset to process (as in the task's checkpoint). */
  nextOffset: string;
  lastCheckpointAt: number;
  dirty: boolean;
  /** Where to seek before processing (a replay-restore starts at the partition's first offset). */
  seekTo?: string;
  /**
   * The offset the committed state resumes at (the last checkpoint's, else where this task began):
   * after a failed batch the partition is fetched again from here into a freshly restored task.
   */
  rewindTo?: string;
  /**
   * Replaying up to the checkpoint it was restored from (its offset): that checkpoint covers more
   * than any the replay could write before it gets there, so none is written until then.
   */
  replayUntil?: bigint;
  /**
   * The task's last send (its outputs go out in order on one chain): settled, every output of the
   * batches it processed so far is acknowledged; rejected, one of them was not. A checkpoint awaits it.
   */
  sent: Promise<void>;
  /** Why a send of this task's outputs failed: its later outputs are not sent, it is not checkpointed. */
  failed?: Error;
}

/** Outputs handed to the producer, until the broker acknowledges them (or the send fails). */
interface InFlight {
  bytes: number;
  settled: Promise<void>;
}

/**
 * Runs one stage over Kafka: one stage instance per input partition (like a Kafka Streams task),
 * fed by kafkajs `eachBatch`, with these guarantees:
 *
 * - Outputs of a batch are acknowledged by the broker before the batch's offsets count as done:
 *   they are sent in order while later batches are processed (at most `maxInFlightBytes` in
 *   flight), and a checkpoint or commit first waits for every output of the input it covers. A send
 *   that fails rewinds its partition to the last checkpoint, as a failed batch does; the task's
 *   later outputs are not sent.
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
  /** Where the stage instances run: this thread, or worker threads. */
  private readonly host: StageTasks;
  private readonly group: string;
  private assigned = false;
  /** Per task key, the work queued on it: a batch and a checkpoint of one task never overlap. */
  private readonly locks = new Map<string, Promise<void>>();
  /** Produce requests go out one at a time (the idempotent producer allows one in flight). */
  private sending: Promise<void> = Promise.resolve();
  /** Sends not yet settled, oldest first (they settle in this order: one chain). */
  private readonly inFlight: InFlight[] = [];
  private inFlightBytes = 0;
  private readonly maxInFlightBytes: number;
  /**
   * Per task key, a deferred send's error: the partition's next batch fails with it (kafkajs backs
   * off and fetches again from the rewound offset). At most one per owned partition.
   */
  private readonly sendFailures = new Map<string, Error>();
  private lastTaskId = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  /** An idle checkpoint pass is running (the next tick does not start another). */
  private idleCheckpointing = false;
  private readonly redisTimeoutMs: number;
  /**
   * Why the checkpoint store (Redis) counts as unreachable, or null. Set when the probe or a
   * checkpoint command goes unanswered or fails, cleared when a probe is answered. Meanwhile
   * readiness is false and no checkpoint is written (none would be answered; each would wait).
   */
  private storeDown: string | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  /** When the probe's PING still unanswered was sent (0: none is): at most one at a time. */
  private probeSentAt = 0;
  private stopping = false;
  private readonly log: Logger;
  private readonly counters;

  constructor(private readonly options: StageRunnerOptions) {
    const { kafka, factory, prefix } = options;
    this.group = `${prefix}${factory.name}`;
    this.log = options.logger.child({ stage: factory.name });
    this.maxInFlightBytes = options.maxInFlightBytes ?? DEFAULT_MAX_IN_FLIGHT_BYTES;
    this.redisTimeoutMs = options.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
    this.consumer = kafka.consumer({
      groupId: this.group,
      maxWaitTimeInMs: options.maxWaitTimeInMs ?? 500,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: 3_000,
      allowAutoTopicCreation: false,
      // Bounded fetches: a batch's outputs are held until acknowledged (with maxInFlightBytes).
      maxBytes: 8 * 1024 * 1024,
      maxBytesPerPartition: 2 * 1024 * 1024,
    });
    this.producer = createProducer(kafka, {
      idempotent: true,
      maxInFlightRequests: 1,
    });
    const settings: TaskSettings = {
      stageName: factory.name,
      prefix,
      partitions: options.partitions,
      outputs: options.outputs ?? [],
      sources: Math.max(1, ...factory.inputs.map((t) => options.partitions[t] ?? 1)),
    };
    const workers = options.workers ?? 0;
    if (workers > 0 && options.recipe === undefined)
      throw new Error(`stage ${factory.name}: workers need a recipe to build the stage in a worker`);
    this.host =
      workers > 0 && options.recipe !== undefined
        ? new StagePool(workers, { recipe: options.recipe, settings }, (ids, error) =>
            this.tasksLost(ids, error),
          )
        : new InlineTasks(factory, settings);
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
      deadLettersCut: m.counter(
        'edgeguard_dead_letters_truncated_total',
        'dead letters whose value was cut to 256 KiB (cut) or dropped because the broker refused it as too large (dropped)',
        ['stage', 'how'],
      ),
      stateSize: m.gauge('edgeguard_state_bytes', 'size of the last checkpointed state (JSON bytes)', [
        'stage',
        'partition',
      ]),
    };
    // Known label values on /metrics from the start (at 0): alerts and rate() see them before the
    // first event. Per-partition and per-output-topic series come with their first value.
    const stage = [factory.name];
    m.countFromZero('edgeguard_events_total', { stage, topic: [...factory.inputs] });
    m.countFromZero('edgeguard_dead_letters_total', { stage, reason: DEAD_LETTER_REASONS });
    m.countFromZero('edgeguard_dead_letters_truncated_total', { stage, how: ['cut', 'dropped'] });
    m.countFromZero('edgeguard_duplicates_dropped_total', { stage });
    m.countFromZero('edgeguard_checkpoint_unreadable_total', { stage });
    m.gauge('edgeguard_stage_workers', 'worker threads running the stage (0: the main thread)', [
      'stage',
    ]).set({ stage: factory.name }, this.host instanceof StagePool ? workers : 0);
  }

  /** `true`, or why the service is not ready yet (for /readyz). */
  ready(): true | string {
    if (this.stopping) return 'stopping';
    if (this.storeDown !== null) return this.storeDown;
    return this.assigned ? true : 'waiting for partition assignment';
  }

  /** Redis' address, for log lines and readiness. */
  private get storeAddress(): string {
    const { host, port } = this.options.redis.options;
    return `${host ?? '127.0.0.1'}:${port ?? 6379}`;
  }

  /** A Redis command of the runner, given up on (rejected) after `redisTimeoutMs`. */
  private redisCall<T>(command: Promise<T>, what: string): Promise<T> {
    return within(this.redisTimeoutMs, command, `${what}: Redis at ${this.storeAddress}`, () => undefined);
  }

  /** The checkpoint store's state changed: `why` it is unreachable, or null (answering). */
  private storeIs(why: string | null): void {
    if (why === null) {
      if (this.storeDown !== null)
        this.log.warn({ redis: this.storeAddress }, 'checkpoint store (Redis) answers again');
    } else if (this.storeDown === null) {
      this.log.error(
        { redis: this.storeAddress, error: why },
        'checkpoint store (Redis) unreachable: not ready, no checkpoints until it answers',
      );
    }
    this.storeDown =
      why === null ? null : `checkpoint store (Redis at ${this.storeAddress}) unreachable: ${why}`;
  }

  /**
   * Every second: the checkpoint age of every owned partition (it keeps growing while no
   * checkpoint can be written), and a PING to Redis, one at a time; one unanswered for longer
   * than `redisTimeoutMs`, or a connection that is not up, counts the store as unreachable.
   */
  private probe(): void {
    const now = Date.now();
    for (const task of this.tasks.values())
      this.counters.checkpointAge.set(
        { stage: this.options.factory.name, partition: String(task.partition) },
        (now - task.lastCheckpointAt) / 1000,
      );
    const { redis } = this.options;
    if (this.probeSentAt !== 0) {
      if (now - this.probeSentAt > this.redisTimeoutMs)
        this.storeIs(`no answer to PING for ${Math.round((now - this.probeSentAt) / 1000)} s`);
      return;
    }
    if (redis.status !== 'ready') this.storeIs(`connection ${redis.status}`);
    this.probeSentAt = now;
    redis.ping().then(
      () => {
        this.probeSentAt = 0;
        this.storeIs(null);
      },
      (error: Error) => {
        this.probeSentAt = 0;
        this.storeIs(error.message);
      },
    );
  }

  async start(): Promise<void> {
    const { factory, prefix, partitions } = this.options;
    this.probeTimer = setInterval(() => this.probe(), PROBE_INTERVAL_MS);
    this.probeTimer.unref();
    await this.producer.connect();
    await this.consumer.connect();
    this.consumer.on(this.consumer.events.GROUP_JOIN, (event) => {
      this.assigned = true;
      const assignment = event.payload.memberAssignment;
      // Drop tasks of partitions we no longer own: their new owner restores from the checkpoint.
      for (const [key, task] of [...this.tasks]) {
        const [topic, partition] = splitTaskKey(key);
        if (assignment[topic]?.includes(partition)) continue;
        this.tasks.delete(key);
        this.sendFailures.delete(key);
        // After the batch in flight, if any (it still holds the task).
        void this.withTask(key, async () => this.host.drop(task.id));
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
      // With workers, every partition of a fetch can be in its worker at once (still one batch
      // per partition: kafkajs fetches again once the whole fetch is handled).
      partitionsConsumedConcurrently:
        this.host instanceof StagePool ? factory.inputs.reduce((n, t) => n + (partitions[t] ?? 1), 0) : 1,
      eachBatch: (payload) => {
        if (this.stopping) return Promise.resolve();
        const { topic, partition } = payload.batch;
        return this.withTask(taskKey(topic, partition), () => this.handleBatch(payload));
      },
    });
    // Checkpoint partitions that went quiet, so the committed offsets (and `edgeguard lag`) catch up
    // without waiting for the next batch.
    const interval = this.options.checkpointIntervalMs ?? 5_000;
    this.idleTimer = setInterval(() => {
      if (this.idleCheckpointing) return;
      this.idleCheckpointing = true;
      void this.checkpointDue(interval)
        .catch((error: Error) => this.log.warn({ error: error.message }, 'idle checkpoint failed'))
        .finally(() => {
          this.idleCheckpointing = false;
        });
    }, interval);
    this.idleTimer.unref();
  }

  /**
   * Work on one task runs after the work queued on it before: a checkpoint must see the state and
   * the offset of the same moment. Tasks of other partitions go on meanwhile.
   */
  private withTask<T>(key: string, work: () => Promise<T>): Promise<T> {
    const run = (this.locks.get(key) ?? Promise.resolve()).then(work, work);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, settled);
    // Bounded: a key leaves once nothing is queued on it.
    void settled.then(() => {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    });
    return run;
  }

  private async checkpointDue(interval: number): Promise<void> {
    if (this.stopping) return;
    for (const [key, task] of this.tasks) {
      if (!task.dirty || Date.now() - task.lastCheckpointAt < interval) continue;
      await this.withTask(key, async () => {
        // Still this partition's task and still due once the batch before it is done.
        if (this.tasks.get(key) === task && task.dirty && !this.stopping)
          await this.saveCheckpoint(key, task);
      });
    }
  }

  /**
   * Graceful stop: finish the batches in flight, checkpoint and commit every owned partition, close.
   * Bounded while Redis does not answer: each checkpoint write is given up after `redisTimeoutMs`
   * (and none is tried once the store counts as unreachable); the partitions not checkpointed then
   * resume from their last checkpoint, and stop rejects, saying so, once everything is closed.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    if (this.probeTimer) clearInterval(this.probeTimer);
    // Stop fetching, let the batches in flight finish, then checkpoint and commit while the group
    // membership is still valid (kafkajs refuses commits after stop()).
    try {
      this.consumer.pause(
        this.options.factory.inputs.map((topic) => ({ topic: this.options.prefix + topic })),
      );
    } catch {
      // Not running (a stop while starting, after a start that failed): nothing is fetched.
    }
    while (this.locks.size > 0) await Promise.all([...this.locks.values()]);
    const missed: number[] = [];
    for (const [key, task] of this.tasks) {
      if (!task.dirty) continue;
      const saved = await this.saveCheckpoint(key, task).catch((error: Error) => {
        this.log.error({ partition: task.partition, error: error.message }, 'checkpoint at stop failed');
        return false;
      });
      if (!saved) missed.push(task.partition);
    }
    await this.sending;
    await this.consumer.disconnect();
    await this.producer.disconnect();
    await this.host.close();
    if (missed.length > 0) {
      const why = `stopped without checkpointing partitions ${missed.join(', ')} (${this.storeDown ?? 'checkpoint write failed'}): they resume from their last checkpoint`;
      this.log.error({ partitions: missed }, why);
      throw new Error(why);
    }
    this.log.info('stopped');
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const topic = batch.topic.slice(this.options.prefix.length);
    const key = taskKey(batch.topic, batch.partition);
    const sendFailure = this.sendFailures.get(key);
    if (sendFailure !== undefined) {
      // A deferred send of this partition failed: its task was dropped and the partition rewound
      // (sendFailed). Fail this batch too, so kafkajs backs off before fetching again.
      this.sendFailures.delete(key);
      throw sendFailure;
    }
    const task = this.tasks.get(key) ?? (await this.restoreTask(key, batch.partition, batch.topic));
    const progress = { queued: false };
    try {
      await this.processBatch(task, key, topic, payload, progress);
    } catch (error) {
      // After the outputs were queued in order (a checkpoint write or the closing heartbeat failed,
      // as in every rebalance) state and offsets agree: keep the task, let kafkajs retry; a send that
      // fails later rewinds the partition itself (sendFailed).
      if (progress.queued) throw error;
      // Before: the stage's state and the task's offsets have moved past what was acknowledged:
      // forget the task and fetch again from the committed checkpoint, so kafkajs' retry (or the
      // restart after a crash) neither skips this batch's messages nor checkpoints outputs that
      // were never sent; end markers the failed batch queued go with it.
      this.forget(key, task);
      this.log.warn(
        { partition: batch.partition, rewindTo: task.rewindTo, error: (error as Error).message },
        'batch failed: partition rewound to its checkpoint',
      );
      throw error;
    }
  }

  /** Drops a task whose state went past what was acknowledged, and rewinds its partition. */
  private forget(key: string, task: PartitionTask): void {
    if (this.tasks.get(key) === task) this.tasks.delete(key);
    this.host.drop(task.id);
    const [topic] = splitTaskKey(key);
    if (task.rewindTo !== undefined)
      this.consumer.seek({ topic, partition: task.partition, offset: task.rewindTo });
  }

  /** A stage worker died with these tasks' state: each partition starts again from its checkpoint. */
  private tasksLost(ids: number[], error: Error): void {
    const lost = new Set(ids);
    for (const [key, task] of [...this.tasks]) {
      if (lost.has(task.id)) this.rewind(key, task, error, 'stage worker lost');
    }
  }

  /** `forget` outside a batch (kafkajs may be stopping), logged with why. */
  private rewind(key: string, task: PartitionTask, error: Error, why: string): void {
    try {
      this.forget(key, task);
    } catch (seekError) {
      // Not running any more (stopping): the task is dropped all the same, nothing to rewind.
      this.log.warn({ partition: task.partition, error: (seekError as Error).message }, 'rewind failed');
    }
    this.log.warn(
      { partition: task.partition, rewindTo: task.rewindTo, error: error.message },
      `${why}: partition rewound to its checkpoint`,
    );
  }

  private async processBatch(
    task: PartitionTask,
    key: string,
    topic: string,
    { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload,
    progress: { queued: boolean },
  ): Promise<void> {
    const { factory } = this.options;
    if (task.seekTo !== undefined) {
      // Replay-restore: abandon this batch; the next fetch starts at the partition's beginning.
      this.consumer.seek({ topic: batch.topic, partition: batch.partition, offset: task.seekTo });
      task.seekTo = undefined;
      return;
    }
    const from = BigInt(task.nextOffset);
    const fresh: KafkaMessage[] = [];
    for (const message of batch.messages) {
      if (BigInt(message.offset) < from)
        resolveOffset(message.offset); // already inside the restored state
      else fresh.push(message);
    }
    const keepGoing = () => isRunning() && !isStale() && !this.stopping;
    let outcome: BatchOutcome | null = null;
    if (fresh.length > 0 && keepGoing()) {
      task.rewindTo ??= fresh[0]!.offset;
      outcome = await this.host.process(task.id, topic, fresh, keepGoing);
      if (outcome.processed > 0) {
        task.nextOffset = outcome.nextOffset;
        task.dirty = true;
        resolveOffset(fresh[outcome.processed - 1]!.offset);
      }
      this.noteBatch(outcome);
      const sent = this.dispatch(key, task, outcome.outputs);
      // Counted once per batch, once its outputs are acknowledged: a labelled prom-client increment
      // per record cost a few % of a profiler.
      const events = outcome.events;
      if (events > 0)
        sent.then(
          () => this.counters.events.inc({ stage: factory.name, topic }, events),
          () => undefined,
        );
      // Without a window the batch waits for its own outputs (and fails here if they are refused).
      if (this.maxInFlightBytes === 0) await sent;
    }
    progress.queued = true;
    await this.backpressure(heartbeat);
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

  /** Dead letters and duplicates of a processed batch, logged and counted. */
  private noteBatch(outcome: BatchOutcome): void {
    const stage = this.options.factory.name;
    if (outcome.duplicates > 0) this.counters.duplicates.inc({ stage }, outcome.duplicates);
    for (const note of outcome.deadLetters) {
      this.counters.deadLetters.inc({ stage, reason: note.reason });
      if (note.truncated !== undefined) this.counters.deadLettersCut.inc({ stage, how: 'cut' });
      this.log.warn(note, 'message routed to dead-letter topic');
    }
  }

  /**
   * Queues a batch's outputs on the send chain and returns the task's last send. Requests go out
   * one at a time, in order (the idempotent producer keeps one in flight), while the runner goes on
   * with later batches. After a failed send of a task, its later outputs are not sent: they would
   * reach the topic ahead of the outputs the rewound partition produces again, and consumers would
   * drop those as already seen.
   */
  private dispatch(key: string, task: PartitionTask, outputs: PendingOutput[]): Promise<void> {
    if (outputs.length === 0) return task.sent;
    const stageName = this.options.factory.name;
    const send = this.sending.then(async () => {
      if (task.failed !== undefined) throw task.failed;
      try {
        await this.send(outputs, stageName);
      } catch (error) {
        task.failed = error as Error;
        this.sendFailed(key, task, error as Error);
        throw error;
      }
    });
    const settled = send.then(
      () => undefined,
      () => undefined,
    );
    this.sending = settled;
    let bytes = 0;
    for (const { message } of outputs) bytes += requestBytesOf(message);
    this.inFlight.push({ bytes, settled });
    this.inFlightBytes += bytes;
    void settled.then(() => {
      this.inFlight.shift();
      this.inFlightBytes -= bytes;
    });
    task.sent = send;
    // The task's send is awaited (checkpoint) or observed (sendFailed): no unhandled rejection.
    send.catch(() => undefined);
    return send;
  }

  /** Waits while more than `maxInFlightBytes` of outputs are unacknowledged; heartbeats meanwhile. */
  private async backpressure(heartbeat: () => Promise<void>): Promise<void> {
    if (this.maxInFlightBytes === 0) return;
    while (this.inFlightBytes > this.maxInFlightBytes && this.inFlight.length > 0) {
      await this.inFlight[0]!.settled;
      await heartbeat();
    }
  }

  /**
   * A deferred send failed: the task has processed past outputs that never reached the broker
   * (and maybe later batches whose outputs are queued behind them). As for a failed batch, drop
   * the task and rewind the partition to its checkpoint, which never covers unacknowledged outputs;
   * the partition's next batch fails with the error.
   */
  private sendFailed(key: string, task: PartitionTask, error: Error): void {
    void this.withTask(key, async () => {
      // Already dropped: by a batch that awaited this send, a rebalance or a lost worker.
      if (this.tasks.get(key) !== task) return;
      this.sendFailures.set(key, error);
      this.rewind(key, task, error, 'sending outputs failed');
    });
  }

  private async send(outputs: PendingOutput[], stageName: string): Promise<void> {
    const deadLetterTopic = this.options.prefix + TOPICS.deadLetter;
    const byTopic = new Map<string, Message[]>();
    const deadLetters: Message[] = [];
    for (const { topic, message } of outputs) {
      this.counters.outputs.inc({ stage: stageName, topic: topic.slice(this.options.prefix.length) });
      if (topic === deadLetterTopic) {
        deadLetters.push(message);
        continue;
      }
      const list = byTopic.get(topic);
      if (list) list.push(message);
      else byTopic.set(topic, [message]);
    }
    await this.sendRequests(byTopic);
    if (this.options.onSent) this.noteSent(byTopic);
    // Dead letters in requests of their own (only the order within a topic matters): one the
    // broker refuses as too large must not fail, or duplicate, the stage's outputs.
    if (deadLetters.length > 0) await this.sendDeadLetters(deadLetterTopic, deadLetters, stageName);
  }

  private noteSent(byTopic: Map<string, Message[]>): void {
    for (const [topic, messages] of byTopic) {
      try {
        this.options.onSent?.(topic.slice(this.options.prefix.length), messages);
      } catch (error) {
        this.log.error({ topic, error: (error as Error).message }, 'onSent failed');
      }
    }
  }

  /**
   * Sends messages in requests that stay under the broker's message.max.bytes (1 MiB default) for
   * any one partition, one request at a time, in order.
   */
  private async sendRequests(byTopic: Map<string, Message[]>): Promise<void> {
    let request: { topic: string; messages: Message[] }[] = [];
    let requestBytes = 0;
    for (const [topic, messages] of byTopic) {
      let current: Message[] = [];
      request.push({ topic, messages: current });
      for (const message of messages) {
        const size = requestBytesOf(message);
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
    const last = request.filter((t) => t.messages.length > 0);
    if (last.length > 0) await this.producer.sendBatch({ acks: -1, topicMessages: last });
  }

  /**
   * Dead letters, so that none can block its partition: when the broker refuses them as too large
   * (a topic or broker limit below the value cut, or large headers of the input), they are sent one
   * by one, and one still refused goes without its value and the input's headers: the dead-letter
   * headers (origin, error, `eg-truncated` with the value's size) are what is left of it.
   */
  private async sendDeadLetters(topic: string, messages: Message[], stage: string): Promise<void> {
    const send = (batch: Message[]) =>
      this.producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages: batch }] });
    try {
      await this.sendRequests(new Map([[topic, messages]]));
      return;
    } catch (error) {
      if (!tooLarge(error)) throw error;
    }
    for (const message of messages) {
      try {
        await send([message]);
        continue;
      } catch (error) {
        if (!tooLarge(error)) throw error;
      }
      const headers: Record<string, string> = {};
      for (const name of DEAD_LETTER_HEADERS) {
        const value = message.headers?.[name];
        if (value !== undefined) headers[name] = String(value);
      }
      headers[HEADERS.truncated] ??= String(message.value?.length ?? 0);
      await send([{ key: message.key ?? null, value: null, headers }]);
      this.counters.deadLettersCut.inc({ stage, how: 'dropped' });
      this.log.warn(
        {
          origin: `${headers[HEADERS.originTopic]}/${headers[HEADERS.originPartition]}@${headers[HEADERS.originOffset]}`,
          bytes: Number(headers[HEADERS.truncated]),
        },
        'dead letter too large for the broker: sent without its value',
      );
    }
  }

  private checkpointKey(key: string): string {
    return `${this.options.prefix}checkpoint:${this.group}:${key}`;
  }

  /**
   * Opens a partition's task when this instance takes the partition over: from its checkpoint
   * (state and offset), or, with a stage that does not snapshot its state or a checkpoint that
   * cannot be read, by replaying the partition from its first retained offset (see
   * StageTask.restore). Exact while the input is retained; a replay costs that input at start.
   */
  private async restoreTask(key: string, partition: number, topic: string): Promise<PartitionTask> {
    // Not while Redis does not answer: the batch fails (kafkajs backs off) without queueing reads.
    if (this.storeDown !== null) throw new Error(this.storeDown);
    const id = ++this.lastTaskId;
    const saved = await this.redisCall(
      this.options.redis.getBuffer(this.checkpointKey(key)),
      'checkpoint read',
    );
    // Read before the bytes go to a worker (handed over, not copied).
    const preview = saved?.subarray(0, 200).toString();
    const checkpoint = saved !== null && saved.length > 0 ? saved : null;
    // Where a replay starts, and the log end: a checkpoint past it is of an older incarnation of
    // the topic (deleted and created again, or truncated), see StageTask.restore.
    const offsets = checkpoint === null ? undefined : await this.partitionOffsets(topic, partition);
    const opened = await this.host.open(id, partition, checkpoint, offsets?.high);
    const task: PartitionTask = {
      id,
      partition,
      nextOffset: opened.nextOffset,
      lastCheckpointAt: Date.now(),
      dirty: false,
      sent: Promise.resolve(),
    };
    if (opened.unreadable) {
      this.counters.badCheckpoints.inc({ stage: this.options.factory.name });
      this.log.error({ partition, saved: preview }, 'unreadable checkpoint: replaying the partition');
    }
    if (opened.kind === 'empty') {
      this.log.info({ partition }, 'no checkpoint: starting with empty state');
    } else if (opened.kind === 'restored') {
      task.rewindTo = opened.nextOffset;
      this.log.info({ partition, nextOffset: opened.nextOffset }, 'state restored from checkpoint');
    } else {
      const low = offsets?.low ?? '0'; // a replay has a checkpoint: offsets were fetched
      task.seekTo = low;
      task.rewindTo = low;
      if (opened.stale !== undefined) {
        this.log.warn(
          {
            topic,
            partition,
            checkpoint: opened.savedOffset,
            logEnd: offsets?.high,
            outSeq: opened.stale.outSeq,
          },
          "checkpoint is past the partition's log end: it belongs to an older incarnation of the topic (deleted and created again, or truncated); replaying the partition from its start, sending every output, numbered above the checkpoint's",
        );
        // Replaced at the first chance: once the topic has grown past the old offset, a restart
        // could no longer tell the stale checkpoint from one of this incarnation.
        task.dirty = true;
        task.lastCheckpointAt = 0;
      } else if (opened.savedOffset !== undefined) task.replayUntil = BigInt(opened.savedOffset);
      this.log.info(
        { partition, from: low, until: opened.stale === undefined ? opened.savedOffset : undefined },
        'rebuilding state by replaying the partition',
      );
      if (
        opened.stale === undefined &&
        opened.savedOffset !== undefined &&
        BigInt(low) > BigInt(opened.savedOffset)
      )
        this.log.warn(
          { partition, from: low, checkpoint: opened.savedOffset },
          'input the checkpoint covers is no longer retained: the state is rebuilt without it',
        );
    }
    this.tasks.set(key, task);
    return task;
  }

  /** The partition's first retained offset (`low`) and its log end offset (`high`). */
  private async partitionOffsets(topic: string, partition: number): Promise<{ low: string; high: string }> {
    const admin = this.options.kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
    const found = offsets.find((o) => o.partition === partition);
    // Not guessed: a log end of 0 would take every checkpoint for one of an older topic.
    if (found === undefined)
      throw new Error(`the broker gave no offsets for ${topic} partition ${partition}`);
    return { low: found.low, high: found.high };
  }

  /**
   * Writes the task's checkpoint and commits its offset, unless there is nothing to write (a failed
   * send rewinds the task instead; a replay not yet past the checkpoint it restored keeps that one).
   * False only when Redis counts as unreachable: the task stays dirty, its checkpoint age grows.
   */
  private async saveCheckpoint(key: string, task: PartitionTask): Promise<boolean> {
    // Only once every output of the input it covers is acknowledged. A failed send rewinds the
    // task instead (sendFailed): nothing to checkpoint.
    try {
      await task.sent;
    } catch {
      return true;
    }
    if (task.replayUntil !== undefined) {
      if (BigInt(task.nextOffset) < task.replayUntil) return true;
      task.replayUntil = undefined;
    }
    // Not while Redis does not answer: the write would wait (and hold the partition) for nothing.
    if (this.storeDown !== null) return false;
    const checkpoint = await this.host.checkpoint(task.id);
    try {
      await this.redisCall(this.options.redis.set(this.checkpointKey(key), checkpoint), 'checkpoint write');
    } catch (error) {
      this.storeIs((error as Error).message);
      throw error;
    }
    const [topic] = splitTaskKey(key);
    // Commit only what the checkpoint covers: a new owner resumes exactly at the restored state.
    await this.consumer.commitOffsets([{ topic, partition: task.partition, offset: task.nextOffset }]);
    task.lastCheckpointAt = Date.now();
    task.rewindTo = task.nextOffset;
    task.dirty = false;
    this.counters.stateSize.set(
      { stage: this.options.factory.name, partition: String(task.partition) },
      checkpoint.length,
    );
    return true;
  }
}

/** Unacknowledged output bytes before a batch waits: about one fetch's outputs of the profiler (A/B: 8 MiB beat 4 and 16). */
const DEFAULT_MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024;

/** Redis commands of the runner unanswered this long are given up (StageRunnerOptions.redisTimeoutMs). */
const DEFAULT_REDIS_TIMEOUT_MS = 5_000;

/** How often the runner probes Redis and exports the checkpoint ages. */
const PROBE_INTERVAL_MS = 1_000;

/** What a message adds to a produce request: its value plus ~128 bytes of framing, key and headers. */
function requestBytesOf(message: Message): number {
  return (message.value?.length ?? 0) + 128;
}

/** The broker refused a message or batch as larger than its (or the topic's) limit. */
function tooLarge(error: unknown): boolean {
  for (let e = error as { type?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE') return true;
    e = e.cause as typeof e;
  }
  return false;
}

function taskKey(topic: string, partition: number): string {
  return `${topic}#${partition}`;
}

function splitTaskKey(key: string): [string, number] {
  const at = key.lastIndexOf('#');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}
