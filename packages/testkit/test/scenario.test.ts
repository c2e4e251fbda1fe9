import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_POPULATIONS,
  EDGE_LOG_FORMAT,
  generateScenario,
  ROLE_TRAITS,
  ROLES,
  type ScenarioOptions,
} from '../src/index.js';
import { byClient, parseAll } from './log-line.js';

const SMALL: ScenarioOptions = { seed: 5, durationSec: 120, scale: 0.2 };

describe('determinism', () => {
  test('the same options produce byte-identical lines and labels', () => {
    const first = generateScenario(SMALL);
    const second = generateScenario({ ...SMALL });
    const linesA = [...first.lines()];
    const linesB = [...second.lines()];
    assert.ok(linesA.length > 1000, `expected a real log, got ${linesA.length} lines`);
    assert.deepEqual(linesB, linesA);
    assert.deepEqual(second.labels(), first.labels());
  });

  test('iterating lines() twice on one scenario yields the same log', () => {
    const scenario = generateScenario(SMALL);
    assert.deepEqual([...scenario.lines()], [...scenario.lines()]);
  });

  test('a different seed produces a different log', () => {
    const a = [...generateScenario(SMALL).lines()];
    const b = [...generateScenario({ ...SMALL, seed: 6 }).lines()];
    assert.notDeepEqual(b, a);
  });

  test('labels() before, after or without lines() agree', () => {
    const early = generateScenario(SMALL);
    const labelsFirst = early.labels();
    const late = generateScenario(SMALL);
    for (const _ of late.lines());
    assert.deepEqual(late.labels(), labelsFirst);
  });
});

describe('labels match the lines', () => {
  for (const format of ['edge', 'combined'] as const) {
    test(`${format}: every resolved client has exactly one label whose request count and first-seen match its lines`, () => {
      const scenario = generateScenario({ ...SMALL, format });
      const lines = parseAll(scenario.lines(), format);
      const labels = scenario.labels();
      const clients = byClient(lines);
      assert.equal(new Set(labels.map((label) => label.ip)).size, labels.length, 'one label per address');
      assert.equal(labels.length, clients.size, 'no label without lines, no client without a label');
      let total = 0;
      for (const label of labels) {
        const own = clients.get(label.ip);
        assert.ok(own, `label ${label.ip} (${label.role}) has no lines`);
        assert.equal(own.length, label.requests, `request count of ${label.ip} (${label.role})`);
        const firstSecond = Math.min(...own.map((line) => line.time));
        assert.equal(Math.floor(label.firstSeen / 1000) * 1000, firstSecond, `firstSeen of ${label.ip}`);
        assert.ok(Number.isInteger(label.firstSeen));
        assert.equal(label.bot, ROLE_TRAITS[label.role].bot);
        assert.equal(label.protected, ROLE_TRAITS[label.role].protected);
        total += label.requests;
      }
      assert.equal(total, lines.length);
    });
  }

  test('every role of the default cast is present in the edge log, and bots and protected clients are disjoint', () => {
    const labels = generateScenario(SMALL).labels();
    const roles = new Set(labels.map((label) => label.role));
    for (const role of ROLES) assert.ok(roles.has(role), `role ${role} missing`);
    for (const label of labels)
      assert.ok(!(label.bot && label.protected), `${label.role} is both bot and protected`);
  });

  test('labels are ordered by first appearance', () => {
    const labels = generateScenario(SMALL).labels();
    for (let i = 1; i < labels.length; i++) {
      assert.ok((labels[i]?.firstSeen ?? 0) >= (labels[i - 1]?.firstSeen ?? 0));
    }
  });
});

