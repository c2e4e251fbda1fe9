import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ClientScore,
  type ClientTraits,
  COUNTER_STRIDE,
  M_PAGES,
  M_REPEATS,
  M_REQUESTS,
  M_SENSITIVE,
  S_REQUESTS,
  scoreClient,
} from '../src/client-rules.js';
import { defaultDetectConfig } from '../src/config.js';

const traits: ClientTraits = {
  browserClaim: false,
  unverifiedCrawler: false,
  scannerTool: false,
  interArrivalMean: 0,
  interArrivalVariance: 0,
  interArrivals: 0,
};

test('a client firing nothing after one that fired scores 0 with no evidence left from the first', () => {
  const config = defaultDetectConfig;
  const v = new Float64Array(2 * COUNTER_STRIDE);
  // Client A (offset 0): a scanner with a flood of requests. Client B: two quiet pages.
  v[M_REQUESTS] = 600;
  v[M_PAGES] = 600;
  v[M_SENSITIVE] = 10;
  v[COUNTER_STRIDE + M_REQUESTS] = 2;
  v[COUNTER_STRIDE + M_PAGES] = 2;
  const score = new ClientScore();

  scoreClient(v, 0, traits, config, config.windows.shortMs, score);
  assert.ok(score.score > 0);
  assert.equal(score.reason, 'scanner');
  assert.ok(score.signals(v, 0).some((s) => s.name === 'sensitiveHits'));

  scoreClient(v, COUNTER_STRIDE, traits, config, config.windows.shortMs, score);
  assert.equal(score.score, 0);
  assert.equal(score.reason, 'none');
  // `threshold` undefined where a signal has none (one object shape; serialised as absent).
  assert.deepEqual(score.signals(v, COUNTER_STRIDE), [
    { name: 'requestsPerMinute', value: 2, threshold: undefined },
  ]);
});

test('supporting evidence alone scores 0 and is not listed, with a primary rule it adds', () => {
  const config = defaultDetectConfig;
  const v = new Float64Array(COUNTER_STRIDE);
  const regular = { ...traits, interArrivalMean: 1000, interArrivalVariance: 1, interArrivals: 100 };
  v[M_REQUESTS] = 2;
  v[M_PAGES] = 2;
  const score = new ClientScore();
  scoreClient(v, 0, regular, config, config.windows.shortMs, score);
  assert.equal(score.score, 0);
  assert.deepEqual(
    score.signals(v, 0).map((s) => s.name),
    ['requestsPerMinute'],
  );

  v[M_SENSITIVE] = 2; // a scanner hit pattern: now timing regularity adds its points
  scoreClient(v, 0, regular, config, config.windows.shortMs, score);
  assert.equal(score.score, config.client.scanner.points + config.client.timingRegularity.points);
  assert.equal(score.reason, 'scanner');
  assert.deepEqual(
    score.signals(v, 0).map((s) => s.name),
    ['sensitiveHits', 'interArrivalVariation', 'requestsPerMinute'],
  );
});

test('the scraper rule fires on new pages, the value its evidence names, never below its threshold', () => {
  const config = defaultDetectConfig;
  const v = new Float64Array(COUNTER_STRIDE);
  const score = new ClientScore();
  let fired = 0;
  for (let pages = 20; pages <= 140; pages += 1) {
    for (let repeats = 0; repeats <= pages * 0.3; repeats += 1) {
      v.fill(0);
      v[M_REQUESTS] = pages;
      v[M_PAGES] = pages;
      v[M_REPEATS] = repeats;
      scoreClient(v, 0, traits, config, config.windows.shortMs, score);
      const evidence = score.signals(v, 0).find((s) => s.name === 'newPages');
      if (evidence === undefined) continue;
      fired++;
      assert.ok(
        evidence.value >= evidence.threshold!,
        `pages ${pages}, repeats ${repeats}: ${JSON.stringify(evidence)}`,
      );
    }
  }
  assert.ok(fired > 100, `fired ${fired} times`);
  // 40 pages, 11 of them repeats: 29 new, 72 % new, under the 29.5 new pages asked for.
  v.fill(0);
  v[M_REQUESTS] = 40;
  v[M_PAGES] = 40;
  v[M_REPEATS] = 11;
  scoreClient(v, 0, traits, config, config.windows.shortMs, score);
  assert.notEqual(score.reason, 'scraper');
});

test('reasonCode is equal for rules with the same reason and differs between reasons', () => {
  const config = defaultDetectConfig;
  const v = new Float64Array(3 * COUNTER_STRIDE);
  // A: sensitive probes (the scanner rule). B: a scanner tool's UA (the scanner-by-name rule, same
  // reason). C: a flood of requests (another reason).
  v[M_REQUESTS] = 20;
  v[M_PAGES] = 20;
  v[M_SENSITIVE] = 10;
  v[COUNTER_STRIDE + M_REQUESTS] = 50;
  v[COUNTER_STRIDE + M_PAGES] = 50;
  v[2 * COUNTER_STRIDE + M_REQUESTS] = 5000;
  v[2 * COUNTER_STRIDE + M_PAGES] = 5000;
  v[2 * COUNTER_STRIDE + S_REQUESTS] = 5000;
  v[2 * COUNTER_STRIDE + M_REPEATS] = 5000;
  const score = new ClientScore();
  const seen: [string, number][] = [];
  for (const [offset, t] of [
    [0, traits],
    [COUNTER_STRIDE, { ...traits, scannerTool: true }],
    [2 * COUNTER_STRIDE, traits],
  ] as const) {
    scoreClient(v, offset, t, config, config.windows.shortMs, score);
    seen.push([score.reason, score.reasonCode]);
  }
  assert.equal(seen[0]![0], 'scanner');
  assert.equal(seen[1]![0], 'scanner');
  assert.notEqual(seen[2]![0], 'scanner');
  assert.equal(seen[0]![1], seen[1]![1]);
  assert.notEqual(seen[2]![1], seen[0]![1]);
  scoreClient(v, 0, traits, config, config.windows.shortMs, score);
  assert.equal(score.reasonCode, seen[0]![1]);
});
