import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashContent, hashContentState, hashFinish, hashUrl, hashUrlFrom } from '../src/hash.js';

test('the content key state gives the same content and URL hashes as hashing each from scratch', () => {
  const cases: [string | null, string, string][] = [
    [null, '/', 'a=1'],
    ['example.com', '/index.php', 'id=7'],
    ['example.com', '/p', ''],
    [null, '/ä/ü', 'q=日本'],
    ['a', 'b/c', 'c'],
  ];
  for (const [host, path, query] of cases) {
    const state = hashContentState(host, path);
    assert.equal(hashFinish(state), hashContent(host, path));
    assert.equal(hashUrlFrom(state, query), hashUrl(host, path, query));
    assert.notEqual(hashUrlFrom(state, query), hashContent(host, path));
  }
  // The separators keep the parts apart.
  assert.notEqual(hashUrl('a', 'b/c', 'c'), hashUrl('ab', '/c', 'c'));
});
