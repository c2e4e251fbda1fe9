// Detection as data through `edgeguard replay`: bots that pad their headers past maxFieldLength
// must still be caught (their fields are cut, their lines kept), and nobody else decided on.
// Fixture: packages/testkit/fixtures/padded-fields (written by its make.mjs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { readNdjson } from './ndjson.js';

const bin = new URL('../bin/edgeguard.js', import.meta.url).pathname;
const fixture = new URL('../../testkit/fixtures/padded-fields/', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'eg-padded-'));

interface Expectation {
  description: string;
  must: { key: string; action: string | string[]; reason: string }[];
  mustNot: string[];
  verdicts: Record<string, string>;
  fieldCuts: Record<string, number>;
}

const expected = JSON.parse(readFileSync(join(fixture, 'expect.json'), 'utf8')) as Expectation;
const matches = (pattern: string, key: string) =>
  pattern.endsWith('*') ? key.startsWith(pattern.slice(0, -1)) : key === pattern;

it(`padded-fields: ${expected.description}`, () => {
  const out = (name: string) => join(work, name);
  const run = spawnSync(
    process.execPath,
    [
      bin,
      'replay',
      join(fixture, 'access.log.gz'),
      '--config',
      join(fixture, 'config.json'),
      '--decisions',
      out('d.ndjson'),
      '--verdicts',
      out('v.ndjson'),
      '--report',
      out('report.json'),
      '--no-progress',
      '--quiet',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(readFileSync(out('report.json'), 'utf8'));
  assert.equal(report.input.rejected, 0, 'no line rejected');
  assert.equal(report.input.parsed, report.input.lines);
  assert.deepEqual(report.fieldCuts.byField, expected.fieldCuts, 'every cut counted, by field');

  const decisions = readNdjson(out('d.ndjson'));
  for (const must of expected.must) {
    const found = decisions.filter((d) => matches(must.key, d.key as string));
    const actions = Array.isArray(must.action) ? must.action : [must.action];
    assert.ok(
      found.some((d) => actions.includes(d.action as string) && d.reason === must.reason),
      `${must.key}: expected ${actions.join('|')} for ${must.reason}, got ${found.map((d) => `${d.action} ${d.reason}`).join(', ') || 'nothing'}`,
    );
  }
  for (const pattern of expected.mustNot)
    assert.deepEqual(
      decisions.filter((d) => matches(pattern, d.key as string)).map((d) => `${d.key} ${d.reason}`),
      [],
      `must not decide ${pattern}`,
    );
  const verdicts = new Map(readNdjson(out('v.ndjson')).map((v) => [v.ip as string, v.verdict as string]));
  for (const [ip, verdict] of Object.entries(expected.verdicts)) {
    const got = verdicts.get(ip);
    const ok = verdict === 'caught' ? got === 'block' || got === 'challenge' : got === verdict;
    assert.ok(ok, `${ip}: expected ${verdict}, got ${got}`);
  }
});
