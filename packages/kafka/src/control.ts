import { type AllowEntry, canonicalDecisionKey, parseDecisionKey } from '@edgeguard/decisions';
import { type Cidr, parseExactCidr } from '@edgeguard/netaddr';
import { partitionFor, TOPICS } from '@edgeguard/pipeline';
import { ACTIONS, type Action, BadInput, type Decision, type DecisionScope } from '@edgeguard/schema';
import type { Message, Producer } from 'kafkajs';
import { encodeJson, HEADERS } from './codec.js';

/**
 * Operator writes (manual decisions, allowlist entries) as Kafka messages. The API and the CLI
 * never write Redis themselves: they produce here, and every consumer (the store writer, every
 * decider, edge agents following the topics, `edgeguard tail`) sees the same record.
 */

/** `eg-src` of operator writes. The store writer tells operator tombstones from the decider's by it. */
export const MANUAL_SOURCE = 'manual';

/** Longest manual decision or allowlist entry: a year. Longer is almost surely a unit mistake. */
export const MAX_CONTROL_DURATION_MS = 366 * 86_400_000;
const MAX_REASON_LENGTH = 200;
const MAX_FINGERPRINT_LENGTH = 256;
const MAX_COMMENT_LENGTH = 500;

/**
 * The widest range an operator may block or allowlist without `force`: an IPv4 /8 (a whole legacy
 * class A) and an IPv6 /32 (a regional registry's usual allocation to one ISP). Wider is almost
 * surely a mistake — `0.0.0.0/0` in the allowlist switches every block off everywhere (allowlists
 * always win), a manual block of it blocks every client.
 */
export const WIDEST_MANUAL_RANGE = { 4: 8, 6: 32 } as const;

/** A range wider than WIDEST_MANUAL_RANGE, refused unless forced; null when it is not too wide. */
function tooWide(cidr: Cidr, force: boolean | undefined): string | null {
  const widest = WIDEST_MANUAL_RANGE[cidr.version];
  if (force || cidr.prefixLength >= widest) return null;
  return `${cidr.text} is wider than /${widest} (${cidr.version === 4 ? 'an IPv4' : 'an IPv6'} /${cidr.prefixLength}): almost surely a mistake; force it (--force, or "force": true in the API) if it really is meant`;
}

export interface ManualDecisionInput {
  /** Exactly one of ip, range, fingerprint. */
  ip?: string;
  range?: string;
  fingerprint?: string;
  /** block, challenge or throttle. */
  action: string;
  /** How long it applies, ms (1 ms to MAX_CONTROL_DURATION_MS). */
  duration: number;
  /** Why, in a few words; becomes the decision's `reason` (`edgeguard/<reason>` for CrowdSec bouncers). */
  reason: string;
  /** Epoch ms; default the wall clock (event time and wall time are the same thing live). */
  now?: number;
  /** Allow a range wider than WIDEST_MANUAL_RANGE. */
  force?: boolean;
}

let lastVersion = 0;

/**
 * A version that beats every version the decider gives the same key. The decider numbers its
 * decisions by event time, milliseconds × 100 (`autoVersion` in packages/detect, ≈1.8e14 in 2027);
 * wall-clock microseconds (≈1.8e15) are ten times above that for the same time and still exact in a
 * double (< 2^53 until the year 2255). The counter keeps versions strictly increasing within a
 * process when several writes share a millisecond or the clock steps back. The store keeps the
 * highest version per key, so a manual decision replaces an automatic one, and an automatic one
 * never silently replaces a manual one (see the store writer for the tombstone rule).
 */
export function nextManualVersion(now = Date.now()): number {
  lastVersion = Math.max(lastVersion + 1, Math.floor(now) * 1000);
  return lastVersion;
}

function bad(field: string, message: string): BadInput {
  return new BadInput('bad-manual-decision', message, field);
}

/** Printable text of at most `max` characters, trimmed; BadInput naming the field otherwise. */
function text(value: unknown, field: string, max: number, required: boolean): string {
  if (value === undefined || value === null) {
    if (required) throw bad(field, `${field}: required`);
    return '';
  }
  if (typeof value !== 'string') throw bad(field, `${field}: expected text, got ${typeof value}`);
  const trimmed = value.trim();
  if (required && trimmed.length === 0) throw bad(field, `${field}: must not be empty`);
  if (trimmed.length > max) throw bad(field, `${field}: at most ${max} characters, got ${trimmed.length}`);
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) throw bad(field, `${field}: control characters are not allowed`);
  return trimmed;
}

function duration(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
    throw bad(field, `${field}: expected a positive duration in ms, got ${String(value)}`);
  }
  if (value > MAX_CONTROL_DURATION_MS) {
    // Two decimals: 8785h is 366.04 days, which rounded to a whole day read "at most 366, got 366".
    const days = Number((value / 86_400_000).toFixed(2));
    throw bad(field, `${field}: at most 366 days, got ${days} days`);
  }
  return Math.round(value);
}

