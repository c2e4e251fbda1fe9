// The report keeps a bounded number of decision keys; past it, it says how many decisions it left
// out instead of undercounting silently.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '@edgeguard/config';
import { replayLog } from '../src/replay.js';
import { buildReport, renderSummary } from '../src/report.js';

const fixtures = new URL('../../testkit/fixtures/', import.meta.url).pathname;

describe('the report past its bound on decision keys', () => {
  it('counts the decisions of keys it did not keep, in the JSON and the summary', async () => {
    const config = loadConfig(`${fixtures}demo.config.json`);
    const input = `${fixtures}demo.log.gz`;
    const whole = buildReport(await replayLog({ input, config, progress: false }));
    assert.ok(whole.decisions.keys > 100, `${whole.decisions.keys} keys in the demo`);
    assert.equal(whole.decisions.notKept, 0);
    assert.doesNotMatch(renderSummary(whole), /counts the first/);

    const bounded = buildReport(await replayLog({ input, config, progress: false, maxReportKeys: 50 }));
    assert.equal(bounded.decisions.keys, 50);
    assert.equal(bounded.decisions.keysLimit, 50);
    assert.equal(bounded.decisions.published, whole.decisions.published, 'every decision still published');
    assert.ok(
      bounded.decisions.notKept >= whole.decisions.keys - 50,
      `${bounded.decisions.notKept} not kept`,
    );
    assert.match(
      renderSummary(bounded),
      new RegExp(
        `counts the first 50 keys only: ${bounded.decisions.notKept.toLocaleString('en-US')} decisions of later keys`,
      ),
    );
  });
});
