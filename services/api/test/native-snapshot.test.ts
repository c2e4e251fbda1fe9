// The native blocklist snapshot over the real Redis store while it changes under the scan: the end
// line counts exactly the decision lines sent, whatever the header's count announced.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Decision } from '@edgeguard/schema';
import { startServer, type TestServer } from './support/server.js';

const TOTAL = 20_000;

function decisions(count: number, expiresAt: number): Decision[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, i) => {
    const value = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    return {
      key: `ip:${value}`,
      scope: 'ip' as const,
      value,
      action: 'block' as const,
      reason: 'scanner',
      signals: [{ name: 'probes', value: 12, threshold: 5 }],
      score: 1,
      decidedAt: now,
      expiresAt,
      origin: 'auto' as const,
      version: 1,
    };
  });
}

/** The snapshot's lines; `afterHeader` runs while the reader holds the stream after its first line. */
async function snapshot(
  server: TestServer,
  key: string,
  trailer: boolean,
  afterHeader: () => Promise<void> = async () => undefined,
): Promise<unknown[]> {
  const response = await fetch(`${server.url}/api/blocklist`, {
    headers: { 'x-api-key': key, ...(trailer ? { 'edgeguard-snapshot-trailer': '1' } : {}) },
  });
  assert.equal(response.status, 200);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let paused = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (!paused && text.includes('\n')) {
      paused = true;
      await afterHeader();
    }
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

describe('the native blocklist snapshot', { timeout: 120_000 }, () => {
  let server: TestServer;
  let key: string;
  before(async () => {
    server = await startServer({ lookup: 'redis' });
    key = (await server.keys.create('edge-1', 'bouncer')).key;
  });
  after(() => server.close());

  it('ends with the exact number of decision lines sent while decisions are removed under the scan', async () => {
    const all = decisions(TOTAL, Date.now() + 600_000);
    for (let i = 0; i < all.length; i += 500) await server.store.putMany(all.slice(i, i + 500));
    // Half of them are removed while the client holds the stream after its header line: the
    // pages not scanned yet no longer hold them.
    const removeHalf = async () => {
      const keys = all.filter((_, i) => i % 2 === 0).map((d) => d.key);
      for (let i = 0; i < keys.length; i += 500)
        await Promise.all(keys.slice(i, i + 500).map((k) => server.store.delete(k)));
    };
    const lines = (await snapshot(server, key, true, removeHalf)) as Array<Record<string, unknown>>;
    const header = lines[0]!;
    const end = lines.at(-1)!;
    const sent = lines.slice(1, -1);
    assert.equal(header.trailer, true);
    assert.equal(header.count, TOTAL, 'counted when the snapshot started');
    assert.ok(sent.length < TOTAL, `the scan saw decisions removed (sent ${sent.length})`);
    assert.ok(sent.every((d) => typeof d.key === 'string' && d.end === undefined));
    assert.deepEqual(end, { end: true, lines: sent.length });
  });

  it('keeps the old body (no end line) for a client that does not ask for it', async () => {
    const lines = (await snapshot(server, key, false)) as Array<Record<string, unknown>>;
    assert.equal(lines[0]!.trailer, undefined);
    assert.equal(lines.length - 1, lines[0]!.count);
    assert.ok(lines.slice(1).every((d) => typeof d.key === 'string'));
  });

  it('answers 304 to If-None-Match holding the ETag weakly or in a list, 200 to another', async () => {
    const status = async (ifNoneMatch?: string) => {
      const response = await fetch(`${server.url}/api/blocklist`, {
        headers: { 'x-api-key': key, ...(ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {}) },
      });
      await response.body?.cancel();
      return { status: response.status, etag: response.headers.get('etag')! };
    };
    const { etag } = await status();
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, `"other",W/${etag}`, '*'])
      assert.equal((await status(header)).status, 304, header);
    for (const header of ['"other"', `W/"x${etag.slice(1)}`, etag.slice(1, -1)])
      assert.equal((await status(header)).status, 200, header);
  });
});
