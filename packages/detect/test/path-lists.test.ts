import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SensitivePathMatcher } from '../src/path-lists.js';

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
