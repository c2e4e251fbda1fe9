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
  scoreClient,
} from '../src/client-rules.js';
import { defaultDetectConfig } from '../src/config.js';

const traits: ClientTraits = {
  browserClaim: false,
  unverifiedCrawler: false,
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
