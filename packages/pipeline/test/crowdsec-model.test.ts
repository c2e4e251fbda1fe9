import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createParser, sniffFormat } from '@edgeguard/logformat';
import { canonicalIp } from '@edgeguard/netaddr';
import type { AccessLog } from '@edgeguard/schema';
import { crowdsecScenarios, runScenarios } from './crowdsec-model.js';

// The CrowdSec model used for the peer comparison (peer-comparison.test.ts) must behave as CrowdSec
// does on CrowdSec's own tests: each hub test of a modelled scenario expects alerts on given
// addresses (../shared/data/crowdsec-hub-tests, INDEX.jsonl), and the model must raise exactly those.
const hub = new URL('../../../../shared/data/crowdsec-hub-tests/', import.meta.url);

/**
 * Where the model cannot see what CrowdSec sees, because edgeguard's parser keeps less: an
 * absolute-form target (`GET http://host/x`, an open-proxy probe) becomes host and path, so the
 * scheme http-open-proxy looks for is gone.
 */
const NOT_MODELLED = new Set(['nginx-http-open-proxy:http-open-proxy']);

interface HubTest {
  test: string;
  log_file: string;
  expected_scenarios: string[] | null;
  expected_source_ips: string[] | null;
}

test('the CrowdSec model overflows on the addresses CrowdSec’s hub tests expect, for every modelled scenario', (t) => {
  const scenarios = crowdsecScenarios();
  if (scenarios === null || !existsSync(hub)) {
    t.skip('shared data absent: ../shared/data/crowdsec-sec-lists and crowdsec-hub-tests');
    return;
  }
  const modelled = new Map(scenarios.map((s) => [s.name, s.name]));
  // CrowdSec's own spelling of a scenario name (a typo kept in the hub).
  modelled.set('http-dos-swithcing-ua', 'http-dos-switching-ua');
  const checked: string[] = [];
  const wrong: string[] = [];
  for (const line of readFileSync(new URL('INDEX.jsonl', hub), 'utf8').split('\n').filter(Boolean)) {
    const hubTest = JSON.parse(line) as HubTest;
    const wanted = (hubTest.expected_scenarios ?? [])
      .map((name) => modelled.get(name.split('/')[1] ?? ''))
      .filter((name): name is string => name !== undefined);
    if (wanted.length === 0) continue;
    const lines = readFileSync(new URL(`tests/${hubTest.test}/${hubTest.log_file}`, hub), 'utf8')
      .split('\n')
      .filter(Boolean);
    let parser: ReturnType<typeof createParser>;
    try {
      parser = createParser(sniffFormat(lines.slice(0, 20)));
    } catch {
      continue; // a container runtime's or traefik's log: not an access log format edgeguard reads
    }
    const logs = lines.map((l) => parser.parse(l)).filter((log): log is AccessLog => 'time' in log);
    // Sniffed as some format, but not really one edgeguard reads (envoy's JSON in a container log).
    if (logs.length < lines.length / 2) continue;
    logs.sort((a, b) => a.time - b.time);
    const overflows = runScenarios(scenarios, logs);
    for (const name of new Set(wanted)) {
      if (NOT_MODELLED.has(`${hubTest.test}:${name}`)) continue;
      const raised = [...overflows]
        .filter(([, own]) => own.has(name))
        .map(([ip]) => ip)
        .sort();
      const expected = [
        ...new Set((hubTest.expected_source_ips ?? []).map((ip) => canonicalIp(ip) ?? ip)),
      ].sort();
      checked.push(`${hubTest.test}:${name}`);
      if (JSON.stringify(raised) !== JSON.stringify(expected))
        wrong.push(
          `${hubTest.test} ${name}: raised on ${raised.join(',') || 'none'}, expected ${expected.join(',')}`,
        );
    }
  }
  t.diagnostic(`hub tests checked: ${checked.join(' ')}`);
  assert.ok(checked.length >= 15, `only ${checked.length} hub tests checked`);
  assert.deepEqual(wrong, []);
});
