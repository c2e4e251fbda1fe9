import {
  type ContentPartial,
  type ContentPartialBatch,
  ContentWatch,
  type ContentWatchSink,
  type ContentWatchStats,
  type DetectConfig,
} from '@edgeguard/detect';
import { type CachePolicy, isBadInput } from '@edgeguard/schema';
import {
  type BusMessage,
  type Emitter,
  keepingInstances,
  type Stage,
  type StageFactory,
  TOPICS,
} from '../bus.js';

export interface ContentWatchStageOptions {
  config: DetectConfig;
  /** Partitions of `content-partials` (bounds are split across them). */
  partitions: number;
}

/**
 * `content-watch`: input `content-partials` keyed by content key (host + path), so every partial
 * of one key meets on one instance. Emits `cache-policies` (compacted; null = tombstone at expiry).
 */
export function contentWatchStage(
  options: ContentWatchStageOptions,
): StageFactory & { instances: ContentWatchInstance[] } {
  return keepingInstances('content-watch', [TOPICS.contentPartials], () => new ContentWatchInstance(options));
}

export class ContentWatchInstance implements Stage, ContentWatchSink {
  readonly name = 'content-watch';
  readonly core: ContentWatch;
  private out: Emitter | null = null;
  processed = 0;

  constructor(options: ContentWatchStageOptions) {
    this.core = new ContentWatch(options.config, options.partitions);
  }

  process(message: BusMessage, out: Emitter): void {
    this.processed++;
    this.out = out;
    const value = message.value as ContentPartial | ContentPartialBatch | null;
    if (value !== null && typeof value === 'object' && 'kind' in value && value.kind === 'content-batch') {
      if (!Array.isArray(value.partials)) {
        this.core.process(value as never, this); // counted as rejected, thrown (BadInput)
        return;
      }
      // A malformed partial does not cost the batch's others: they are merged, then the first
      // BadInput is thrown (the Kafka runner dead-letters the batch and counts it).
      let bad: unknown = null;
      for (const partial of value.partials) {
        try {
          this.core.process(partial, this);
        } catch (error) {
          if (!isBadInput(error)) throw error;
          bad ??= error;
        }
      }
      if (bad !== null) throw bad;
      return;
    }
    this.core.process(value as ContentPartial, this);
  }

  advance(watermark: number, out: Emitter): void {
    this.out = out;
    this.core.advance(watermark, this);
  }

  stats(): ContentWatchStats {
    return this.core.getStats();
  }

  cachePolicy(key: string, policy: CachePolicy | null, time: number): void {
    this.out!.emit(TOPICS.cachePolicies, key, policy, time);
  }
}
