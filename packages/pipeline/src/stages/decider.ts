import {
  type Allowlist,
  Decider,
  type DeciderInput,
  type DeciderSink,
  type DeciderStats,
  type DetectConfig,
  type GuardAlert,
} from '@edgeguard/detect';
import type { Decision } from '@edgeguard/schema';
import { type BusMessage, type Emitter, type Stage, type StageFactory, TOPICS } from '../bus.js';

export interface DeciderStageOptions {
  config: DetectConfig;
  allowlist: Allowlist;
  prefixOf: (ip: string) => string | null;
}

/**
 * `decider`: ONE input topic, `signals` (1 partition by default, so the blast-radius guard sees
 * all traffic). Emits `decisions` (compacted; null = tombstone at expiry) and `alerts`.
 */
export function deciderStage(options: DeciderStageOptions): StageFactory & { instances: DeciderInstance[] } {
  const instances: DeciderInstance[] = [];
  return {
    name: 'decider',
    inputs: [TOPICS.signals],
    instances,
    create(): Stage {
      const instance = new DeciderInstance(options);
      instances.push(instance);
      return instance;
    },
  };
}

export class DeciderInstance implements Stage, DeciderSink {
  readonly name = 'decider';
  readonly core: Decider;
  private out: Emitter | null = null;
  processed = 0;

  constructor(options: DeciderStageOptions) {
    this.core = new Decider(options.config, options.allowlist, options.prefixOf);
  }

  process(message: BusMessage, out: Emitter): void {
    this.processed++;
    this.out = out;
    this.core.process(message.value as DeciderInput, this);
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

  decision(key: string, decision: Decision | null, time: number): void {
    this.out!.emit(TOPICS.decisions, key, decision, time);
  }

  alert(alert: GuardAlert): void {
    this.out!.emit(TOPICS.alerts, alert.kind, alert, alert.time);
  }
}
