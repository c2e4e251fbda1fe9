import { type Cidr, type IpAddress, parseCidr, parseIp } from '@edgeguard/netaddr';
import {
  ACTIONS,
  type Action,
  BadInput,
  type CacheKeyRule,
  type CachePolicy,
  type Decision,
  type DecisionScope,
  type Signal,
} from '@edgeguard/schema';

/**
 * Parse, don't validate: decisions and cache policies arrive from the network (an HTTP API, a Kafka
 * topic) and become typed values here, or a BadInput naming what is wrong. Inside the agent they
 * are trusted.
 */

/** What a decision key covers, parsed once when the decision is stored. */
export type DecisionTarget =
  | { scope: 'ip'; key: string; address: IpAddress }
  | { scope: 'range'; key: string; cidr: Cidr }
  | { scope: 'fingerprint'; key: string; fingerprint: string };

const KEY_PREFIX: Record<DecisionScope, string> = { ip: 'ip:', range: 'range:', fingerprint: 'fp:' };
/** Longest fingerprint kept; edgeguard's are ~20 characters (`h1:` + 12 hex, `ja4:…`). */
const MAX_FINGERPRINT_LENGTH = 256;

/**
 * What a stored decision keeps of its free-form fields. The index's memory bound (maxDecisions at
 * ~260 B each) holds only if they are small: a feed line may be 1 MiB, and a 1 MiB reason or 50,000
 * signals kept per decision would make 1,000 decisions a gigabyte. edgeguard's reasons are a word
 * (`repetition`) or an operator's sentence; the decider attaches a handful of signals.
 */
export const MAX_REASON_LENGTH = 512;
export const MAX_SIGNALS = 16;
const MAX_SIGNAL_NAME_LENGTH = 64;

/** The first MAX_SIGNALS well-formed signals ({name, value[, threshold]}), copied; the rest dropped. */
function boundedSignals(value: unknown): Signal[] {
  if (!Array.isArray(value)) return [];
  const signals: Signal[] = [];
  for (const item of value) {
    if (signals.length === MAX_SIGNALS) break;
    const s = item as Partial<Signal> | null;
    if (typeof s?.name !== 'string' || s.name.length > MAX_SIGNAL_NAME_LENGTH) continue;
    if (typeof s.value !== 'number') continue;
    signals.push(
      typeof s.threshold === 'number'
        ? { name: s.name, value: s.value, threshold: s.threshold }
        : { name: s.name, value: s.value },
    );
  }
  return signals;
}

/** The target of a scope and value; the key is canonical (`ip:2001:db8::1`, `range:10.0.0.0/8`). */
export function decisionTarget(scope: DecisionScope, value: string): DecisionTarget {
  switch (scope) {
    case 'ip': {
      const address = parseIp(value);
      if (address === null) throw new BadInput('bad-decision-key', `not an IP address: ${quote(value)}`);
      return { scope, key: `ip:${address.text}`, address };
    }
    case 'range': {
      const cidr = parseCidr(value);
      return { scope, key: `range:${cidr.text}`, cidr };
    }
    case 'fingerprint':
      if (value.length === 0 || value.length > MAX_FINGERPRINT_LENGTH)
        throw new BadInput('bad-decision-key', `a fingerprint is 1 to ${MAX_FINGERPRINT_LENGTH} characters`);
      return { scope, key: `fp:${value}`, fingerprint: value };
  }
}

/** The target of a decision key (`ip:…`, `range:…`, `fp:…`), e.g. from a tombstone. */
export function parseDecisionKey(key: string): DecisionTarget {
  for (const scope of ['ip', 'range', 'fingerprint'] as const) {
    const prefix = KEY_PREFIX[scope];
    if (key.startsWith(prefix)) return decisionTarget(scope, key.slice(prefix.length));
  }
  throw new BadInput(
    'bad-decision-key',
    `expected ip:<address>, range:<cidr> or fp:<fingerprint>, got ${quote(key)}`,
  );
}

/**
 * A Decision from untrusted JSON. When `key` is given (the Kafka record key, the change's key) it
 * must name what the decision covers. Throws BadInput (`bad-decision`, `bad-decision-key`, `bad-cidr`).
 */
export function parseDecision(value: unknown, key?: string): { decision: Decision; target: DecisionTarget } {
  const fail = (message: string) => new BadInput('bad-decision', `${key ?? '(decision)'}: ${message}`);
  if (typeof value !== 'object' || value === null) throw fail('expected a Decision object');
  const d = value as Partial<Decision>;
  if (d.scope !== 'ip' && d.scope !== 'range' && d.scope !== 'fingerprint')
    throw fail(`scope must be ip, range or fingerprint, got ${quote(d.scope)}`);
  if (typeof d.value !== 'string') throw fail('value must be text');
  if (!ACTIONS.includes(d.action as Action)) throw fail(`action must be one of ${ACTIONS.join(', ')}`);
  for (const field of ['decidedAt', 'expiresAt', 'version'] as const) {
    if (typeof d[field] !== 'number' || !Number.isFinite(d[field])) throw fail(`${field} must be a number`);
  }
  const target = decisionTarget(d.scope, d.value);
  if (key !== undefined && parseDecisionKey(key).key !== target.key)
    throw fail(`the decision is for ${target.key}, not its key`);
  const decision: Decision = {
    key: target.key,
    scope: d.scope,
    value:
      target.scope === 'ip' ? target.address.text : target.scope === 'range' ? target.cidr.text : d.value,
    action: d.action as Action,
    reason: typeof d.reason === 'string' ? d.reason.slice(0, MAX_REASON_LENGTH) : '',
    signals: boundedSignals(d.signals),
    score: typeof d.score === 'number' ? d.score : 0,
    decidedAt: d.decidedAt!,
    expiresAt: d.expiresAt!,
    origin: d.origin === 'manual' ? 'manual' : 'auto',
    version: d.version!,
  };
  return { decision, target };
}

