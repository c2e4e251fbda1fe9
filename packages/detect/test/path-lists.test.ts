import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  isProbeChar,
  mayProbe,
  PROBE_ALWAYS,
  PROBE_IF_REFUSED,
  SensitivePathMatcher,
} from '../src/path-lists.js';

const matcher = new SensitivePathMatcher();

test('probes for secrets, backups, backdoors and traversal are sensitive whatever the answer', () => {
  for (const path of [
    '/.env',
    '/app/.env',
    '/.git/config',
    '/backup.sql',
    '/shell/c99.php',
    '/uploads/alfa-rex.php',
    '/static/../../etc/passwd',
    '/.aws/credentials',
    '/wp-config.php',
    '/.wp-config.php.swp',
    '/blog/wp-config.php~',
    '/wp-config.php.orig',
  ]) {
    assert.equal(matcher.pathProbe(path), PROBE_ALWAYS, path);
    for (const status of [200, 301, 403, 404]) assert.equal(matcher.matches(path, null, status), true, path);
  }
  assert.equal(matcher.matches('/download', 'file=php://filter/resource=index', 200), true);
  assert.equal(matcher.matches('/products', 'id=1%20UNION%20SELECT%20password', 200), true);
  assert.equal(matcher.matches('/search', 'q=%3Cscript%3Ealert(1)%3C/script%3E', 200), true);
});

test('admin interfaces and WordPress scripts are probes only when refused (403, 404): real where the site runs them', () => {
  for (const path of [
    '/wp-admin/install.php',
    '/wp-admin/',
    '/wp-login.php',
    '/phpmyadmin/',
    '/smth/wp-admin/admin-ajax.php',
    '/wp-content/plugins/adminimize/adminimize_page.php',
    '/wp-content/plugins/blocksy-companion/README.txt',
    '/wp-content/plugins/another-plugin/readme.md',
  ]) {
    assert.equal(matcher.pathProbe(path), PROBE_IF_REFUSED, path);
    assert.equal(matcher.matches(path, null, 404), true, path);
    assert.equal(matcher.matches(path, null, 403), true, path);
    assert.equal(matcher.matches(path, null, 200), false, path);
    assert.equal(matcher.matches(path, null, 302), false, path);
  }
  // A missing upload or theme asset is a broken link, not a probe.
  for (const path of [
    '/wp-content/uploads/2019/05/photo.jpg',
    '/wp-content/themes/x/style.css',
    '/wp-json/wp/v2/posts',
  ]) {
    assert.equal(matcher.pathProbe(path), 0, path);
  }
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
    assert.equal(matcher.pathProbe(path), 0, path);
  }
  assert.equal(matcher.matches('/search', 'q=hello+world&page=2', 200), false);
  assert.equal(matcher.matches('/search', 'q=caf%C3%A9+(paris)', 200), false);
  assert.equal(matcher.matches('/products/18', '_=1705827706309', 200), false);
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
