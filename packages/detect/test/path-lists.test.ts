import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isProbeChar, mayProbe, SensitivePathMatcher } from '../src/path-lists.js';

const matcher = new SensitivePathMatcher();

test('probes for secrets, backdoors, admin panels and traversal are sensitive', () => {
  for (const path of [
    '/.env',
    '/app/.env',
    '/.git/config',
    '/backup.sql',
    '/wp-admin/install.php',
    '/phpmyadmin/',
    '/shell/c99.php',
    '/uploads/alfa-rex.php',
    '/static/../../etc/passwd',
    '/.aws/credentials',
  ]) {
    assert.equal(matcher.matches(path, null), true, path);
  }
  assert.equal(matcher.matches('/download', 'file=php://filter/resource=index'), true);
  assert.equal(matcher.matches('/products', 'id=1%20UNION%20SELECT%20password'), true);
  assert.equal(matcher.matches('/search', 'q=%3Cscript%3Ealert(1)%3C/script%3E'), true);
});

test('ordinary pages, assets and look-alikes are not sensitive', () => {
  for (const path of [
    '/',
    '/products/123',
    '/static/app.js',
    '/blog/environment-tips',
    '/administration-guide',
    '/c.php.html',
    '/feed.xml',
    '/api/v1/feed',
  ]) {
    assert.equal(matcher.matches(path, null), false, path);
  }
  assert.equal(matcher.matches('/search', 'q=hello+world&page=2'), false);
  assert.equal(matcher.matches('/search', 'q=caf%C3%A9+(paris)'), false);
  assert.equal(matcher.matches('/products/18', '_=1705827706309'), false);
});

test('every traversal, SQL-injection and XSS pattern of the lists is a probe in a query', () => {
  const dataDir = new URL('../data/', import.meta.url);
  for (const name of ['path_traversal.txt', 'sqli_probe_patterns.txt', 'xss_probe_patterns.txt']) {
    const patterns = readFileSync(new URL(name, dataDir), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.length > 0 && !line.startsWith('#'));
    assert.ok(patterns.length > 0, name);
    for (const pattern of patterns) {
      assert.equal(matcher.queryMatches(`q=${pattern}`), true, `${name}: ${pattern}`);
      assert.equal(matcher.queryMatches(`a=1&q=${pattern}&b=2`), true, `${name}: ${pattern}`);
    }
  }
  // None of the characters any pattern needs: not a probe, whatever the letters.
  assert.equal(matcher.queryMatches('since=1705815115&device=41d7e114e03deba9'), false);
  assert.equal(matcher.queryMatches('q=union+select+password+from+users'), false);
});

test('the probe characters are the eight every pattern needs, and probeMatches is queryMatches past them', () => {
  for (let c = 0; c < 0x3000; c++) {
    assert.equal(isProbeChar(c), '.%:\\/<(_'.includes(String.fromCharCode(c)), `char ${c}`);
  }
  for (const query of ['id=42', '_=1705827706309', 'file=../../etc/passwd', 'q=%3Cscript%3E', 'a=b.c']) {
    assert.equal(matcher.queryMatches(query), mayProbe(query) && matcher.probeMatches(query), query);
  }
});
