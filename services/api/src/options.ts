import { kafkaEnvironment, redisTimeoutMs, switchVariable, wholeNumber } from '@edgeguard/kafka';
import { BadInput } from '@edgeguard/schema';
import { DEFAULT_TOMBSTONES, type TombstoneOptions } from './tombstones.js';

/** Everything the API reads from its environment (see services/api/README.md). */
export interface ApiOptions {
  /** `EDGEGUARD_API_PORT` (default 8080; 0 picks a free port). */
  port: number;
  /** `EDGEGUARD_API_HOST`: bind address (default `0.0.0.0`; `127.0.0.1` for loopback only). */
  host: string;
  brokers: string[];
  redisUrl: string;
  /** `EDGEGUARD_TOPIC_PREFIX`: topics, and the Redis keys of the store, the API keys and the cursors. */
  prefix: string;
  /** `EDGEGUARD_API_RATE_LIMIT`: requests per second per API key (default 1000; 0 disables). */
  rateLimit: number;
  /** `EDGEGUARD_API_RATE_BURST`: bucket size per key (default 2 × the rate). */
  rateBurst: number;
  /** `EDGEGUARD_API_MAX_STREAMS`: concurrent SSE connections per process (default 1000). */
  maxStreams: number;
  /**
   * `EDGEGUARD_API_MAX_STREAMS_PER_KEY`: concurrent SSE connections per API key and process
   * (default 100, at most `maxStreams`; an edge agent holds two).
   */
  maxStreamsPerKey: number;
  /**
   * `EDGEGUARD_API_REQUIRE_KEYS` on (`1`, `on`, `true`, `yes`; off: `0`, `off`, `false`, `no`; any
   * other value is refused at start): /readyz is 503 while the key store holds no key (default:
   * only once this process has seen keys, so a fresh install is ready before its first key).
   */
  requireKeys: boolean;
  /**
   * `EDGEGUARD_API_LOOKUP`: `memory` (default) answers `/v1/decisions` from an in-process follower
   * of the store fed by its change log; `redis` asks the store for every request.
   */
  lookup: 'memory' | 'redis';
  /**
   * `EDGEGUARD_API_SWEEPER` on (the same words as above): run the store's expiry sweeper in this
   * process too (default off: the decider's store writer sweeps; turn it on when the API reads a
   * store nobody else sweeps).
   */
  sweeper: boolean;
  /**
   * Tombstones of deleted decisions kept for the CrowdSec stream's full sets (tombstones.ts):
   * `EDGEGUARD_API_TOMBSTONES` (count, default 200,000, at least 1) and
   * `EDGEGUARD_API_TOMBSTONE_MAX_AGE_MS` (default 86,400,000: the decider's longest decision).
   */
  tombstones: TombstoneOptions;
  /**
   * `EDGEGUARD_REDIS_TIMEOUT_MS` (default 5000, as the stage services): a Redis command unanswered
   * this long fails its request with 503 `redis-unavailable`, and Redis counts as unavailable
   * until a PING answers (redis-health.ts).
   */
  redisTimeoutMs: number;
}

/**
 * The ceiling of the API's counts and durations that have no limit of their own: past it a number
 * is no longer exact (they took any whole number before; `1e300` was a rate).
 */
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

export function apiOptions(env: NodeJS.ProcessEnv = process.env): ApiOptions {
  const kafka = kafkaEnvironment(env);
  const port = wholeNumber(env, 'EDGEGUARD_API_PORT', 65_535, 8080);
  const rateLimit = wholeNumber(env, 'EDGEGUARD_API_RATE_LIMIT', UNBOUNDED, 1000);
  const maxStreams = wholeNumber(env, 'EDGEGUARD_API_MAX_STREAMS', UNBOUNDED, 1000, 1);
  const lookup = env.EDGEGUARD_API_LOOKUP || 'memory';
  if (lookup !== 'memory' && lookup !== 'redis') {
    throw new BadInput('bad-config', `EDGEGUARD_API_LOOKUP: expected memory or redis, got '${lookup}'`);
  }
  return {
    port,
    host: env.EDGEGUARD_API_HOST || '0.0.0.0',
    brokers: kafka.brokers,
    redisUrl: kafka.redisUrl,
    prefix: kafka.topicPrefix,
    rateLimit,
    // A bucket smaller than one request refuses every request (429) whatever the rate.
    rateBurst: wholeNumber(env, 'EDGEGUARD_API_RATE_BURST', UNBOUNDED, rateLimit * 2, rateLimit > 0 ? 1 : 0),
    maxStreams,
    maxStreamsPerKey: Math.min(
      maxStreams,
      wholeNumber(env, 'EDGEGUARD_API_MAX_STREAMS_PER_KEY', UNBOUNDED, 100, 1),
    ),
    lookup,
    sweeper: switchVariable(env, 'EDGEGUARD_API_SWEEPER', false),
    requireKeys: switchVariable(env, 'EDGEGUARD_API_REQUIRE_KEYS', false),
    redisTimeoutMs: redisTimeoutMs(env),
    tombstones: {
      maxCount: wholeNumber(env, 'EDGEGUARD_API_TOMBSTONES', UNBOUNDED, DEFAULT_TOMBSTONES.maxCount, 1),
      maxAgeMs: wholeNumber(
        env,
        'EDGEGUARD_API_TOMBSTONE_MAX_AGE_MS',
        UNBOUNDED,
        DEFAULT_TOMBSTONES.maxAgeMs,
        1,
      ),
    },
  };
}
