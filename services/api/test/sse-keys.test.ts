// Event streams and the key that opened them, over the real Redis key store and decision store:
// a revoked key loses its open streams.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
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

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
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
    server = await startServer({ hub: { pingIntervalMs: 100 } });
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
    await until('the revoked key’s stream ended', () => revokedStream.ended, 3_000);
    assert.match(
      revokedStream.body,
      /event: revoked\ndata: \{"error":"revoked-key","message":"[^"]*edge-doomed[^"]*"\}/,
    );
    await sleep(300);
    assert.equal(keptStream.ended, false, 'another key’s stream stays open');
    keptStream.close();
  });
});
