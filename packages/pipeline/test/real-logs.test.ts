import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { withDefaults } from '@edgeguard/detect';
import { createParser, sniffFormat } from '@edgeguard/logformat';
import type { AccessLog, Decision } from '@edgeguard/schema';
import { createReplay } from '../src/replay.js';

// Public real logs in the team's shared data folder (absent on a user's machine: the tests skip).
const data = new URL('../../../../shared/data/', import.meta.url);
const elastic = new URL('elastic-apache-logs/apache_logs', data);
const almhuette = new URL('almhuette-raith-10k/access_10k.log', data);
const almhuetteLabels = new URL('almhuette-raith-10k/peer_heuristic_labels.csv', data);

function replayFile(file: URL): { decisions: Decision[]; verdicts: Map<string, string> } {
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const parser = createParser(sniffFormat(lines.slice(0, 20)));
  const logs: AccessLog[] = [];
  for (const line of lines) {
    const log = parser.parse(line);
    if ('time' in log) logs.push(log as AccessLog);
  }
  const replay = createReplay({ detect: withDefaults(), allowlist: [] });
  const decisions: Decision[] = [];
  replay.bus.on('decisions', (m) => {
    if (m.value !== null) decisions.push(m.value as Decision);
  });
  for (const log of logs) replay.push(log);
  replay.finish();
  return { decisions, verdicts: new Map([...replay.verdicts()].map((v) => [v.ip, v.verdict])) };
}

test('a real site log (semicomplete.com, May 2015): only the admin-panel scanners are decided, and their verdicts say so', {
  skip: existsSync(elastic) ? false : 'shared data absent: ../shared/data/elastic-apache-logs',
}, (t) => {
  const { decisions, verdicts } = replayFile(elastic);
  const reasons = [...new Set(decisions.map((d) => `${d.key} ${d.reason}`))];
  t.diagnostic(reasons.join('; '));
  // PDF readers fetching by Range (206), feed readers, crawlers and people are left alone.
  assert.ok(decisions.length > 0);
  assert.deepEqual([...new Set(decisions.map((d) => d.reason))], ['scanner']);
  // Each scanner's verdict says what was decided on it, though none sent again once decided (an
  // operator review found them `allow`: the backtest counted only requests after a decision).
  const decided = decisions.filter((d) => d.scope === 'ip');
  assert.ok(decided.length > 0);
  for (const d of decided) assert.equal(verdicts.get(d.value), d.action, d.key);
});

test('a real site log under brute force (almhuette-raith.at): no address another tool calls human or good bot is blocked', {
  skip: existsSync(almhuette) ? false : 'shared data absent: ../shared/data/almhuette-raith-10k',
}, (t) => {
  const { decisions, verdicts } = replayFile(almhuette);
  const labels = new Map(
    readFileSync(almhuetteLabels, 'utf8')
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((line) => line.split(',') as [string, string]),
  );
  const hit = (label: string) =>
    [...labels].filter(
      ([ip, l]) => l === label && ['block', 'challenge'].includes(verdicts.get(ip) ?? 'allow'),
    );
  t.diagnostic(
    `decisions ${decisions.length}; caught bad_bot_behaviour ${hit('bad_bot_behaviour').length}, bad_bot ${hit('bad_bot').length}`,
  );
  assert.deepEqual(hit('human'), []);
  assert.deepEqual(hit('good_bot'), []);
  // The Joomla brute force (thousands of POST /administrator/index.php) is caught.
  assert.ok(['block', 'challenge'].includes(verdicts.get('193.106.31.130') ?? 'allow'));
});
