/**
 * The Bus: topics of keyed messages split into partitions, as Kafka has them. Stages are written
 * against this interface only, so the same stage code runs in-process (MemoryBus, for `replay`
 * and tests) and over Kafka (the Kafka runtime). A stage never sees which one it is on.
 */

/** Topic names without the deployment prefix (`EDGEGUARD_TOPIC_PREFIX`, default `edgeguard.`). */
export const TOPICS = {
  accessLogs: 'access-logs',
  /** The decider's single input: client signals, fingerprint and prefix partials, traffic ticks. */
  signals: 'signals',
  contentPartials: 'content-partials',
  decisions: 'decisions',
  cachePolicies: 'cache-policies',
  alerts: 'alerts',
  deadLetter: 'dead-letter',
  /** Operator allowlist entries (compacted, key = canonical CIDR); read whole by every decider. */
  allowlist: 'allowlist',
} as const;
export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];

export interface BusMessage<V = unknown> {
  topic: string;
  partition: number;
  /** Position in the partition, increasing by one per message. */
  offset: number;
  key: string;
  /** `null` is a tombstone (deletion on a compacted topic). */
  value: V | null;
  /** Event time of the message, epoch ms. */
  timestamp: number;
}

/** Where a stage sends its outputs. Ordered per key; delivery of a whole batch is acknowledged by the runtime. */
export interface Emitter {
  /**
   * `version`, on a tombstone: the version of the record it deletes. The Kafka runtime sends it
   * as the `eg-version` header, so that consumers keep a newer record for the key; the in-process
   * runtime has no use for it.
   */
  emit<V>(topic: string, key: string, value: V | null, timestamp: number, version?: number): void;
}

/**
 * A stage: a pure function of its input messages plus its own bounded state. One instance runs
 * per input partition (like a Kafka Streams task), so state is partition-local.
 */
export interface Stage {
  readonly name: string;
  /**
   * Handles one input message; may emit any number of outputs. Bad values are counted; a value
   * the stage cannot use at all may then be thrown as a `BadInput` (the Kafka runner dead-letters
   * it by reason and goes on; so does the MemoryBus, onto its dead-letter topic). Nothing else is
   * thrown for bad values.
   */
  process(message: BusMessage, out: Emitter): void;
  /**
   * Called when event time on this stage's input has advanced (watermark = max seen event time
   * minus allowed lateness); time-driven outputs (window flushes, expiries) happen here.
   */
  advance?(watermark: number, out: Emitter): void;
  /** Called once at end of input (replay): flush everything still held. */
  finish?(out: Emitter): void;
  /** State for checkpointing with the input offset; restored by `restore` on (re)assignment. */
  snapshot?(): unknown;
  restore?(state: unknown): void;
  /**
   * Called when the runtime drops the instance (the Kafka runner: its partition was revoked, or
   * rewound to its checkpoint into a new instance): it gets no more input.
   */
  close?(): void;
}

/** Builds the stage instance for one partition of its input topic(s). */
export interface StageFactory {
  readonly name: string;
  /** Input topics; the stage gets each message of partition p of these on its instance p. */
  readonly inputs: readonly string[];
  create(partition: number): Stage;
}

/**
 * A stage factory that keeps the instances it creates (the topology reads their state and
 * statistics): `create(partition)` builds one with `make` and remembers it until the runtime
 * closes it. The Kafka runner makes a new instance at each assignment and rewind and closes the
 * old one: kept, every rebalance would have held another instance's windows for good.
 */
export function keepingInstances<T extends Stage>(
  name: string,
  inputs: readonly string[],
  make: (partition: number) => T,
): StageFactory & { instances: T[] } {
  const instances: T[] = [];
  return {
    name,
    inputs,
    instances,
    create(partition: number): T {
      const instance = make(partition);
      instances.push(instance);
      const close = instance.close?.bind(instance);
      instance.close = () => {
        const at = instances.indexOf(instance);
        if (at !== -1) instances.splice(at, 1);
        close?.();
      };
      return instance;
    },
  };
}

/** A topology: the stage factories and the partition count of every topic they use. */
export interface Topology {
  stages: StageFactory[];
  partitions: Record<string, number>;
}

/**
 * Java-compatible partitioning is not needed in-process; this is a stable FNV-1a over the key so
 * that one client's history always lands on one partition of a topic.
 */
export function partitionFor(key: string, partitions: number): number {
  if (partitions <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
