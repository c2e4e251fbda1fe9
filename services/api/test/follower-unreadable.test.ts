// A follower (an event stream, the in-memory mirror) catching up over a change-log page made only
// of unreadable entries must get past it, not stop before it and read it again at every catch-up.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Change } from '@edgeguard/decisions';
import { Follower } from '../src/follower.js';
import { decision } from './support/decision.js';
import { startServer, type TestServer } from './support/server.js';

class Recording extends Follower<Change> {
  applied: number[] = [];
  reads = 0;
  protected apply(change: Change): undefined {
    this.applied.push(change.version);
    return undefined;
  }
  protected async resync(): Promise<void> {
    throw new Error('unexpected resync');
  }
  protected failed(error: Error): void {
    throw error;
  }
}

describe('Follower over unreadable change-log entries', { timeout: 30_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('moves past a page of 1000 unreadable entries to the change after them, reading it once', async () => {
    const { store, redis } = server;
    await store.put(decision('ip', '192.0.2.10'));
    const start = await store.version();
    // 1000 entries (a catch-up page) no reader understands, as a newer writer's or a damaged log's.
    const version = start + 1000;
    const pipeline = redis.pipeline();
    for (let v = start + 1; v <= version; v++) pipeline.xadd(store.keys.changes, `${v}-0`, 'op', 'future');
    pipeline.set(store.keys.sequence, String(version));
    await pipeline.exec();
    await store.put(decision('ip', '192.0.2.11'));
    const last = await store.version();
    assert.equal(last, version + 1);

    let reads = 0;
    const follower = new Recording(start, (since, limit) => {
      reads++;
      return store.changesSince(since, limit);
    });
    await follower.catchUp();
    assert.deepEqual(follower.applied, [last]);
    assert.equal(follower.cursor, last);
    // caught up: a later catch-up reads once and applies nothing again
    reads = 0;
    await follower.catchUp();
    assert.equal(reads, 1);
    assert.deepEqual(follower.applied, [last]);
  });
});
