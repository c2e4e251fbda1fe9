// Resuming an event stream: an EventSource reconnects to the URL it was given (with its `since`)
// and sends the id of the last event it got as Last-Event-ID; the stream must go on from there.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decision } from './support/decision.js';
import { startServer, type TestServer } from './support/server.js';

/** The event ids a stream sends until it has sent `last` (then closed). */
async function idsUntil(url: string, key: string, lastEventId: number, last: number): Promise<number[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 20_000);
  const response = await fetch(url, {
    headers: { 'x-api-key': key, 'last-event-id': String(lastEventId) },
    signal: abort.signal,
  });
  assert.equal(response.status, 200);
  const decoder = new TextDecoder();
  let text = '';
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes(`id: ${last}\n`)) break;
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return [...text.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
}

describe('event stream resume', { timeout: 30_000 }, () => {
  let server: TestServer;
  let key: string;
  const versions: number[] = [];
  before(async () => {
    server = await startServer();
    key = (await server.keys.create('edge', 'bouncer')).key;
    for (const value of ['192.0.2.1', '192.0.2.2', '192.0.2.3'])
      versions.push(await server.store.put(decision('ip', value)));
  });
  after(() => server.close());

  it('goes on from Last-Event-ID when the URL still has the since it was opened with', async () => {
    const [first, second, third] = versions as [number, number, number];
    const url = `${server.url}/api/blocklist/events?since=${first}`;
    assert.deepEqual(await idsUntil(url, key, second, third), [third]);
  });

  it('goes on from since when it is later than Last-Event-ID', async () => {
    const [first, second, third] = versions as [number, number, number];
    const url = `${server.url}/api/blocklist/events?since=${second}`;
    assert.deepEqual(await idsUntil(url, key, first, third), [third]);
  });
});
