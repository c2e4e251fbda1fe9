import {
  type Allowlist,
  type AllowlistTimeline,
  Decider,
  type DeciderInput,
  type DeciderSink,
  type DeciderStats,
  type DetectConfig,
  type GuardAlert,
} from '@edgeguard/detect';
import type { Decision } from '@edgeguard/schema';
import {
  type BusMessage,
  type Emitter,
  keepingInstances,
  type Stage,
  type StageFactory,
  TOPICS,
} from '../bus.js';

export interface DeciderStageOptions {
  config: DetectConfig;
  allowlist: Allowlist;
  prefixOf: (ip: string) => string | null;
  /**
   * Runtime allowlist entries (the Kafka decider follows the `allowlist` topic into it). Each
   * instance then decides with its own copy of `allowlist` plus the entries in effect at its
   * event time, and lifts the active decisions an entry covers once it is in effect.
   */
  allowlistTimeline?: AllowlistTimeline;
}

/**
 * `decider`: ONE input topic, `signals` (1 partition by default, so the blast-radius guard sees
 * all traffic). Emits `decisions` (compacted; null = tombstone at expiry) and `alerts`.
 */
export function deciderStage(options: DeciderStageOptions): StageFactory & { instances: DeciderInstance[] } {
  return keepingInstances('decider', [TOPICS.signals], () => new DeciderInstance(options));
}

export class DeciderInstance implements Stage, DeciderSink {
  readonly name = 'decider';
  readonly core: Decider;
  private out: Emitter | null = null;
  processed = 0;

  private readonly allowlist: Allowlist;
  private readonly timeline: AllowlistTimeline | null;
  /** Newest input time seen: the event time runtime allowlist entries are applied at. */
  private clock = Number.NEGATIVE_INFINITY;
  private appliedRevision = -1;
  private nextAllowlistChange = Number.POSITIVE_INFINITY;
  private appliedCidrs = '';

  constructor(options: DeciderStageOptions) {
    this.timeline = options.allowlistTimeline ?? null;
    this.allowlist = this.timeline ? options.allowlist.copy() : options.allowlist;
    this.core = new Decider(options.config, this.allowlist, options.prefixOf);
  }

  process(message: BusMessage, out: Emitter): void {
    this.processed++;
    this.out = out;
    if (this.timeline !== null) this.followAllowlist(message.timestamp);
    this.core.process(message.value as DeciderInput, this);
  }

  /** Applies the runtime allowlist entries in effect at the input's time (two comparisons when nothing changed). */
  private followAllowlist(time: number): void {
    const timeline = this.timeline!;
    if (time > this.clock) this.clock = time;
    if (timeline.revision === this.appliedRevision && this.clock < this.nextAllowlistChange) return;
    const { cidrs, nextChange } = timeline.at(this.clock);
    this.appliedRevision = timeline.revision;
    this.nextAllowlistChange = nextChange;
    const applied = cidrs.join(',');
    if (applied === this.appliedCidrs) return;
    this.appliedCidrs = applied;
    this.allowlist.setRuntimeEntries(cidrs);
    // Lifts are dated by the input that brought the entry into effect.
    this.core.advance(this.clock, this);
    this.core.liftAllowlisted(this);
  }

  advance(watermark: number, out: Emitter): void {
    this.out = out;
    this.core.advance(watermark, this);
  }

  finish(out: Emitter): void {
    this.out = out;
    this.core.finish(this);
  }

  stats(): DeciderStats {
    return this.core.getStats();
  }

  /** The blast-radius guard's hold while it holds, else null (see Decider.guardHold). */
  guardHold(): { until: number; held: number } | null {
    return this.core.guardHold();
  }

  decision(key: string, decision: Decision | null, time: number, version?: number): void {
    this.out!.emit(TOPICS.decisions, key, decision, time, version);
  }

  alert(alert: GuardAlert): void {
    this.out!.emit(TOPICS.alerts, alert.kind, alert, alert.time);
  }
}
