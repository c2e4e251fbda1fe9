import {
  type Allowlist,
  type ClientSignal,
  type ContentPartial,
  contentKey,
  type DetectConfig,
  type DetectDeps,
  type FingerprintPartial,
  Profiler,
  type ProfilerSink,
  type ProfilerStats,
  type TrafficTick,
} from '@edgeguard/detect';
import type { AccessLog } from '@edgeguard/schema';
import { type BusMessage, type Emitter, type Stage, type StageFactory, TOPICS } from '../bus.js';

export interface ProfilerStageOptions {
  config: DetectConfig;
  deps: DetectDeps;
  allowlist: Allowlist;
  /** Partitions of `access-logs` (bounds are split across them). */
  partitions: number;
}

/**
 * `profiler`: input `access-logs` keyed by client address. Per partition: client profiles, client
 * signals when noteworthy, and map-side partials re-keyed to `content-partials` (by content key)
 * and `signals` (fingerprint/prefix partials and traffic ticks, for the decider).
 */
export function profilerStage(
  options: ProfilerStageOptions,
): StageFactory & { instances: ProfilerInstance[] } {
  const instances: ProfilerInstance[] = [];
  return {
    name: 'profiler',
    inputs: [TOPICS.accessLogs],
    instances,
    create(partition: number): Stage {
      const instance = new ProfilerInstance(options, partition);
      instances.push(instance);
      return instance;
    },
  };
}

export class ProfilerInstance implements Stage, ProfilerSink {
  readonly name = 'profiler';
  private readonly core: Profiler;
  private out: Emitter | null = null;
  processed = 0;
  rejected = 0;

  constructor(options: ProfilerStageOptions, partition: number) {
    this.core = new Profiler(options.config, options.deps, partition, options.partitions, (ip) =>
      options.allowlist.has(ip),
    );
  }

  process(message: BusMessage, out: Emitter): void {
    const log = message.value as AccessLog | null;
    if (!isAccessLog(log)) {
      this.rejected++;
      out.emit(
        TOPICS.deadLetter,
        message.key,
        { topic: message.topic, reason: 'not-an-access-log' },
        message.timestamp,
      );
      return;
    }
    this.processed++;
    this.out = out;
    this.core.observe(log, this);
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
    this.out!.emit(TOPICS.contentPartials, contentKey(partial.host, partial.path), partial, partial.time);
  }

  tick(tick: TrafficTick): void {
    this.out!.emit(TOPICS.signals, `tick/${tick.partition}`, tick, tick.time);
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
