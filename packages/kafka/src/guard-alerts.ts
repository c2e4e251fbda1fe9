import type { GuardAlert } from '@edgeguard/detect';
import { type Stage, type StageFactory, TOPICS } from '@edgeguard/pipeline';
import { BadInput } from '@edgeguard/schema';
import type { Logger, Metrics } from '@edgeguard/telemetry';
import type { Message } from 'kafkajs';
import { HEADERS, headerText } from './codec.js';

/**
 * Reads one `alerts` record into a GuardAlert; throws BadInput (`bad-alert`) naming what is wrong.
 */
export function parseGuardAlert(value: unknown): GuardAlert {
  const fail = (message: string) => new BadInput('bad-alert', message);
  if (typeof value !== 'object' || value === null) throw fail('expected a GuardAlert object');
  const alert = value as Partial<GuardAlert>;
  if (alert.kind !== 'blast-radius') throw fail(`unknown alert kind ${JSON.stringify(alert.kind)}`);
  // Times the alert text, the log line and the webhook body print as ISO dates: one beyond what a
  // Date holds (±8.64e15 ms) would throw in the alert webhook's consumer for good, at every restart.
  for (const field of ['time', 'heldUntil'] as const)
    if (typeof alert[field] === 'number' && Number.isNaN(new Date(alert[field]).getTime()))
      throw fail(`${field} must be a time (ms since 1970)`);
  if (alert.state !== 'tripped' && alert.state !== 'released')
    throw fail(`state must be tripped or released, not ${JSON.stringify(alert.state)}`);
  if (typeof alert.message !== 'string') throw fail('message must be a string');
  for (const field of [
    'time',
    'coveredEstablished',
    'activeEstablished',
    'threshold',
    'heldUntil',
    'held',
  ] as const) {
    if (typeof alert[field] !== 'number' || !Number.isFinite(alert[field]))
      throw fail(`${field} must be a number`);
  }
  if (!Array.isArray(alert.sampleKeys) || !alert.sampleKeys.every((k) => typeof k === 'string'))
    throw fail('sampleKeys must be a list of strings');
  return {
    kind: alert.kind,
    time: alert.time!,
    state: alert.state,
    message: alert.message,
    coveredEstablished: alert.coveredEstablished!,
    activeEstablished: alert.activeEstablished!,
    threshold: alert.threshold!,
    heldUntil: alert.heldUntil!,
    held: alert.held!,
    sampleKeys: alert.sampleKeys,
  };
}

/** An `alerts` message's alert, or null for a control message (end of input). Throws BadInput. */
export function alertOfMessage(value: Buffer | null, headers: Message['headers']): GuardAlert | null {
  if (headerText(headers ?? undefined, HEADERS.control) !== undefined) return null;
  if (value === null) throw new BadInput('bad-alert', 'alert record without a value');
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    throw new BadInput('bad-alert', `not JSON: ${(error as Error).message}`);
  }
  return parseGuardAlert(parsed);
}

/**
 * One readable line for a chat message (Slack and Mattermost incoming webhooks show `text`): what
 * happened, in event time, and the alert's own message with its numbers.
 */
export function alertText(alert: GuardAlert, source?: string): string {
  const where = source ? ` (${source})` : '';
  const what = alert.state === 'tripped' ? 'TRIPPED' : 'released';
  return `edgeguard blast-radius guard ${what} at ${new Date(alert.time).toISOString()}${where}: ${alert.message}`;
}

/** A stage instance whose blast-radius guard can be asked whether it holds (the decider's). */
interface GuardedStage extends Stage {
  guardHold(): { until: number; held: number } | null;
}

function isGuarded(stage: Stage): stage is GuardedStage {
  return typeof (stage as Partial<GuardedStage>).guardHold === 'function';
}

/**
 * The blast-radius guard seen from the decider service: metrics and one log line per alert.
 *
 * - `edgeguard_guard_holding{partition}`: 1 while the decider instance of that `signals` partition
 *   holds automatic decisions, else 0; only partitions this process owns (an alert rule takes the
 *   max over them and over instances). Read from the instance's state after each input, so it is
 *   right after a restart too (the replay rebuilds the hold).
 * - `edgeguard_guard_held_decisions{partition}`: decisions held so far in the current hold.
 * - `edgeguard_guard_alerts_total{state}` and `edgeguard_guard_decisions_held_total` (decisions
 *   held, counted when their hold ends: the released alert's `held`), and a log line per alert
 *   (warn when tripped, info when released): from the alerts the broker acknowledged, so each
 *   alert once — not again when a restarted decider replays its input and regenerates alerts it
 *   had sent.
 */
