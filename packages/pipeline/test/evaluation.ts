/**
 * Shared evaluation harness: generate a labelled testkit scenario, parse it with logformat, replay
 * it, and score the verdicts against the labels. Used by the evaluation tests (not a test itself).
 */
import { withDefaults } from '@edgeguard/detect';
import { createParser } from '@edgeguard/logformat';
import type { AccessLog, Decision } from '@edgeguard/schema';
import { type ClientLabel, generateScenario } from '@edgeguard/testkit';
import type { ClientVerdict } from '../src/backtest.js';
import { createReplay } from '../src/replay.js';

export interface Evaluation {
  lines: number;
  labels: ClientLabel[];
  verdicts: Map<string, ClientVerdict>;
  decisions: Decision[];
  alerts: unknown[];
  precision: number;
  recall: number;
  truePositives: number;
  falsePositives: string[];
  falseNegatives: number;
  /** Protected clients (never to be blocked or challenged) that were. */
  protectedHit: string[];
  /** Swarm-role addresses not covered by any decision within 30 s of their first request. */
  swarmNotCoveredIn30s: string[];
  /** Swarm-role addresses not blocked or challenged within 30 s of their first request. */
  swarmNotCaughtIn30s: string[];
  swarmAddresses: number;
  perRole: Record<string, { clients: number; caught: number }>;
}

const SWARM_ROLES = new Set(['swarm', 'swarm-buster', 'residential-swarm']);

function caught(verdict: ClientVerdict | undefined): boolean {
  return verdict !== undefined && (verdict.verdict === 'block' || verdict.verdict === 'challenge');
}

export function evaluate(options: {
  seed: number;
  format: 'edge' | 'combined';
  partitions?: number;
}): Evaluation {
  const scenario = generateScenario({ seed: options.seed, format: options.format });
  const parser = createParser(scenario.format, { trustedProxies: scenario.trustedProxies });
  const replay = createReplay({ detect: withDefaults(), allowlist: [], partitions: options.partitions });
  const decisions: Decision[] = [];
  const alerts: unknown[] = [];
  replay.bus.on('decisions', (m) => {
    if (m.value !== null) decisions.push(m.value as Decision);
  });
  replay.bus.on('alerts', (m) => alerts.push(m.value));
  let lines = 0;
  for (const line of scenario.lines()) {
    const parsed = parser.parse(line);
    if ('time' in parsed) {
      replay.push(parsed as AccessLog);
      lines++;
    }
  }
  replay.finish();

  const labels = scenario.labels();
  const verdicts = new Map([...replay.verdicts()].map((v) => [v.ip, v]));
  let truePositives = 0;
  let falseNegatives = 0;
  const falsePositives: string[] = [];
  const protectedHit: string[] = [];
  const swarmNotCoveredIn30s: string[] = [];
  const swarmNotCaughtIn30s: string[] = [];
  const perRole: Record<string, { clients: number; caught: number }> = {};
  let swarmAddresses = 0;
  for (const label of labels) {
    const verdict = verdicts.get(label.ip);
    const role = perRole[label.role] ?? { clients: 0, caught: 0 };
    perRole[label.role] = role;
    role.clients++;
    const hit = caught(verdict);
    if (hit) role.caught++;
    const describe = `${label.role} ${label.ip} ${verdict?.verdict} by ${verdict?.by.join(',')}`;
    if (label.bot) {
      if (hit) truePositives++;
      else falseNegatives++;
    } else if (hit) {
      falsePositives.push(describe);
    }
    if (label.protected && hit) protectedHit.push(describe);
    if (SWARM_ROLES.has(label.role)) {
      swarmAddresses++;
      if (verdict?.decidedAt == null || verdict.decidedAt - label.firstSeen > 30_000) {
        swarmNotCoveredIn30s.push(describe);
      }
      if (verdict?.caughtAt == null || verdict.caughtAt - label.firstSeen > 30_000)
        swarmNotCaughtIn30s.push(describe);
    }
  }
  return {
    lines,
    labels,
    verdicts,
    decisions,
    alerts,
    precision: truePositives / Math.max(1, truePositives + falsePositives.length),
    recall: truePositives / Math.max(1, truePositives + falseNegatives),
    truePositives,
    falsePositives,
    falseNegatives,
    protectedHit,
    swarmNotCoveredIn30s,
    swarmNotCaughtIn30s,
    swarmAddresses,
    perRole,
  };
}
