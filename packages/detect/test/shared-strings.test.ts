import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detachString, SharedStrings } from '../src/detach-string.js';

describe('strings kept in long-lived state', () => {
  it('a detached copy has the same text as the field cut from the line', () => {
    const line =
      '203.0.113.77 - - [21/Jan/2024:09:00:13 +0000] "GET /images/products/18/thumb.webp HTTP/1.1"';
    const path = line.slice(line.indexOf('/images'), line.indexOf(' HTTP'));
    assert.equal(detachString(path), '/images/products/18/thumb.webp');
    assert.equal(detachString(''), '');
    assert.equal(detachString('/a'), '/a');
  });

  it('equal user agents come back with their text unchanged; absent fields stay absent', () => {
    const shared = new SharedStrings(10);
    const ua = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0';
    const first = shared.get(`${ua} `.trimEnd());
    const second = shared.get(`${ua}  `.trimEnd());
    assert.equal(first, ua);
    assert.equal(second, ua);
    assert.equal(shared.getOptional(null), null);
    assert.equal(shared.getOptional(undefined), undefined);
  });

  it('stays bounded: past its capacity it starts over and still returns the right text', () => {
    const shared = new SharedStrings(3);
    const texts = Array.from({ length: 10 }, (_, i) => `/products/${i}/details`);
    for (const text of texts) assert.equal(shared.get(text), text);
    for (const text of texts) assert.equal(shared.get(text), text);
  });
});