describe('formats', () => {
  test('edge format declares the nginx log_format and the load balancers as trusted proxies', () => {
    const scenario = generateScenario(SMALL);
    assert.equal(scenario.format, `nginx:${EDGE_LOG_FORMAT}`);
    assert.deepEqual(scenario.trustedProxies, ['10.0.0.0/8']);
    const lines = parseAll(scenario.lines(), 'edge');
    for (const line of lines) {
      assert.match(line.peer, /^10\.0\.0\.\d+$/);
      assert.ok(line.forwardedFor, 'every edge line carries X-Forwarded-For');
      assert.ok(line.forwardedFor.endsWith(line.client), 'the LB appends the connecting client last');
    }
  });

  test('combined format puts the client in $remote_addr and has no proxy-chain roles', () => {
    const scenario = generateScenario({ ...SMALL, format: 'combined' });
    assert.equal(scenario.format, 'combined');
    assert.deepEqual(scenario.trustedProxies, []);
    const first = scenario.lines()[Symbol.iterator]().next().value as string;
    assert.match(first, /^\S+ - - \[[^\]]+\] "[A-Z]+ \S+ HTTP\/[\d.]+" \d+ \d+ "[^"]*" "[^"]*"$/);
    const roles = new Set(scenario.labels().map((label) => label.role));
    assert.ok(!roles.has('xff-spoofer') && !roles.has('xff-victim'));
    assert.equal(scenario.populations['xff-spoofer'], 0);
  });

  test('timestamps are nginx $time_local in UTC starting at the scenario start', () => {
    const start = Date.UTC(2024, 0, 21, 9, 30, 0);
    const first = generateScenario({ ...SMALL, start, jitterMs: 0 })
      .lines()
      [Symbol.iterator]()
      .next().value as string;
    assert.match(first, /\[21\/Jan\/2024:09:30:\d\d \+0000\]/);
  });
});

describe('options', () => {
  test('targetLines cuts the log at exactly that many lines and the labels count only those', () => {
    const scenario = generateScenario({ ...SMALL, targetLines: 2500 });
    const lines = [...scenario.lines()];
    assert.equal(lines.length, 2500);
    const total = scenario.labels().reduce((sum, label) => sum + label.requests, 0);
    assert.equal(total, 2500);
  });

  test('populations override the defaults per role, and zero removes a role', () => {
    const only: ScenarioOptions = {
      seed: 3,
      durationSec: 120,
      populations: Object.fromEntries(ROLES.map((role) => [role, 0])),
    };
    only.populations = { ...only.populations, monitor: 2, scanner: 3 };
    const labels = generateScenario(only).labels();
    assert.deepEqual([...new Set(labels.map((label) => label.role))].sort(), ['monitor', 'scanner']);
    assert.equal(labels.filter((label) => label.role === 'scanner').length, 3);
  });

  test('scale multiplies the default population sizes', () => {
    const scenario = generateScenario({ seed: 1, scale: 2, durationSec: 60 });
    assert.equal(scenario.populations.human, DEFAULT_POPULATIONS.human * 2);
    assert.equal(scenario.populations['residential-swarm'], DEFAULT_POPULATIONS['residential-swarm'] * 2);
  });

  test('clients sizes the crowd for a benchmark: about that many distinct addresses', () => {
    const scenario = generateScenario({
      seed: 2,
      format: 'combined',
      clients: 5000,
      targetLines: 60_000,
      scale: 0.2,
      populations: { nat: 0 },
    });
    const planned = Object.values(scenario.populations).reduce((sum, count) => sum + count, 0);
    assert.ok(planned >= 5000 && planned < 5100, `planned ${planned} clients`);
    const labels = scenario.labels();
    assert.equal(
      labels.reduce((sum, label) => sum + label.requests, 0),
      60_000,
    );
    assert.ok(labels.length > 4500, `only ${labels.length} clients appeared before the cut`);
  });

  test('invalid options are rejected with a message naming the option', () => {
    assert.throws(() => generateScenario({ durationSec: -1 }), /durationSec/);
    assert.throws(() => generateScenario({ scale: Number.NaN }), /scale/);
    assert.throws(() => generateScenario({ targetLines: 1.5 }), /targetLines/);
    assert.throws(() => generateScenario({ populations: { human: -2 } }), /populations\.human/);
    assert.throws(() => generateScenario({ populations: { robot: 1 } as never }), /unknown role 'robot'/);
    assert.throws(() => generateScenario({ format: 'apache' as never }), /format/);
  });
});
