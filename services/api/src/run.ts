import { DecisionStore, storeKeys } from '@edgeguard/decisions';
import { createKafka, createProducer, exitOnStopSignals, STOPPED_WHILE_STARTING } from '@edgeguard/kafka';
import { createLogger, Metrics } from '@edgeguard/telemetry';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import { Authenticator } from './auth.js';
import { Blocklist } from './blocklist.js';
import { ApiError } from './errors.js';
import { ChangeFeed } from './feed.js';
import { ApiKeyStore, KeyStoreWatch } from './keys.js';
import { DecisionMirror } from './mirror.js';
import { type ApiOptions, apiOptions } from './options.js';
import { CachePolicyState, followCachePolicies } from './policies.js';
import { RedisHealth } from './redis-health.js';
import { createApiServer } from './server.js';
import { SseHub } from './sse.js';
import { TombstoneRecorder, Tombstones } from './tombstones.js';

export interface RunningApi {
  app: FastifyInstance;
  port: number;
  close(): Promise<void>;
}

/** Retries `fn` with backoff until it resolves or `stopped()`; logs each failure once per attempt. */
async function retrying<T>(fn: () => Promise<T>, log: (error: Error) => void, stopped: () => boolean) {
  let delay = 500;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (stopped()) return undefined;
      log(error as Error);
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (stopped()) return undefined;
      delay = Math.min(delay * 2, 10_000);
    }
  }
}

/**
 * `edgeguard run api`: the HTTP API over the Redis decision store, the cache-policies topic and a
 * Kafka producer for operator writes. Resolves once listening; SIGTERM/SIGINT close it gracefully
 * (event streams ended, in-flight requests finished, connections closed) when `handleSignals`.
 */
