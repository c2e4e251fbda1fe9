// The API's fastify server in this process over the real Redis, for tests that need its settings
// (stream cap, ping interval) or its pieces (the key store): the store, the change feed, the key
// store and the SSE hub are the real ones; only Kafka writes are left out (the producer answers
// 503 `kafka-unavailable`, as run.ts does while not connected).
import { DecisionStore, storeKeys } from '@edgeguard/decisions';
import { createLogger, Metrics } from '@edgeguard/telemetry';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { Authenticator } from '../../src/auth.js';
import { Blocklist } from '../../src/blocklist.js';
import { ApiError } from '../../src/errors.js';
import { ChangeFeed } from '../../src/feed.js';
import { ApiKeyStore } from '../../src/keys.js';
import { DecisionMirror } from '../../src/mirror.js';
import { CachePolicyState } from '../../src/policies.js';
import { createApiServer } from '../../src/server.js';
import { SseHub, type SseHubOptions } from '../../src/sse.js';
import { type TombstoneOptions, TombstoneRecorder, Tombstones } from '../../src/tombstones.js';

export interface TestServer {
  url: string;
  app: FastifyInstance;
  store: DecisionStore;
  keys: ApiKeyStore;
  hub: SseHub;
  redis: Redis;
  prefix: string;
  recorder: TombstoneRecorder;
  metrics: Metrics;
  /** The cache policies the server answers (apply() records to them, as the topic reader does). */
  policies: CachePolicyState;
  close(): Promise<void>;
}

let serial = 0;

export async function startServer(
  options: {
    hub?: Partial<SseHubOptions>;
    lookup?: 'memory' | 'redis';
    tombstones?: TombstoneOptions;
    /** Redis URL (default REDIS_URL or the shared 127.0.0.1:6379). */
    redisUrl?: string;
    requestTimeoutMs?: number;
  } = {},
): Promise<TestServer> {
  const url = options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `test.apisrv.${process.pid}.${Date.now().toString(36)}.${serial++}.`;
  const redis = new Redis(url);
  const feedRedis = new Redis(url, { maxRetriesPerRequest: null });
  const logger = createLogger('api-test');
  const metrics = new Metrics('api');
  const store = new DecisionStore({ redis, prefix });
  const keys = new ApiKeyStore(redis, prefix);
  const feed = new ChangeFeed(feedRedis, storeKeys(prefix), logger);
  const mirror = options.lookup === 'redis' ? null : new DecisionMirror(store, logger);
  if (mirror) feed.subscribe(mirror.onChanges);
  const tombstones = new Tombstones(redis, keys.keys);
  const recorder = new TombstoneRecorder(tombstones, store, logger, options.tombstones);
  feed.subscribe(recorder.onChanges);
  feed.start(await store.version());
  await mirror?.load();
  await recorder.start();
  const blocklist = new Blocklist(store, redis, storeKeys(prefix), mirror);
  const hub = new SseHub(
    { max: 100, maxPerKey: 100, revoked: (names) => keys.revoked(names), ...options.hub },
    {
      clients: metrics.gauge('edgeguard_api_sse_clients', 'Open event streams', ['stream']),
      dropped: metrics.counter('edgeguard_api_sse_dropped_total', 'dropped', ['stream']),
      events: metrics.counter('edgeguard_api_sse_events_total', 'events', ['stream']),
    },
  );
  const policies = new CachePolicyState();
  const app = await createApiServer({
    logger,
    metrics,
    auth: new Authenticator(keys, { rate: 0, burst: 0 }),
    blocklist,
    feed,
    hub,
    policies,
    producer: () => {
      throw new ApiError(503, 'kafka-unavailable', 'no Kafka in this test');
    },
    prefix,
    redis,
    cursorsKey: keys.keys.cursors,
    tombstones,
    ready: () => true,
    ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    store,
    keys,
    hub,
    redis,
    prefix,
    recorder,
    metrics,
    policies,
    async close() {
      hub.closeAll();
      recorder.closed = true;
      await app.close();
      await feed.stop();
      for (const tag of [`{${prefix}bl}`, `{${prefix}api}`]) {
        const found = await redis.keys(`${tag}:*`);
        if (found.length > 0) await redis.del(...found);
      }
      redis.disconnect();
    },
  };
}

/** Once the server's tombstone recorder has recorded through the store's current version. */
export async function recorded(server: TestServer): Promise<void> {
  const target = await server.store.version();
  const tombstones = new Tombstones(server.redis, server.keys.keys);
  const deadline = Date.now() + 5_000;
  while ((await tombstones.state()).cursor < target) {
    if (Date.now() > deadline) throw new Error(`tombstones not recorded through ${target}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Trims the store's change log to nothing, as XADD MAXLEN does to a bouncer's cursor over time. */
export async function trimLog(server: TestServer): Promise<void> {
  await server.redis.xtrim(server.store.keys.changes, 'MAXLEN', 0);
}
