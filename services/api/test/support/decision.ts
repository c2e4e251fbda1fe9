// A decision as the decider writes it: blocks for an hour unless told otherwise; versions increase.
import type { Decision } from '@edgeguard/schema';

let version = 1;

export function decision(scope: 'ip' | 'range', value: string, overrides: Partial<Decision> = {}): Decision {
  const now = Date.now();
  return {
    key: `${scope}:${value}`,
    scope,
    value,
    action: 'block',
    reason: 'scanner',
    signals: [],
    score: 1,
    decidedAt: now,
    expiresAt: now + 3_600_000,
    origin: 'auto',
    version: version++,
    ...overrides,
  };
}
