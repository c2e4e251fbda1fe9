import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withDefaults } from '@edgeguard/detect';
import { createParser } from '@edgeguard/logformat';
import type { AccessLog } from '@edgeguard/schema';
import { generateScenario } from '@edgeguard/testkit';
import { createReplay } from '../src/replay.js';

function run(logs: AccessLog[], partitions: number): { outputs: string[]; verdicts: string } {
  const replay = createReplay({ detect: withDefaults(), allowlist: [], partitions });
  const outputs: string[] = [];
  for (const topic of ['decisions', 'cache-policies', 'alerts']) {
    replay.bus.on(topic, (m) =>
      outputs.push(`${m.topic} ${m.key} ${m.timestamp} ${JSON.stringify(m.value)}`),
    );
  }
  for (const log of logs) replay.push(log);
  replay.finish();
  const verdicts = JSON.stringify([...replay.verdicts()].sort((a, b) => a.ip.localeCompare(b.ip)));
  return { outputs, verdicts };
}

test('the same input gives the same decisions, cache policies and verdicts, every run', () => {
  const scenario = generateScenario({ seed: 11, format: 'edge', scale: 0.2 });
  const parser = createParser(scenario.format, { trustedProxies: scenario.trustedProxies });
  const logs: AccessLog[] = [];
  for (const line of scenario.lines()) {
    const log = parser.parse(line);
    if ('time' in log) logs.push(log as AccessLog);
  }
  const first = run(logs, 3);
  const second = run(logs, 3);
  assert.ok(first.outputs.length > 50, `${first.outputs.length} outputs`);
  assert.deepEqual(second.outputs, first.outputs);
  assert.equal(second.verdicts, first.verdicts);
});
