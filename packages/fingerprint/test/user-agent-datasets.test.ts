/**
 * Accuracy of the UA classifier on public labelled sets (shared/data). The floors are the rates
 * measured when the classifier was written, minus a margin; the measured rates are printed.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { parseUserAgent } from '../src/user-agent.js';
import { isbotList, matomoBots, missing, percent, rate, readShared, SHARED_DATA } from './shared-data.js';

const nonBrowser = (ua: string): boolean => parseUserAgent(ua).kind !== 'browser';
const sample = (failures: string[]): string => failures.slice(0, 5).join('\n  ');

test('isbot browsers.yml: human user agents are never called crawlers or tools', {
  skip: missing('isbot-fixtures'),
}, (t) => {
  const browsers = isbotList('isbot-fixtures/browsers.yml');
  assert.ok(browsers.length > 500, `expected the 555 curated browser UAs, read ${browsers.length}`);
  const human = rate(browsers, (ua) => {
    const kind = parseUserAgent(ua).kind;
    return kind === 'browser' || kind === 'other';
  });
  t.diagnostic(`browsers.yml human-side (browser or app): ${percent(human.rate)} of ${browsers.length}`);
  // The misses are declared agents isbot lists as human on purpose (GTmetrix, Yahoo! Slurp, Amzn-User).
  assert.ok(human.rate >= 0.99, `human-side rate ${percent(human.rate)}; e.g.\n  ${sample(human.failures)}`);

  const webStyle = browsers.filter((ua) => /^(mozilla|opera)\//i.test(ua));
  const asBrowser = rate(webStyle, (ua) => parseUserAgent(ua).kind === 'browser');
  t.diagnostic(
    `browsers.yml Mozilla/Opera-style UAs classified browser: ${percent(asBrowser.rate)} of ${webStyle.length}`,
  );
  assert.ok(
    asBrowser.rate >= 0.95,
    `browser rate ${percent(asBrowser.rate)}; e.g.\n  ${sample(asBrowser.failures)}`,
  );
});

test('isbot crawlers.yml: curated crawler user agents are not taken for browsers', {
  skip: missing('isbot-fixtures'),
}, (t) => {
  const crawlers = isbotList('isbot-fixtures/crawlers.yml');
  const measured = rate(crawlers, nonBrowser);
  t.diagnostic(`crawlers.yml non-browser: ${percent(measured.rate)} of ${crawlers.length}`);
  // The misses are browser UAs with a monitoring product appended (DMBrowser, Sparkler, wechatdevtools ...).
  assert.ok(
    measured.rate >= 0.96,
    `non-browser rate ${percent(measured.rate)}; e.g.\n  ${sample(measured.failures)}`,
  );
});

test('Crawler-Detect crawler fixtures are classified non-browser', {
  skip: missing('crawler-detect-fixtures'),
}, (t) => {
  const crawlers = readShared('crawler-detect-fixtures/user_agent_crawlers.txt').split('\n').filter(Boolean);
  const measured = rate(crawlers, nonBrowser);
  const declared = rate(crawlers, (ua) => parseUserAgent(ua).kind === 'crawler');
  t.diagnostic(`user_agent_crawlers.txt non-browser: ${percent(measured.rate)} of ${crawlers.length}`);
  t.diagnostic(`user_agent_crawlers.txt declared crawler (kind crawler): ${percent(declared.rate)}`);
  assert.ok(
    measured.rate >= 0.98,
    `non-browser rate ${percent(measured.rate)}; e.g.\n  ${sample(measured.failures)}`,
  );
  assert.ok(declared.rate >= 0.75, `crawler rate ${percent(declared.rate)}`);
});

test('crawler-user-agents instances are classified non-browser', {
  skip: missing('crawler-user-agents'),
}, (t) => {
  const entries = JSON.parse(readShared('crawler-user-agents/crawler-user-agents.json')) as Array<{
    instances?: string[];
  }>;
  const instances = entries.flatMap((entry) => entry.instances ?? []);
  const measured = rate(instances, nonBrowser);
  t.diagnostic(`crawler-user-agents instances non-browser: ${percent(measured.rate)} of ${instances.length}`);
  assert.ok(
    measured.rate >= 0.98,
    `non-browser rate ${percent(measured.rate)}; e.g.\n  ${sample(measured.failures)}`,
  );
});

test('Matomo bots.yml: bots are non-browser and mostly named as Matomo names them', {
  skip: missing('matomo-device-detector-bots'),
}, (t) => {
  const bots = matomoBots();
  const measured = rate(
    bots.map((bot) => bot.userAgent),
    nonBrowser,
  );
  t.diagnostic(`matomo bots.yml non-browser: ${percent(measured.rate)} of ${bots.length}`);
  assert.ok(
    measured.rate >= 0.975,
    `non-browser rate ${percent(measured.rate)}; e.g.\n  ${sample(measured.failures)}`,
  );

  // Names agree when one contains the other once case and punctuation are dropped; Matomo groups
  // several products under one name (msnbot under BingBot), so this is a loose guard.
  const fold = (text: string) => text.toLowerCase().replace(/[^a-z0-9]/g, '');
  const named = rate(bots, (bot) => {
    const info = parseUserAgent(bot.userAgent);
    const ours = fold(info.crawler ?? info.family);
    const theirs = fold(bot.name);
    return ours !== '' && theirs !== '' && (ours.includes(theirs) || theirs.includes(ours));
  });
  t.diagnostic(`matomo bot name agreement: ${percent(named.rate)}`);
  assert.ok(named.rate >= 0.6, `name agreement ${percent(named.rate)}`);
});

test('ai.robots.txt agent tokens are recognised as crawlers by name', {
  skip: missing('ai-robots-txt'),
}, (t) => {
  const tokens = Object.keys(JSON.parse(readShared('ai-robots-txt/robots.json')) as Record<string, unknown>);
  // Each token in the declaration shape GPTBot and ClaudeBot use, and alone as a bare product.
  const declared = rate(tokens, (token) => {
    const ua = `Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ${token}/1.0; +https://example.com/bot)`;
    const info = parseUserAgent(ua);
    const firstWord = token.split(/[ /]/)[0]!.toLowerCase();
    return info.kind !== 'browser' && (info.crawler ?? info.family).toLowerCase().startsWith(firstWord);
  });
  const bare = rate(tokens, (token) => nonBrowser(`${token}/1.0`));
  t.diagnostic(`ai.robots.txt tokens named as the crawler: ${percent(declared.rate)} of ${tokens.length}`);
  assert.ok(
    declared.rate >= 0.97,
    `named rate ${percent(declared.rate)}; e.g.\n  ${sample(declared.failures)}`,
  );
  assert.equal(bare.rate, 1, `bare tokens taken for browsers:\n  ${sample(bare.failures)}`);
});

test('isbot downloaded bot lists (large, noisy) are mostly non-browser', {
  skip: missing('isbot-fixtures/downloaded'),
}, (t) => {
  const browsers = new Set(isbotList('isbot-fixtures/browsers.yml'));
  const dir = 'isbot-fixtures/downloaded/';
  for (const file of readdirSync(SHARED_DATA + dir).filter((f) => f.endsWith('.json'))) {
    // The same cleaning isbot's own build applies (isbot-fixtures/SOURCE.md).
    const list = (JSON.parse(readShared(dir + file)) as unknown[]).filter(
      (ua): ua is string =>
        typeof ua === 'string' &&
        !ua.startsWith('#') &&
        !/ucweb|cubot/i.test(ua) &&
        !browsers.has(ua) &&
        ua.length < 4000,
    );
    const measured = rate(list, nonBrowser);
    t.diagnostic(`${file}: non-browser ${percent(measured.rate)} of ${list.length}`);
    assert.ok(
      measured.rate >= 0.98,
      `${file}: ${percent(measured.rate)}; e.g.\n  ${sample(measured.failures)}`,
    );
  }
});
