import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import {
  type ClientLabel,
  formatIPv6,
  generateScenario,
  type ScenarioOptions,
  TimeLocalFormatter,
  writeScenario,
} from '../src/index.js';
import { parseAll, parseTimeLocal } from './log-line.js';

const SMALL: ScenarioOptions = { seed: 8, durationSec: 120, scale: 0.2 };

/** Largest amount by which a line's timestamp is older than one written before it, ms. */
function maxLateness(times: number[]): number {
  let newest = Number.NEGATIVE_INFINITY;
  let worst = 0;
  for (const time of times) {
    worst = Math.max(worst, newest - time);
    newest = Math.max(newest, time);
  }
  return worst;
}

describe('log order', () => {
  test('lines are slightly out of order, never more than jitterMs (plus the 1 s timestamp resolution)', () => {
    for (const jitterMs of [1500, 4000]) {
      const times = parseAll(generateScenario({ ...SMALL, jitterMs }).lines(), 'edge').map(
        (line) => line.time,
      );
      const lateness = maxLateness(times);
      assert.ok(lateness > 0, 'some lines are written after later ones');
      assert.ok(lateness <= jitterMs + 1000, `a line ${lateness} ms late with jitterMs ${jitterMs}`);
    }
  });

  test('jitterMs 0 writes lines in time order', () => {
    const times = parseAll(generateScenario({ ...SMALL, jitterMs: 0 }).lines(), 'edge').map(
      (line) => line.time,
    );
    assert.equal(maxLateness(times), 0);
  });

  test('the default jitter keeps lines within about 2 s of order', () => {
    const times = parseAll(generateScenario(SMALL).lines(), 'edge').map((line) => line.time);
    assert.ok(maxLateness(times) <= 2000);
  });
});

describe('writing files', () => {
  test('writeScenario writes a readable gzip log and JSON-lines labels identical to generateScenario', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'testkit-'));
    try {
      const logPath = join(dir, 'scenario.log.gz');
      const labelsPath = join(dir, 'scenario.labels.jsonl');
      const { lines } = await writeScenario(SMALL, logPath, labelsPath);
      const text = gunzipSync(await readFile(logPath)).toString('latin1');
      assert.ok(text.endsWith('\n'));
      const expected = generateScenario(SMALL);
      const written = text.slice(0, -1).split('\n');
      assert.equal(written.length, lines);
      assert.deepEqual(written, [...expected.lines()]);
      const labels = (await readFile(labelsPath, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as ClientLabel);
      assert.deepEqual(labels, expected.labels());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a log path without .gz is plain text; targetLines is honoured', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'testkit-'));
    try {
      const logPath = join(dir, 'scenario.log');
      const { lines } = await writeScenario({ ...SMALL, format: 'combined', targetLines: 777 }, logPath);
      assert.equal(lines, 777);
      const text = await readFile(logPath, 'utf8');
      assert.equal(text.split('\n').length, 778);
      assert.match(text, /^\S+ - - \[\d\d\/Jan\/2024:09:\d\d:\d\d \+0000\] "/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('formatting helpers', () => {
  test('IPv6 addresses are printed in RFC 5952 canonical form', () => {
    assert.equal(formatIPv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), '2001:db8::1');
    assert.equal(formatIPv6([0, 0, 0, 0, 0, 0, 0, 0]), '::');
    assert.equal(formatIPv6([0x2a02, 0x810, 0, 0, 1, 0, 0, 0]), '2a02:810:0:0:1::');
    assert.equal(formatIPv6([1, 0, 0, 1, 0, 0, 0, 1]), '1:0:0:1::1');
    assert.equal(formatIPv6([0x2601, 0, 0xabc, 0x1b0, 1, 2, 3, 4]), '2601:0:abc:1b0:1:2:3:4');
  });

  test('$time_local renders UTC with English month names', () => {
    const formatter = new TimeLocalFormatter();
    const time = Date.UTC(2024, 0, 21, 9, 30, 12, 999);
    assert.equal(formatter.format(time), '21/Jan/2024:09:30:12 +0000');
    assert.equal(formatter.format(Date.UTC(2024, 1, 29, 23, 59, 59)), '29/Feb/2024:23:59:59 +0000');
    assert.equal(parseTimeLocal(formatter.format(time)), Date.UTC(2024, 0, 21, 9, 30, 12));
  });
});