/** The scope and canonical value of exactly one of ip / range / fingerprint. */
export function decisionTarget(input: { ip?: string; range?: string; fingerprint?: string }): {
  key: string;
  scope: DecisionScope;
  value: string;
} {
  const given = (['ip', 'range', 'fingerprint'] as const).filter(
    (name) => input[name] !== undefined && input[name] !== null,
  );
  if (given.length !== 1) {
    throw bad(
      given[1] ?? 'ip',
      given.length === 0
        ? 'name what the decision covers: one of ip, range or fingerprint'
        : `only one of ip, range or fingerprint, got ${given.join(' and ')}`,
    );
  }
  const scope = given[0]!;
  const field = scope;
  let raw = text(input[scope], field, scope === 'fingerprint' ? MAX_FINGERPRINT_LENGTH : 64, true);
  if (scope === 'fingerprint' && /\s/.test(raw)) throw bad(field, 'fingerprint: must not contain spaces');
  // A key copied from `decisions list` (fp:h1:…) names the fingerprint h1:…; kept, it would name
  // fp:fp:h1:…, which no request ever matches (an add that never blocks, a delete that deletes nothing).
  if (scope === 'fingerprint' && raw.startsWith('fp:')) {
    raw = raw.slice(3);
    if (raw.length === 0)
      throw bad(field, 'fingerprint: "fp:" names no fingerprint (expected fp:<fingerprint>)');
  }
  if (scope === 'ip' && raw.includes('/')) {
    throw bad(field, `ip: expected one address, got the range ${JSON.stringify(raw)} (use range)`);
  }
  try {
    if (scope === 'range') parseExactCidr(raw); // 192.0.2.5/16 is a typo, not 192.0.0.0/16
    return canonicalDecisionKey(scope, raw);
  } catch (error) {
    if (error instanceof BadInput) {
      throw bad(
        field,
        scope === 'ip'
          ? `ip: expected an IPv4 or IPv6 address, got ${JSON.stringify(raw)}`
          : `range: ${error.message}`,
      );
    }
    throw error;
  }
}

/**
 * A manual decision (origin `manual`) on one address, range or fingerprint, keyed canonically as
 * the store and the decider key it. `decidedAt` is now and `expiresAt` now + duration, in event
 * time (= wall time live). Throws BadInput (`bad-manual-decision`) naming the wrong field.
 */
export function manualDecision(input: ManualDecisionInput): Decision {
  const target = decisionTarget(input);
  if (target.scope === 'range') {
    const wide = tooWide(parseExactCidr(target.value), input.force);
    if (wide) throw bad('range', `range: ${wide}`);
  }
  if (!ACTIONS.includes(input.action as Action)) {
    throw bad('action', `action: expected one of ${ACTIONS.join(', ')}, got ${JSON.stringify(input.action)}`);
  }
  const ms = duration(input.duration, 'duration');
  const reason = text(input.reason, 'reason', MAX_REASON_LENGTH, true);
  const now = Math.floor(input.now ?? Date.now());
  return {
    key: target.key,
    scope: target.scope,
    value: target.value,
    action: input.action as Action,
    reason,
    signals: [],
    score: 0,
    decidedAt: now,
    expiresAt: now + ms,
    origin: 'manual',
    version: nextManualVersion(now),
  };
}

/**
 * An allowlist entry for an address (stored as /32 or /128) or a CIDR, canonical. `duration`
 * (ms) makes it expire; without it, it stays until removed. A CIDR with bits set after its prefix
 * length, or wider than WIDEST_MANUAL_RANGE without `force`, is refused. Throws BadInput
 * (`bad-allow-entry`).
 */
export function allowEntry(input: {
  cidr: string;
  comment?: string;
  duration?: number;
  now?: number;
  /** Allow a range wider than WIDEST_MANUAL_RANGE. */
  force?: boolean;
}): AllowEntry {
  const parsed = allowCidr(String(input.cidr ?? ''));
  const wide = tooWide(parsed, input.force);
  if (wide) throw new BadInput('bad-allow-entry', `cidr: ${wide}`, 'cidr');
  const cidr = parsed.text;
  const now = Math.floor(input.now ?? Date.now());
  let comment: string;
  let expiresAt: number | null = null;
  try {
    comment = text(input.comment, 'comment', MAX_COMMENT_LENGTH, false);
    if (input.duration !== undefined) expiresAt = now + duration(input.duration, 'duration');
  } catch (error) {
    const e = error as BadInput;
    throw new BadInput('bad-allow-entry', e.message, e.field);
  }
  return { cidr, comment, createdAt: now, expiresAt };
}

/** The canonical CIDR text of an address or CIDR (the allowlist topic's key). */
export function allowKey(cidrOrIp: string): string {
  return allowCidr(cidrOrIp).text;
}

