import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { withDefaults } from '@edgeguard/detect';
import { createParser } from '@edgeguard/logformat';
import type { AccessLog, Decision } from '@edgeguard/schema';
import { createReplay } from '../src/replay.js';

/**
 * Detection tests as data: every folder under fixtures/ is one behaviour, an access log plus
 * expect.json with the decisions it MUST and MUST NOT produce and the final verdicts.
 * Regenerate with `node --import tsx packages/pipeline/scripts/make-fixtures.ts`.
 */
interface Expectation {
  description: string;
  format: string;
  trustedProxies?: string[];
  allowlist?: string[];
  must: { key: string; action?: string | string[]; reason?: string }[];
  mustNot: string[];
  verdicts: Record<string, string>;
}

const fixtures = new URL('./fixtures/', import.meta.url);

function matches(pattern: string, key: string): boolean {
  return pattern.endsWith('*') ? key.startsWith(pattern.slice(0, -1)) : key === pattern;
}

for (const name of readdirSync(fixtures).sort()) {
  const expect = JSON.parse(readFileSync(new URL(`${name}/expect.json`, fixtures), 'utf8')) as Expectation;
  test(`${name}: ${expect.description}`, (t) => {
    const parser = createParser(expect.format, { trustedProxies: expect.trustedProxies ?? [] });
    const replay = createReplay({ detect: withDefaults(), allowlist: expect.allowlist ?? [] });
    const published: Decision[] = [];
    replay.bus.on('decisions', (m) => {
      if (m.value !== null) published.push(m.value as Decision);
    });
    const lines = readFileSync(new URL(`${name}/access.log`, fixtures), 'utf8')
      .split('\n')
      .filter(Boolean);
    for (const [i, line] of lines.entries()) {
      const log = parser.parse(line, `${name}/access.log:${i + 1}`);
      if (!('time' in log)) assert.fail(`${log.message}`);
      replay.push(log as AccessLog);
    }
    replay.finish();
    t.diagnostic(
      `${lines.length} lines → ${published.length} decisions: ${[...new Set(published.map((d) => `${d.key} ${d.action} ${d.reason}`))].slice(0, 6).join('; ')}`,
    );

    for (const must of expect.must) {
      const found = published.filter((d) => matches(must.key, d.key));
      assert.ok(found.length > 0, `missing decision ${must.key}`);
      if (must.action !== undefined) {
        const actions = Array.isArray(must.action) ? must.action : [must.action];
        assert.ok(
          found.some((d) => actions.includes(d.action)),
          `${must.key}: expected ${actions.join('|')}, got ${found.map((d) => d.action).join(',')}`,
        );
      }
      if (must.reason !== undefined) {
        assert.ok(
          found.some((d) => d.reason === must.reason),
          `${must.key}: expected reason ${must.reason}, got ${found.map((d) => d.reason).join(',')}`,
        );
      }
      for (const d of found) assert.ok(d.signals.length > 0, `${d.key} carries its evidence`);
    }
    for (const pattern of expect.mustNot) {
      const found = published.filter((d) => matches(pattern, d.key));
      assert.deepEqual(
        found.map((d) => `${d.key} ${d.action} ${d.reason}`),
        [],
        `must not decide ${pattern}`,
      );
    }
    const verdicts = new Map([...replay.verdicts()].map((v) => [v.ip, v]));
    for (const [ip, expected] of Object.entries(expect.verdicts)) {
      const verdict = verdicts.get(ip);
      assert.ok(verdict, `no requests from ${ip}`);
      const ok =
        expected === 'caught'
          ? verdict.verdict === 'block' || verdict.verdict === 'challenge'
          : verdict.verdict === expected;
      assert.ok(ok, `${ip}: expected ${expected}, got ${verdict.verdict} by ${verdict.by.join(',')}`);
    }
  });
}
