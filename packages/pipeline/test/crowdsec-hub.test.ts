import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { withDefaults } from '@edgeguard/detect';
import { createParser, sniffFormat } from '@edgeguard/logformat';
import type { AccessLog, Decision } from '@edgeguard/schema';
import { createReplay } from '../src/replay.js';

// A peer comparison, not a spec: CrowdSec's hub tests (../shared/data/crowdsec-hub-tests) replay a
// small log and expect alerts on some source addresses. Most are one-request CVE signatures (a
// WAF's job, not behaviour); these are the behavioural ones, which edgeguard must catch too.
const hub = new URL('../../../../shared/data/crowdsec-hub-tests/', import.meta.url);
const BEHAVIOURAL = [
  'apache-http-probing',
  'apache2-http-sensitive-files',
  'apache2-malformed',
  'http-bf-wordpress-bf',
  'http-dos-bypass-cache',
  'http-dos-random-uri',
  'http-dos-switching-ua',
  'http-wordpress-scan',
  'http-wordpress_wpconfig',
  'nginx-bad-user-agent',
  'nginx-http-backdoor',
  'nginx-http-malformed',
  'nginx-http-path-traversal',
  'nginx-http-sensitive-files',
  'nginx-http-sqli-probing',
  'nginx-http-xss-probing',
];

interface HubTest {
  test: string;
  log_file: string;
  expected_alerts: number | null;
  expected_source_ips: string[] | null;
}

test('the behavioural CrowdSec hub scenarios (probing, sensitive files, traversal, injection, brute force, cache bypass) are caught', {
  skip: existsSync(hub) ? false : 'shared data absent: ../shared/data/crowdsec-hub-tests',
}, (t) => {
  const index = readFileSync(new URL('INDEX.jsonl', hub), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as HubTest);
  let caughtTests = 0;
  let withAlerts = 0;
  const missed: string[] = [];
  for (const hubTest of index) {
    if (!(hubTest.expected_alerts && hubTest.expected_alerts > 0)) continue;
    withAlerts++;
    const lines = readFileSync(new URL(`tests/${hubTest.test}/${hubTest.log_file}`, hub), 'utf8')
      .split('\n')
      .filter(Boolean);
    let format = 'combined';
    try {
      format = sniffFormat(lines.slice(0, 20));
    } catch {
      // not an access log we parse (syslog-wrapped, error logs): nothing to replay
    }
    const parser = createParser(format);
    const logs = lines.map((line) => parser.parse(line)).filter((log): log is AccessLog => 'time' in log);
    logs.sort((a, b) => a.time - b.time);
    const replay = createReplay({ detect: withDefaults(), allowlist: [] });
    const decided = new Set<string>();
    replay.bus.on('decisions', (m) => {
      if (m.value !== null) decided.add((m.value as Decision).value);
    });
    for (const log of logs) replay.push(log);
    replay.finish();
    const expected = hubTest.expected_source_ips ?? [];
    const caught = expected.length > 0 && expected.every((ip) => decided.has(ip));
    if (caught) caughtTests++;
    if (BEHAVIOURAL.includes(hubTest.test) && !caught) missed.push(hubTest.test);
  }
  t.diagnostic(`all expected sources decided in ${caughtTests} of ${withAlerts} hub tests with alerts`);
  assert.deepEqual(missed, []);
});
