import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVerifiedCrawlerAddress } from '@edgeguard/fingerprint';
import { generateScenario } from '@edgeguard/testkit';

// The testkit's polite crawlers stand for the real Googlebot and Bingbot: each must come from an
// address the detector's verified-crawler list (the operators' published ranges) holds, or the
// labelled evaluation would count a look-alike impostor as a protected client.
test('every polite crawler the testkit casts comes from its operator’s published ranges', () => {
  const outside: string[] = [];
  let crawlers = 0;
  for (const seed of [1, 2, 3]) {
    const scenario = generateScenario({ seed, durationSec: 60, scale: 0, populations: { crawler: 200 } });
    for (const label of scenario.labels()) {
      if (label.role !== 'crawler') continue;
      crawlers++;
      if (isVerifiedCrawlerAddress(label.ip) === null) outside.push(label.ip);
    }
  }
  assert.equal(crawlers, 600);
  assert.deepEqual(outside, [], `${outside.length} of ${crawlers} crawlers outside the published ranges`);
});
