import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  hashContent,
  hashContentState,
  hashContinue,
  hashFinish,
  hashUrl,
  QUERY_HASH_START,
  queryStart,
} from '../src/hash.js';

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
    // A caller hashing the query itself from the query's start states gets the same hashes.
    const url = hashFinish(hashContinue(queryStart(state), query));
    assert.equal(url, hashUrl(host, path, query));
    assert.notEqual(url, hashContent(host, path));
    assert.equal(hashFinish(hashContinue(QUERY_HASH_START, query)), hashUrl(null, '', query));
  }
  // The separators keep the parts apart.
  assert.notEqual(hashUrl('a', 'b/c', 'c'), hashUrl('ab', '/c', 'c'));
});
