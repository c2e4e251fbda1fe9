import {
  type Allowlist,
  type ClientSignal,
  type ContentPartial,
  type ContentPartialBatch,
  contentKey,
  type DetectConfig,
  type DetectDeps,
  type FingerprintPartial,
  Profiler,
  type ProfilerSink,
  type ProfilerStats,
  type SlotAttachments,
  type TrafficTick,
} from '@edgeguard/detect';
import { type AccessLog, BadInput } from '@edgeguard/schema';
import {
  type BusMessage,
  type Emitter,
  keepingInstances,
  partitionFor,
  type Stage,
  type StageFactory,
  TOPICS,
} from '../bus.js';

export interface ProfilerStageOptions {
  config: DetectConfig;
  deps: DetectDeps;
  allowlist: Allowlist;
  /** Partitions of `access-logs` (bounds are split across them). */
  partitions: number;
  /** Partitions of `content-partials` (default: `partitions`). */
  contentPartitions?: number;
}

/**
 * Content partials per message, at most: a batch stays far below Kafka's default
 * message.max.bytes (1 MB) at a few hundred bytes per partial.
 */
const CONTENT_BATCH_SIZE = 500;

/** A key that lands on each partition of `topic` with `partitions` partitions (partitionFor is FNV-1a). */
function batchKeys(prefix: string, partitions: number): string[] {
  const keys: (string | undefined)[] = new Array(partitions);
  let found = 0;
  for (let i = 0; found < partitions; i++) {
    const key = `${prefix}/${i}`;
    const p = partitionFor(key, partitions);
    if (keys[p] === undefined) {
      keys[p] = key;
      found++;
    }
  }
  return keys as string[];
}

/**
 * `profiler`: input `access-logs` keyed by client address. Per partition: client profiles, client
 * signals when noteworthy, and map-side partials re-keyed to `content-partials` (by content key)
 * and `signals` (fingerprint/prefix partials and traffic ticks, for the decider).
 */
export function profilerStage(
  options: ProfilerStageOptions,
): StageFactory & { instances: ProfilerInstance[] } {
  return keepingInstances(
    'profiler',
    [TOPICS.accessLogs],
    (partition) => new ProfilerInstance(options, partition),
  );
}

export class ProfilerInstance implements Stage, ProfilerSink {
  readonly name = 'profiler';
  private readonly core: Profiler;
  private out: Emitter | null = null;
  processed = 0;
  rejected = 0;

  private readonly contentPartitions: number;
  private readonly contentBatchKeys: string[];
  /** Content partials of the current flush, per `content-partials` partition. */
  private readonly pendingContent: ContentPartial[][];

  constructor(options: ProfilerStageOptions, partition: number) {
    this.core = new Profiler(options.config, options.deps, partition, options.partitions, (ip, ipv4) =>
      options.allowlist.hasIpv4(ipv4, ip),
    );
    this.contentPartitions = Math.max(1, options.contentPartitions ?? options.partitions);
    this.contentBatchKeys = batchKeys(`content-batch/${partition}`, this.contentPartitions);
    this.pendingContent = Array.from({ length: this.contentPartitions }, () => []);
  }

  process(message: BusMessage, out: Emitter): void {
    const log = message.value as AccessLog | null;
    if (!isAccessLog(log)) {
      // Thrown, not emitted: the Kafka stage runner dead-letters it with its origin and counts it
      // by reason (an emitted dead letter lost both and counted as an output).
      this.rejected++;
      throw new BadInput(
        'not-an-access-log',
        'not an access log (time, clientAddress, path or status missing or of the wrong type)',
      );
    }
    this.processed++;
    this.out = out;
    this.core.observe(log, this);
  }

  /** The profiler's {@link SlotAttachments} (the replay's backtest keeps its entry numbers there). */
  get slots(): SlotAttachments {
    return this.core;
  }

  advance(watermark: number, out: Emitter): void {
    this.out = out;
    this.core.advance(watermark, this);
  }

  finish(out: Emitter): void {
    this.out = out;
    this.core.finish(this);
  }

  stats(): ProfilerStats {
    return this.core.getStats();
  }

  clientSignal(signal: ClientSignal): void {
    this.out!.emit(TOPICS.signals, signal.ip, signal, signal.time);
  }

  fingerprintPartial(partial: FingerprintPartial): void {
    this.out!.emit(TOPICS.signals, partial.fingerprint, partial, partial.time);
  }

  contentPartial(partial: ContentPartial): void {
    // Batched per target partition (content-watch is partitioned by content key).
    const p =
      this.contentPartitions === 1
        ? 0
        : partitionFor(contentKey(partial.host, partial.path), this.contentPartitions);
    const pending = this.pendingContent[p]!;
    pending.push(partial);
    if (pending.length >= CONTENT_BATCH_SIZE) this.flushContent(p, partial.time);
  }

  /** The end of a flush (the core sends the tick last): send the content batches, then the tick. */
  tick(tick: TrafficTick): void {
    for (let p = 0; p < this.contentPartitions; p++) this.flushContent(p, tick.time);
    this.out!.emit(TOPICS.signals, `tick/${tick.partition}`, tick, tick.time);
  }

  private flushContent(partition: number, time: number): void {
    const partials = this.pendingContent[partition]!;
    if (partials.length === 0) return;
    const batch: ContentPartialBatch = { kind: 'content-batch', time, partials: partials.splice(0) };
    this.out!.emit(TOPICS.contentPartials, this.contentBatchKeys[partition]!, batch, time);
  }
}

function isAccessLog(value: unknown): value is AccessLog {
  if (value === null || typeof value !== 'object') return false;
  const v = value as AccessLog;
  return (
    typeof v.time === 'number' &&
    Number.isFinite(v.time) &&
    typeof v.clientAddress === 'string' &&
    typeof v.path === 'string' &&
    typeof v.status === 'number'
  );
}