/** An allowlist address or CIDR, exact (no bits after its prefix length); BadInput `bad-allow-entry`. */
function allowCidr(cidrOrIp: string): Cidr {
  try {
    return parseExactCidr(cidrOrIp);
  } catch (error) {
    throw new BadInput('bad-allow-entry', `cidr: ${(error as Error).message}`, 'cidr');
  }
}

interface PublishOptions {
  /** Partitions of the target topic (default 1, as `edgeguardTopics()` creates them). */
  partitions?: number;
}

function controlMessage(
  key: string,
  value: unknown,
  time: number,
  partitions: number,
  headers: Record<string, string> = { [HEADERS.source]: MANUAL_SOURCE },
): Message {
  return {
    key,
    value: encodeJson(value),
    // Same partition as the decider would pick for the key: per-key order holds on the topic.
    partition: partitionFor(key, partitions),
    headers: { [HEADERS.eventTime]: String(time), ...headers },
  };
}

async function send(producer: Producer, topic: string, messages: Message[]): Promise<void> {
  if (messages.length === 0) return;
  // acks -1: resolved once every in-sync replica has it, so a command that returned is durable.
  await producer.send({ topic, acks: -1, messages });
}

/** Produces decisions to `<prefix>decisions`, encoded as the decider encodes them; resolves when acknowledged. */
export async function publishDecisions(
  producer: Producer,
  prefix: string,
  decisions: readonly Decision[],
  options: PublishOptions = {},
): Promise<void> {
  const messages = decisions.map((decision) => {
    const { key } = canonicalDecisionKey(decision.scope, decision.value);
    return controlMessage(key, { ...decision, key }, decision.decidedAt, options.partitions ?? 1);
  });
  await send(producer, prefix + TOPICS.decisions, messages);
}

/** `eg-src` of the automatic decisions and deletions the store writer produces again. */
export const STORE_SOURCE = 'decision-store';

/**
 * What the store writer produces again so that the topic's last record per key says what the
 * store holds (compaction keeps only that one; a rebuild and an edge reading from the beginning
 * see only it): a decision it kept over a record that must not replace it, or the deletion of a
 * decision whose copy it refused. Each carries `eg-copy`; a manual decision keeps `eg-src:
 * manual` (older consumers know it by that), the rest carry `eg-src: decision-store`. A deletion
 * names the version it deletes (`eg-version`) and is dated by that decision's `decidedAt`, so
 * that neither this build's consumers (by version) nor older ones (by time) let it remove a
 * decision made after it.
 */
export async function publishCopies(
  producer: Producer,
  prefix: string,
  records: readonly (Decision | { key: string; deleted: Decision })[],
  options: PublishOptions = {},
): Promise<void> {
  const partitions = options.partitions ?? 1;
  const messages = records.map((record) => {
    if ('deleted' in record) {
      const { deleted } = record;
      return controlMessage(parseDecisionKey(record.key).key, null, deleted.decidedAt, partitions, {
        [HEADERS.source]: STORE_SOURCE,
        [HEADERS.version]: String(deleted.version),
        [HEADERS.copy]: STORE_SOURCE,
      });
    }
    const { key } = canonicalDecisionKey(record.scope, record.value);
    return controlMessage(key, { ...record, key }, record.decidedAt, partitions, {
      [HEADERS.source]: record.origin === 'manual' ? MANUAL_SOURCE : STORE_SOURCE,
      [HEADERS.copy]: STORE_SOURCE,
    });
  });
  await send(producer, prefix + TOPICS.decisions, messages);
}

/** Tombstones for decision keys (`ip:…`, `range:…`, `fp:…`, canonicalised); resolves when acknowledged. */
export async function publishDecisionDeletes(
  producer: Producer,
  prefix: string,
  keys: readonly string[],
  options: PublishOptions & { now?: number } = {},
): Promise<void> {
  const now = Math.floor(options.now ?? Date.now());
  const messages = keys.map((key) =>
    controlMessage(parseDecisionKey(key).key, null, now, options.partitions ?? 1),
  );
  await send(producer, prefix + TOPICS.decisions, messages);
}

/** Produces an allowlist entry to `<prefix>allowlist` (key: canonical CIDR); resolves when acknowledged. */
export async function publishAllowEntry(
  producer: Producer,
  prefix: string,
  entry: AllowEntry,
): Promise<void> {
  const cidr = allowKey(entry.cidr);
  await send(producer, prefix + TOPICS.allowlist, [
    controlMessage(cidr, { ...entry, cidr }, entry.createdAt, 1),
  ]);
}

/** Removes an allowlist entry (a tombstone on `<prefix>allowlist`); resolves when acknowledged. */
export async function publishAllowDelete(
  producer: Producer,
  prefix: string,
  cidrOrIp: string,
  now = Date.now(),
): Promise<void> {
  await send(producer, prefix + TOPICS.allowlist, [
    controlMessage(allowKey(cidrOrIp), null, Math.floor(now), 1),
  ]);
}