export async function runApi(options: ApiOptions = apiOptions(), handleSignals = true): Promise<RunningApi> {
  const logger = createLogger('api');
  const metrics = new Metrics('api');
  let stopping = false;
  // Every command bounded (the change feed's XREAD BLOCK has its own connection, unbounded).
  const redis = new Redis(options.redisUrl, {
    lazyConnect: false,
    maxRetriesPerRequest: 3,
    commandTimeout: options.redisTimeoutMs,
  });
  const feedRedis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  redis.on('error', (error) => logger.warn({ err: error }, 'redis'));
  feedRedis.on('error', (error) => logger.warn({ err: error }, 'redis (change feed)'));
  const { host, port: redisPort } = redis.options;
  const health = new RedisHealth(
    redis,
    options.redisTimeoutMs,
    `Redis at ${host ?? '127.0.0.1'}:${redisPort ?? 6379} (REDIS_URL)`,
    logger,
    metrics.gauge(
      'edgeguard_api_redis_available',
      '1 while Redis answers, 0 while requests that need it are refused 503 redis-unavailable',
    ),
  );
  health.start();
  const store = new DecisionStore({ redis, prefix: options.prefix });
  const keys = storeKeys(options.prefix);
  const keyStore = new ApiKeyStore(redis, options.prefix);
  const auth = new Authenticator(keyStore, { rate: options.rateLimit, burst: options.rateBurst }, (error) =>
    logger.warn({ err: error }, 'key last-use not recorded'),
  );
  const keyWatch = new KeyStoreWatch(keyStore, options.requireKeys, logger);
  const feed = new ChangeFeed(feedRedis, keys, logger);
  const mirror = options.lookup === 'memory' ? new DecisionMirror(store, logger) : null;
  const blocklist = new Blocklist(store, redis, keys, mirror);
  const tombstones = new Tombstones(redis, keyStore.keys);
  const recorder = new TombstoneRecorder(tombstones, store, logger, options.tombstones);
  const hub = new SseHub(
    {
      max: options.maxStreams,
      maxPerKey: options.maxStreamsPerKey,
      revoked: (names) => keyStore.revoked(names),
      onCheckError: (error) => logger.warn({ err: error }, 'event streams: key revocation not checked'),
    },
    {
      clients: metrics.gauge('edgeguard_api_sse_clients', 'Open event streams', ['stream']),
      dropped: metrics.counter(
        'edgeguard_api_sse_dropped_total',
        'Event streams dropped for being too slow',
        ['stream'],
      ),
      events: metrics.counter('edgeguard_api_sse_events_total', 'Events written to streams', ['stream']),
    },
  );
  const policies = new CachePolicyState();
  const badPolicies = metrics.counter(
    'edgeguard_api_bad_policies_total',
    'Undecodable cache-policy records skipped',
  );
  const mirrored = metrics.gauge('edgeguard_api_decisions_mirrored', 'Decisions in the in-memory follower');
  const policyGauge = metrics.gauge('edgeguard_api_cache_policies', 'Cache policies held');
  const gaugeTimer = setInterval(() => {
    mirrored.set(mirror?.size ?? 0);
    policyGauge.set(policies.policies.size);
  }, 5_000);
  gaugeTimer.unref();

  const kafka = createKafka({ brokers: options.brokers, clientId: 'edgeguard-api', logger });
  const producer = createProducer(kafka);
  let producerConnected = false;
  producer.on(producer.events.CONNECT, () => {
    producerConnected = true;
  });
  producer.on(producer.events.DISCONNECT, () => {
    producerConnected = false;
  });
  let policiesCaughtUp = false;
  let policyFollower: { stop(): Promise<void> } | undefined;

  let app: FastifyInstance | undefined;
  let stopSweeper: () => Promise<void> = async () => undefined;
  let listening = false;
  const close = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(gaugeTimer);
    health.stop();
    keyWatch.stop();
    hub.closeAll();
    recorder.closed = true;
    await app?.close();
    await Promise.allSettled([feed.stop(), stopSweeper(), policyFollower?.stop(), producer.disconnect()]);
    // QUIT waits for a reply: with Redis unreachable it would wait for good.
    if (redis.status === 'ready' && health.problem === null) await redis.quit().catch(() => undefined);
    else redis.disconnect();
    logger.info(listening ? 'api stopped' : 'api stopped before listening');
  };
  // From here, not from listening: a stop while the start waits for Redis or loads the server (a
  // second or more with Redis down) ended the process by the signal (exit 143), nothing closed.
  if (handleSignals)
    exitOnStopSignals(logger, close, () =>
      listening ? 'signal received: stopping' : STOPPED_WHILE_STARTING,
    );

  // Background start: the server listens at once and /readyz says what is still missing.
  const version = await store.version().catch(() => 0);
  await keyWatch.start();
  if (mirror) feed.subscribe(mirror.onChanges);
  feed.subscribe(recorder.onChanges);
  feed.start(version);
  void mirror?.load();
  void recorder.start().catch((error: Error) => {
    logger.warn({ err: error }, 'tombstone recorder not started; retrying in 1 s');
    setTimeout(() => void recorder.catchUp(), 1000).unref();
  });
  void retrying(
    // A connect that completes after close() (a stop during startup) is undone: nothing is left running.
    () => producer.connect().then(() => (stopping ? producer.disconnect() : undefined)),
    (e) => logger.warn({ err: e }, 'kafka producer: connect failed; retrying'),
    () => stopping,
  );
  void retrying(
    async () => {
      const follower = await followCachePolicies(kafka, options.prefix, policies, logger, () =>
        badPolicies.inc(),
      );
      if (stopping) {
        await follower.stop();
        return;
      }
      policyFollower = follower;
      // A consumer that crashes for good while catching up is replaced too.
      await Promise.race([
        follower.caughtUp,
        follower.crashed.then((error) => {
          throw error;
        }),
      ]);
      policiesCaughtUp = true;
      logger.info({ policies: policies.policies.size, version: policies.version }, 'cache policies loaded');
      // A consumer that crashed for good would leave the policies frozen while /readyz says ready:
      // not ready until a new follower has caught up (it re-reads the topic; applied offsets are
      // skipped, so the state and its versions carry on).
      const error = await follower.crashed;
      policiesCaughtUp = false;
      throw error;
    },
    (e) => {
      logger.warn({ err: e }, 'cache-policies topic not readable; retrying');
      // The crashed (or half-started) follower's consumer and group go before a new one starts.
      void policyFollower?.stop().catch(() => undefined);
      policyFollower = undefined;
    },
    () => stopping,
  );
  if (options.sweeper)
    stopSweeper = store.startSweeper(1000, 1000, (error) => logger.warn({ err: error }, 'sweeper'));

  app = await createApiServer({
    logger,
    metrics,
    auth,
    blocklist,
    feed,
    hub,
    policies,
    kafka,
    producer: (): Producer => {
      if (!producerConnected)
        throw new ApiError(503, 'kafka-unavailable', 'not connected to Kafka yet; retry shortly');
      return producer;
    },
    prefix: options.prefix,
    redis,
    cursorsKey: keyStore.keys.cursors,
    tombstones,
    redisHealth: health,
    ready: () => {
      if (redis.status !== 'ready') return `redis: ${redis.status}`;
      if (health.problem !== null) return health.problem;
      if (keyWatch.problem !== null) return keyWatch.problem;
      if (!feed.healthy) return 'change log not read yet';
      if (mirror && !mirror.ready) return 'decision mirror loading';
      if (!policiesCaughtUp) return 'cache policies loading';
      if (!producerConnected) return 'kafka producer not connected';
      return true;
    },
  });
  try {
    await app.listen({ port: options.port, host: options.host });
  } catch (error) {
    // "listen EADDRINUSE: address already in use 0.0.0.0:8080" named neither the API nor the
    // variables that move it (as the health server of the stage services says it).
    await close();
    const { message, code } = error as NodeJS.ErrnoException;
    const why = message.replace(/^(listen|getaddrinfo) [A-Z]+:? ?/, '').replace(/ \S+:\d+$/, '');
    throw new Error(
      `cannot listen on ${options.host}:${options.port} (EDGEGUARD_API_HOST, EDGEGUARD_API_PORT): ${why || message}${code ? ` (${code})` : ''}`,
    );
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  listening = true;
  logger.info({ port, host: options.host, prefix: options.prefix, lookup: options.lookup }, 'api listening');
  return { app, port, close };
}
