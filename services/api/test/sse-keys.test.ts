// Event streams and the key that opened them, over the real Redis key store and decision store:
// a revoked key loses its open streams, and one key cannot hold more than its share of streams.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiOptions } from '../src/options.js';
import { startServer, type TestServer } from './support/server.js';

interface Stream {
  status: number;
  body: string;
  ended: boolean;
  close(): void;
}

/** Opens an event stream and collects its text until it ends. */
async function open(url: string, key: string): Promise<Stream> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { 'x-api-key': key }, signal: abort.signal });
  const stream: Stream = { status: response.status, body: '', ended: false, close: () => abort.abort() };
  void (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
        stream.body += decoder.decode(chunk, { stream: true });
    } catch {
      // aborted by close()
    }
    stream.ended = true;
  })();
  return stream;
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('event streams and API keys', { timeout: 60_000 }, () => {
  let server: TestServer;
  let events: string;
  before(async () => {
    server = await startServer({ hub: { pingIntervalMs: 100, maxPerKey: 2 } });
    const version = await server.store.put({
      key: 'ip:192.0.2.1',
      scope: 'ip',
      value: '192.0.2.1',
      action: 'block',
      reason: 'scanner',
      signals: [],
      score: 1,
      decidedAt: Date.now(),
      expiresAt: Date.now() + 3_600_000,
      origin: 'auto',
      version: 1,
    });
    events = `${server.url}/api/blocklist/events?since=${version}`;
  });
  after(() => server.close());

  it('closes the open streams of a revoked key with a revoked event, and only those', async () => {
    const { key: doomed } = await server.keys.create('edge-doomed', 'bouncer');
    const { key: kept } = await server.keys.create('edge-kept', 'bouncer');
    const revokedStream = await open(events, doomed);
    const keptStream = await open(events, kept);
    assert.equal(revokedStream.status, 200);
    await until('both streams open', () => revokedStream.body.includes(': edgeguard'));
    await server.keys.revoke('edge-doomed');
    await until('the revoked key’s stream ended', () => revokedStream.ended);
    assert.match(
      revokedStream.body,
      /event: revoked\ndata: \{"error":"revoked-key","message":"[^"]*edge-doomed[^"]*"\}/,
    );
    await sleep(300);
    assert.equal(keptStream.ended, false, 'another key’s stream stays open');
    keptStream.close();
  });

  it('refuses a key’s stream past its per-key cap with 429, not other keys’ streams', async () => {
    const { key } = await server.keys.create('edge-greedy', 'bouncer');
    const { key: other } = await server.keys.create('edge-other', 'bouncer');
    const first = await open(events, key);
    const second = await open(events, key);
    assert.deepEqual([first.status, second.status], [200, 200]);
    const third = await fetch(events, { headers: { 'x-api-key': key } });
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers.get('retry-after')) >= 1);
    const body = await third.json();
    assert.deepEqual(Object.keys(body), ['error', 'message']);
    assert.equal(body.error, 'too-many-streams-for-key');
    assert.match(body.message, /edge-greedy.*2/);
    const others = await open(events, other);
    assert.equal(others.status, 200, 'another key is not affected');
    first.close();
    await until('the closed stream freed its slot', () => server.hub.size === 2);
    const fourth = await open(events, key);
    assert.equal(fourth.status, 200);
    for (const s of [second, others, fourth]) s.close();
  });

  it('reads the per-key cap from EDGEGUARD_API_MAX_STREAMS_PER_KEY: 100 by default, never above the process cap', () => {
    assert.equal(apiOptions({}).maxStreamsPerKey, 100);
    assert.equal(apiOptions({ EDGEGUARD_API_MAX_STREAMS_PER_KEY: '3' }).maxStreamsPerKey, 3);
    assert.equal(apiOptions({ EDGEGUARD_API_MAX_STREAMS: '4' }).maxStreamsPerKey, 4);
    assert.throws(
      () => apiOptions({ EDGEGUARD_API_MAX_STREAMS_PER_KEY: '0' }),
      /PER_KEY must be a whole number from 1 to/,
    );
  });
});
