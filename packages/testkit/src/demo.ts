/**
 * The demo scenario: what `scripts/make-demo.ts` writes to `fixtures/` (10 minutes of the incident
 * in `edge` format with default populations). Kept here so tests can check the committed fixture is
 * what the generator makes today.
 */
import type { ScenarioOptions } from './cast.js';
import { EDGE_LOG_FORMAT, EDGE_TRUSTED_PROXIES } from './formats.js';

export const DEMO_OPTIONS: Readonly<ScenarioOptions> = {
  seed: 20240121,
  format: 'edge',
  durationSec: 600,
};

export const DEMO_FILES = {
  log: 'demo.log.gz',
  labels: 'demo.labels.jsonl',
  config: 'demo.config.json',
} as const;

/**
 * The CLI config for the demo log: our `input` section, merged into whatever other sections the
 * existing file already has (other packages own those).
 */
export function demoConfig(existing: Record<string, unknown> = {}): Record<string, unknown> {
  const input = typeof existing.input === 'object' && existing.input !== null ? existing.input : {};
  return {
    ...existing,
    input: { ...input, format: `nginx:${EDGE_LOG_FORMAT}`, trustedProxies: [...EDGE_TRUSTED_PROXIES] },
  };
}
