import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { DEMO_FILES, DEMO_OPTIONS, demoConfig } from '../src/demo.js';
import { type ClientLabel, EDGE_LOG_FORMAT, generateScenario, ROLES } from '../src/index.js';
import { parseAll } from './log-line.js';

describe('demo fixture', () => {
  const fixtures = new URL('../fixtures/', import.meta.url);
  const path = (name: string) => fileURLToPath(new URL(name, fixtures));

  test('the committed demo log is what the generator makes today (regenerate with scripts/make-demo.ts)', async () => {
    const compressed = await readFile(path(DEMO_FILES.log));
    assert.ok(compressed.length < 2 * 1024 * 1024, `demo.log.gz is ${compressed.length} bytes`);
    const lines = gunzipSync(compressed).toString('latin1').trimEnd().split('\n');
    assert.ok(lines.length >= 40_000 && lines.length <= 80_000, `${lines.length} demo lines`);
    const scenario = generateScenario(DEMO_OPTIONS);
    let index = 0;
    for (const line of scenario.lines()) {
      // Line by line, so a stale fixture reports the first line that differs (not a 75k-line diff).
      if (line !== lines[index]) assert.equal(lines[index], line, `demo line ${index + 1} differs`);
      index++;
    }
    assert.equal(index, lines.length);
    const labels = (await readFile(path(DEMO_FILES.labels), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as ClientLabel);
    assert.deepEqual(labels, scenario.labels());
    assert.deepEqual(new Set(labels.map((label) => label.role)), new Set(ROLES));
  });

  test('demo.config.json tells the CLI how to parse the demo log', async () => {
    const config = JSON.parse(await readFile(path(DEMO_FILES.config), 'utf8'));
    assert.deepEqual(config.input, { format: `nginx:${EDGE_LOG_FORMAT}`, trustedProxies: ['10.0.0.0/8'] });
    assert.deepEqual(demoConfig(config), config, 'regenerating keeps the file as is');
    assert.deepEqual(demoConfig({ detect: { x: 1 }, input: { follow: true } }), {
      detect: { x: 1 },
      input: { follow: true, format: `nginx:${EDGE_LOG_FORMAT}`, trustedProxies: ['10.0.0.0/8'] },
    });
  });
});

describe('user agents against public crawler lists', () => {
  const shared = new URL('../../../../shared/data/', import.meta.url);
  const crawlerList = fileURLToPath(new URL('crawler-user-agents/crawler-user-agents.json', shared));
  const uptimeRobot = fileURLToPath(
    new URL('crowdsec-sec-lists/whitelists/benign_bots/legit_bots/uptimerobot.json', shared),
  );

  test('human browsers match no known crawler pattern; declared bots do', async (t) => {
    if (!existsSync(crawlerList)) {
      t.skip(`shared data absent: ${crawlerList}`);
      return;
    }
    const patterns: RegExp[] = [];
    for (const entry of JSON.parse(await readFile(crawlerList, 'utf8')) as { pattern: string }[]) {
      try {
        patterns.push(new RegExp(entry.pattern));
      } catch {
        // A few patterns use syntax JavaScript lacks; they cannot match here either way.
      }
    }
    const isCrawler = (agent: string) => patterns.some((pattern) => pattern.test(agent));
    const scenario = generateScenario({ seed: 4, durationSec: 180, scale: 0.5 });
    const lines = parseAll(scenario.lines(), 'edge');
    const roleOf = new Map(scenario.labels().map((label) => [label.ip, label.role]));
    const agentsOf = (roles: string[]) =>
      new Set(
        lines
          .filter((line) => roles.includes(roleOf.get(line.client) ?? ''))
          .map((line) => line.userAgent ?? ''),
      );
    const browsers = agentsOf(['human', 'nat', 'xff-victim']);
    assert.ok(browsers.size > 100);
    for (const agent of browsers) assert.ok(!isCrawler(agent), `human UA flagged as a crawler: ${agent}`);
    for (const agent of agentsOf(['crawler', 'fake-crawler', 'monitor', 'feed-reader'])) {
      assert.ok(isCrawler(agent), `declared bot UA not recognised: ${agent}`);
    }
    // The swarm's UAs pass as browsers: that is why it must be caught by behaviour.
    for (const agent of agentsOf(['swarm', 'swarm-buster', 'residential-swarm']))
      assert.ok(!isCrawler(agent));
  });

  test('UptimeRobot monitors use addresses from its published list', async (t) => {
    if (!existsSync(uptimeRobot)) {
      t.skip(`shared data absent: ${uptimeRobot}`);
      return;
    }
    const text = await readFile(uptimeRobot, 'utf8');
    const published = JSON.parse(text.slice(text.indexOf('{'))) as { ranges: string[] };
    const zero = Object.fromEntries(ROLES.map((role) => [role, 0]));
    const scenario = generateScenario({ seed: 4, durationSec: 120, populations: { ...zero, monitor: 4 } });
    const lines = parseAll(scenario.lines(), 'edge');
    const monitors = scenario.labels().filter((label) => label.role === 'monitor');
    const robots = monitors.filter((label) =>
      lines.some((line) => line.client === label.ip && line.userAgent?.includes('UptimeRobot')),
    );
    assert.ok(robots.length >= 1);
    for (const robot of robots)
      assert.ok(published.ranges.includes(`${robot.ip}/32`), `${robot.ip} not published`);
  });
});

test('the size of the demo fixture files stays reasonable', async () => {
  const labels = await stat(fileURLToPath(new URL(`../fixtures/${DEMO_FILES.labels}`, import.meta.url)));
  assert.ok(labels.size < 1024 * 1024);
});
