import { BadInput } from '@edgeguard/schema';
import { type BusMessage, type Emitter, partitionFor, type Stage, TOPICS, type Topology } from './bus.js';

type Listener = (message: BusMessage) => void;

/** Queue slots kept between drains; a longer queue (a flush's burst) gives its storage back. */
const KEPT_QUEUE_SLOTS = 1024;

/** Per topic: its partitions' next offsets, its listeners and its messages delivered. */
interface TopicState {
  partitions: number;
  nextOffsets: number[];
  listeners: Listener[];
  delivered: number;
}

/**
 * The in-process runtime: delivers messages through a FIFO queue, so a run over the same input is
 * fully deterministic (same decisions every run). Stages get one instance per partition, as on Kafka.
 */
export class MemoryBus implements Emitter {
  /**
   * Messages to deliver: `head` to `tail`. Emptied in place as they are delivered: `length = 0`
   * gave up the array's storage, and a replay drains after every message pushed, so each one
   * allocated it again.
   */
  private readonly queue: (BusMessage | undefined)[] = [];
  /** Each queued message's topic state, found by `emit` already: delivering it probes no map. */
  private readonly queueStates: (TopicState | undefined)[] = [];
  private head = 0;
  private tail = 0;
  private readonly topics = new Map<string, TopicState>();
  private readonly instances: { stage: Stage; inputs: readonly string[] }[] = [];
  private draining = false;

  constructor(private readonly topology: Topology) {
    for (const factory of topology.stages) {
      const parts = Math.max(1, ...factory.inputs.map((t) => this.partitionsOf(t)));
      const perPartition: Stage[] = [];
      for (let p = 0; p < parts; p++) {
        const stage = factory.create(p);
        perPartition.push(stage);
        this.instances.push({ stage, inputs: factory.inputs });
      }
      for (const topic of factory.inputs) {
        this.on(topic, (message) => {
          const stage = perPartition[message.partition % perPartition.length]!;
          try {
            stage.process(message, this);
          } catch (error) {
            // A value the stage cannot use at all (it counted it): dead-lettered as the Kafka
            // runner does, and the stream goes on.
            if (!(error instanceof BadInput)) throw error;
            this.emit(TOPICS.deadLetter, message.key, message.value, message.timestamp);
          }
        });
      }
    }
  }

  partitionsOf(topic: string): number {
    return this.topology.partitions[topic] ?? 1;
  }

  /** Observes every message of a topic (sinks: files, reports, the verdict backtest). */
  on(topic: string, listener: Listener): void {
    this.topicState(topic).listeners.push(listener);
  }

  emit<V>(topic: string, key: string, value: V | null, timestamp: number): void {
    this.enqueue(this.topicState(topic), topic, key, value, timestamp);
  }

  /**
   * `emit` on one topic, its state found once instead of per message (a replay publishes every
   * line on access-logs).
   */
  publisher<V>(topic: string): (key: string, value: V | null, timestamp: number) => void {
    const state = this.topicState(topic);
    return (key, value, timestamp) => this.enqueue(state, topic, key, value, timestamp);
  }

  private enqueue(state: TopicState, topic: string, key: string, value: unknown, timestamp: number): void {
    const partition = partitionFor(key, state.partitions);
    const offset = state.nextOffsets[partition]!;
    state.nextOffsets[partition] = offset + 1;
    this.queueStates[this.tail] = state;
    this.queue[this.tail++] = { topic, partition, offset, key, value, timestamp };
    if (!this.draining) this.drain();
  }

  private topicState(topic: string): TopicState {
    let state = this.topics.get(topic);
    if (state === undefined) {
      const partitions = Math.max(1, this.partitionsOf(topic));
      state = { partitions, nextOffsets: new Array<number>(partitions).fill(0), listeners: [], delivered: 0 };
      this.topics.set(topic, state);
    }
    return state;
  }

  /**
   * Messages delivered on `topic` so far (every message emitted, once its delivery is done): counted
   * here rather than by a listener per topic, which cost a closure call per message.
   */
  delivered(topic: string): number {
    return this.topics.get(topic)?.delivered ?? 0;
  }

  /** Moves event time forward for every stage instance, then delivers what that produced. */
  advance(watermark: number): void {
    for (const { stage } of this.instances) stage.advance?.(watermark, this);
    this.drain();
  }

  /** End of input: every stage flushes, in topology order, until nothing is left to deliver. */
  finish(): void {
    for (const { stage } of this.instances) {
      stage.finish?.(this);
      this.drain();
    }
  }

  private drain(): void {
    this.draining = true;
    try {
      while (this.head < this.tail) {
        const at = this.head++;
        const state = this.queueStates[at]!;
        const message = this.queue[at]!;
        // Delivered messages are not kept alive by the queue (cleared one by one: a `fill` after
        // the loop cost a builtin call per drain, that is per line of a replay). Topic states
        // live as long as the bus anyway.
        this.queue[at] = undefined;
        for (const listener of state.listeners) listener(message);
        state.delivered++;
      }
      if (this.tail > KEPT_QUEUE_SLOTS) {
        this.queue.length = 0;
        this.queueStates.length = 0;
      }
      this.head = 0;
      this.tail = 0;
    } finally {
      this.draining = false;
    }
  }
}