const CACHE_KEY_KINDS = new Set(['keep', 'drop', 'sort', 'allow']);
const MAX_ALLOWED_PARAMS = 64;
const MAX_PARAM_NAME_LENGTH = 256;
const MAX_POLICY_TEXT_LENGTH = 8192;

function nullableNumber(value: unknown, field: string, fail: (m: string) => BadInput): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw fail(`${field} must be a non-negative number or null`);
  return value;
}

/** A CachePolicy from untrusted JSON. Throws BadInput (`bad-cache-policy`). */
export function parseCachePolicy(value: unknown, key?: string): CachePolicy {
  const fail = (message: string) => new BadInput('bad-cache-policy', `${key ?? '(policy)'}: ${message}`);
  if (typeof value !== 'object' || value === null) throw fail('expected a CachePolicy object');
  const p = value as Partial<CachePolicy>;
  const match = p.match as Partial<CachePolicy['match']> | undefined;
  if (typeof match !== 'object' || match === null) throw fail('match must be {host, pathPattern}');
  if (match.host !== null && typeof match.host !== 'string') throw fail('match.host must be text or null');
  if (typeof match.pathPattern !== 'string' || !match.pathPattern.startsWith('/'))
    throw fail('match.pathPattern must be a path starting with /');
  if (typeof p.key !== 'string') throw fail('key must be text');
  // Bounded like the decisions' text (maxPolicies × these): a request line is at most 8 KiB in nginx.
  for (const [field, text] of [
    ['key', p.key],
    ['match.host', match.host ?? ''],
    ['match.pathPattern', match.pathPattern],
  ] as const) {
    if (text.length > MAX_POLICY_TEXT_LENGTH)
      throw fail(`${field} is longer than ${MAX_POLICY_TEXT_LENGTH} characters`);
  }
  if (key !== undefined && p.key !== key)
    throw fail(`the policy's key is ${quote(p.key)}, not its record key`);
  for (const field of ['decidedAt', 'expiresAt', 'version'] as const) {
    if (typeof p[field] !== 'number' || !Number.isFinite(p[field])) throw fail(`${field} must be a number`);
  }
  let cacheKey: CacheKeyRule | null = null;
  if (p.cacheKey !== null && p.cacheKey !== undefined) {
    const rule = p.cacheKey as Partial<{ kind: string; params: unknown }>;
    if (!CACHE_KEY_KINDS.has(rule.kind as string))
      throw fail('cacheKey.kind must be keep, drop, sort or allow');
    if (rule.kind === 'allow') {
      if (
        !Array.isArray(rule.params) ||
        rule.params.length > MAX_ALLOWED_PARAMS ||
        !rule.params.every((param) => typeof param === 'string' && param.length <= MAX_PARAM_NAME_LENGTH)
      )
        throw fail(
          `cacheKey.params must be at most ${MAX_ALLOWED_PARAMS} names of at most ${MAX_PARAM_NAME_LENGTH} characters`,
        );
      cacheKey = { kind: 'allow', params: [...(rule.params as string[])].sort() };
    } else {
      cacheKey = { kind: rule.kind as 'keep' | 'drop' | 'sort' };
    }
  }
  return {
    key: p.key,
    match: { host: match.host === null ? null : normaliseHost(match.host), pathPattern: match.pathPattern },
    ttlSeconds: nullableNumber(p.ttlSeconds, 'ttlSeconds', fail),
    staleWhileRevalidateSeconds: nullableNumber(
      p.staleWhileRevalidateSeconds,
      'staleWhileRevalidateSeconds',
      fail,
    ),
    staleIfErrorSeconds: nullableNumber(p.staleIfErrorSeconds, 'staleIfErrorSeconds', fail),
    maxStaleSeconds: nullableNumber(p.maxStaleSeconds, 'maxStaleSeconds', fail),
    collapse: typeof p.collapse === 'boolean' ? p.collapse : null,
    cacheKey,
    reason: typeof p.reason === 'string' ? p.reason.slice(0, MAX_REASON_LENGTH) : '',
    signals: boundedSignals(p.signals),
    decidedAt: p.decidedAt!,
    expiresAt: p.expiresAt!,
    version: p.version!,
  };
}

/** Host as policies are matched: lower case, without a port (`Example.COM:8080` → `example.com`). */
export function normaliseHost(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    if (close > 0) end = close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0 && host.indexOf(':', colon + 1) < 0) end = colon;
  }
  return host.slice(0, end).toLowerCase();
}

function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