export class GuardMonitor {
  private readonly log: Logger;
  private readonly gauges;
  private readonly counters;

  constructor(options: { metrics: Metrics; logger: Logger }) {
    const m = options.metrics;
    this.log = options.logger.child({ component: 'blast-radius-guard' });
    this.gauges = {
      holding: m.gauge(
        'edgeguard_guard_holding',
        'whether the blast-radius guard holds automatic decisions (1) or not (0), per signals partition',
        ['partition'],
      ),
      held: m.gauge(
        'edgeguard_guard_held_decisions',
        'automatic decisions the blast-radius guard has held so far in its current hold, per signals partition',
        ['partition'],
      ),
    };
    this.counters = {
      alerts: m.counter('edgeguard_guard_alerts_total', 'blast-radius guard alerts published, by state', [
        'state',
      ]),
      held: m.counter(
        'edgeguard_guard_decisions_held_total',
        'automatic decisions held by the blast-radius guard, counted when their hold ends',
      ),
    };
    m.countFromZero('edgeguard_guard_alerts_total', { state: ['tripped', 'released'] });
  }

  /**
   * The decider's stage factory, each instance it creates watched: the hold gauges follow the
   * instance after every input, and its series go when the runner drops it.
   */
  watch(factory: StageFactory): StageFactory {
    return {
      name: factory.name,
      inputs: factory.inputs,
      create: (partition) => {
        const stage = factory.create(partition);
        return isGuarded(stage) ? this.watched(stage, String(partition)) : stage;
      },
    };
  }

  /** Outputs the broker acknowledged: alerts are counted and logged. */
  sent(topic: string, messages: readonly Message[]): void {
    if (topic !== TOPICS.alerts) return;
    for (const message of messages) {
      const source = headerText(message.headers ?? undefined, HEADERS.source);
      let alert: GuardAlert | null;
      try {
        alert = alertOfMessage(message.value as Buffer | null, message.headers);
      } catch (error) {
        this.log.error({ source, error: (error as Error).message }, 'unreadable alert produced');
        continue;
      }
      if (alert === null) continue;
      this.counters.alerts.inc({ state: alert.state });
      const fields = {
        source,
        time: new Date(alert.time).toISOString(),
        heldUntil: new Date(alert.heldUntil).toISOString(),
        coveredEstablished: alert.coveredEstablished,
        activeEstablished: alert.activeEstablished,
        threshold: alert.threshold,
        held: alert.held,
        sampleKeys: alert.sampleKeys,
      };
      if (alert.state === 'tripped') {
        this.log.warn(fields, `blast-radius guard tripped: ${alert.message}`);
      } else {
        this.counters.held.inc(alert.held);
        this.log.info(fields, `blast-radius guard released: ${alert.message}`);
      }
    }
  }

  /** The same stage, its guard's hold exported after each call that may change it. */
  private watched(stage: GuardedStage, partition: string): Stage {
    let holding = -1;
    let held = -1;
    const labels = { partition };
    const update = () => {
      const hold = stage.guardHold();
      const nowHolding = hold === null ? 0 : 1;
      const nowHeld = hold === null ? 0 : hold.held;
      // Set on change only: a labelled gauge set per input would cost more than the check.
      if (nowHolding !== holding) {
        holding = nowHolding;
        this.gauges.holding.set(labels, holding);
      }
      if (nowHeld !== held) {
        held = nowHeld;
        this.gauges.held.set(labels, held);
      }
    };
    update();
    // Forwarded one by one: whether the stage snapshots (and so is restored rather than replayed)
    // must stay what the stage itself says.
    const wrapped: Stage = {
      name: stage.name,
      process: (message, out) => {
        stage.process(message, out);
        update();
      },
      close: () => {
        stage.close?.();
        this.gauges.holding.remove(labels);
        this.gauges.held.remove(labels);
      },
    };
    if (stage.advance)
      wrapped.advance = (watermark, out) => {
        stage.advance!(watermark, out);
        update();
      };
    if (stage.finish)
      wrapped.finish = (out) => {
        stage.finish!(out);
        update();
      };
    if (stage.snapshot) wrapped.snapshot = () => stage.snapshot!();
    if (stage.restore)
      wrapped.restore = (state) => {
        stage.restore!(state);
        update();
      };
    return wrapped;
  }
}
