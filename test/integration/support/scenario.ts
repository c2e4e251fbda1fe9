// A generated scenario written out for the services: its log and a config that reads it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateScenario } from '@edgeguard/testkit';

export function scenarioFiles(options: Parameters<typeof generateScenario>[0]): {
  scenario: ReturnType<typeof generateScenario>;
  /** A fresh folder holding both, for whatever else the test writes. */
  work: string;
  log: string;
  config: string;
} {
  const work = mkdtempSync(join(tmpdir(), 'eg-scenario-'));
  const scenario = generateScenario(options);
  const log = join(work, 'scenario.log');
  writeFileSync(log, `${[...scenario.lines()].join('\n')}\n`);
  const config = join(work, 'edgeguard.json');
  writeFileSync(
    config,
    JSON.stringify({ input: { format: scenario.format, trustedProxies: scenario.trustedProxies } }),
  );
  return { scenario, work, log, config };
}
