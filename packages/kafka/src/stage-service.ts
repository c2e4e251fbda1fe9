import type { StageFactory } from '@edgeguard/pipeline';
import { BadInput } from '@edgeguard/schema';
import type { Logger } from '@edgeguard/telemetry';
import { createLogger, Metrics, startHealthServer } from '@edgeguard/telemetry';
import { Redis } from 'ioredis';
import type { Admin, Kafka, Message } from 'kafkajs';
import { connectAdmin, createKafka, within } from './client.js';
import { checkRedisUrl, type KafkaEnvironment, kafkaEnvironment } from './environment.js';
import { Shutdown, STOPPED_WHILE_STARTING } from './shutdown.js';
import type { StageRecipe } from './stage-pool.js';
import { StageRunner } from './stage-runner.js';
import { edgeguardTopics, ensureTopics, topicPartitions } from './topics.js';

/** What a service's companions share with its stage: one Kafka client, Redis, logger, metrics. */
export interface ServiceContext {
  kafka: Kafka;
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  environment: KafkaEnvironment;
}

/** A component running in a service process beside its stage (the decider's store writer, say). */
export interface Companion {
  /** Connects and loads what the stage needs; the service starts its companions one by one. */
  start(): Promise<void>;
  /** `true`, or why it is not ready (reported by /readyz). */
  ready?(): true | string;
  /** Also called when the service is stopped while `start` is still running or after it failed. */
  stop(): Promise<void>;
}

export interface StageServiceOptions {
  /** Service name: consumer group, logger and metrics label. */
  name: string;
  /**
   * Builds the stage once the partition counts of the deployed topics are known (a profiler
   * splits its bounds across the partitions it may own); `context` is what companions get too.
   */
  createStage(partitions: Record<string, number>, context: ServiceContext): StageFactory;
  /** Topics the stage writes (end-of-input markers go to them). */
  outputs: string[];
  /** `/healthz`, `/readyz`, `/metrics` port (`EDGEGUARD_HEALTH_PORT`, default 9464; 0 picks a free one). */
  healthPort?: number;
  environment?: KafkaEnvironment;
  /** Create missing topics at start (`EDGEGUARD_ENSURE_TOPICS=1`). */
  ensureTopics?: boolean;
  checkpointIntervalMs?: number;
  maxWaitTimeInMs?: number;
  /**
   * Worker threads that run the stage's partitions (see StageRunnerOptions.workers). Default
   * `EDGEGUARD_WORKERS`, else 0 (the runner's own thread). Only with `recipe`.
   */
  workers?: number;
  /** How a worker thread builds the stage (a stage sharing objects with companions has none). */
  recipe?: (partitions: Record<string, number>) => StageRecipe;
  /**
   * Built once the topics are checked and started, in order, before the stage consumes (so they
   * can load what the stage needs); stopped after it, in reverse order.
   */
  companions?: (context: ServiceContext) => Companion[];
  /** Outputs the broker acknowledged (StageRunnerOptions.onSent). */
  onSent?: (topic: string, messages: readonly Message[]) => void;
  /** Called once the service runs; tests use it to stop the service. */
  onStarted?: (service: { stop(): Promise<void>; healthPort: number }) => void;
}

/**
 * A whole number from `min` (default 0) to `max` in the environment variable `name`; unset or
 * empty: `fallback`.
 */
export function wholeNumber(
  env: NodeJS.ProcessEnv,
  name: string,
  max: number,
  fallback: number,
  min = 0,
): number {
  const configured = env[name];
  if (configured === undefined || configured === '') return fallback;
  const n = Number(configured);
  if (!/^[0-9]+$/.test(configured) || n > max || n < min)
    throw new BadInput(
      'bad-config',
      `${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(configured)}`,
      name,
    );
  return n;
}

const SWITCH_ON = ['1', 'on', 'true', 'yes'];
const SWITCH_OFF = ['0', 'off', 'false', 'no'];

/**
 * An on/off environment variable: `1`, `on`, `true`, `yes` or `0`, `off`, `false`, `no` (any
 * case); unset or empty: `fallback`. Anything else is refused naming the variable (a typo
 * silently kept the default: `EDGEGUARD_ENSURE_TOPICS=yes` created no topic).
 */
export function switchVariable(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const value = (env[name] ?? '').trim().toLowerCase();
  if (value === '') return fallback;
  if (SWITCH_ON.includes(value)) return true;
  if (SWITCH_OFF.includes(value)) return false;
  throw new BadInput(
    'bad-config',
    `${name} must be on or off (1/0, true/false, yes/no), not ${JSON.stringify(env[name])}`,
    name,
  );
}

/** `EDGEGUARD_ENSURE_TOPICS`: a stage service creates missing topics at start (default off). */
export function ensureTopicsAtStart(env: NodeJS.ProcessEnv = process.env): boolean {
  return switchVariable(env, 'EDGEGUARD_ENSURE_TOPICS', false);
}

/**
 * `EDGEGUARD_WORKERS`: stage worker threads of a stage service, a whole number from 0 to 64;
 * unset or empty means 0.
 */
export function stageWorkers(env: NodeJS.ProcessEnv = process.env): number {
  return wholeNumber(env, 'EDGEGUARD_WORKERS', 64, 0);
}

/**
 * `EDGEGUARD_MAX_IN_FLIGHT_BYTES`: unacknowledged output bytes a stage service goes on processing
 * with (StageRunnerOptions.maxInFlightBytes), at most 1 GiB; 0: each batch waits for its outputs.
 * Unset or empty: the runner's default.
 */
export function maxInFlightBytes(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const bytes = wholeNumber(env, 'EDGEGUARD_MAX_IN_FLIGHT_BYTES', 1 << 30, -1);
  return bytes < 0 ? undefined : bytes;
}

/**
 * `EDGEGUARD_REDIS_TIMEOUT_MS`: how long a stage service waits for Redis to answer a checkpoint
 * read or write or the readiness probe before it counts the checkpoint store as unreachable
 * (readiness false, no checkpoints meanwhile, a stop gives up on its checkpoints). Default 5000.
 */
export function redisTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  return wholeNumber(env, 'EDGEGUARD_REDIS_TIMEOUT_MS', 600_000, 5_000, 1);
}

/**
 * `EDGEGUARD_STOP_TIMEOUT_MS`: after SIGTERM/SIGINT, a stage service that has not stopped within
 * this long logs so and exits 1. Default 30000.
 */
export function stopTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  return wholeNumber(env, 'EDGEGUARD_STOP_TIMEOUT_MS', 3_600_000, 30_000, 1);
}

/**
 * `EDGEGUARD_STARTUP_TIMEOUT_MS`: how long a stage service waits at start for Redis and a Kafka
 * broker to answer before it exits 1 naming the one that did not, and where. Default 30000.
 */
export function startupTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  return wholeNumber(env, 'EDGEGUARD_STARTUP_TIMEOUT_MS', 3_600_000, 30_000, 1);
}

/**
 * `EDGEGUARD_HEALTH_PORT`: the port of a service's `/healthz`, `/readyz` and `/metrics`, a whole
 * number from 0 (any free port) to 65535; unset or empty means 9464. (`abc` was port NaN, and
 * Node's message named neither.)
 */
export function healthPort(env: NodeJS.ProcessEnv = process.env): number {
  return wholeNumber(env, 'EDGEGUARD_HEALTH_PORT', 65_535, 9_464);
}

/**
 * Every environment variable a stage service reads, checked before it connects to anything: a
 * bad value is refused at once, naming the variable (EDGEGUARD_STOP_TIMEOUT_MS was read only once
 * the service had joined its consumer group, EDGEGUARD_HEALTH_PORT reached Node's `listen` as NaN).
 */
export function checkServiceEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  healthPort(env);
  ensureTopicsAtStart(env);
  stageWorkers(env);
  maxInFlightBytes(env);
  redisTimeoutMs(env);
  stopTimeoutMs(env);
  startupTimeoutMs(env);
}

/**
 * SIGTERM/SIGINT run `stop`, then the process exits: 0 when it resolved, 1 when it rejected or has
 * not settled within EDGEGUARD_STOP_TIMEOUT_MS (whatever still waits: Redis or Kafka unreachable).
 * A second signal meanwhile ends the process at once (by the signal: exit 143 for SIGTERM).
 * `message`: the line logged at the signal. The stage services and the api share it.
 */
export function exitOnStopSignals(
  logger: Logger,
  stop: () => Promise<void>,
  message: () => string = () => 'signal received: stopping',
): void {
  const limit = stopTimeoutMs();
  const onSignal = (signal: string) => {
    logger.info({ signal }, message());
    setTimeout(() => {
      logger.fatal(
        { stopTimeoutMs: limit },
        'stop timed out (EDGEGUARD_STOP_TIMEOUT_MS; Redis or Kafka unreachable?): exiting',
      );
      process.exit(1);
    }, limit).unref();
    stop().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error({ error: error.message }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

/**
 * Startup check: Redis answers a PING and the admin client reaches a broker, both within `ms`
 * (together, not one after the other). Otherwise one error naming each that did not, and where;
 * kafkajs alone retried for about two minutes and then named only the last broker's socket error.
 */
async function checkReachable(
  redis: Redis,
  admin: Admin,
  environment: KafkaEnvironment,
  ms: number,
  logger: Logger,
): Promise<void> {
  let redisError: string | undefined;
  const onError = (error: Error) => {
    redisError = error.message;
  };
  redis.on('error', onError);
  const { host, port } = redis.options;
  const results = await Promise.allSettled([
    // A PING waits through ioredis' reconnects (maxRetriesPerRequest: null) until Redis answers.
    within(
      ms,
      redis.ping().then(() => selectDatabase(redis)),
      `Redis at ${host}:${port} (REDIS_URL)`,
      () => redisError,
    ),
    connectAdmin(admin, environment.brokers, ms),
  ]);
  redis.off('error', onError);
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
  if (failures.length === 0) return;
  for (const failure of failures) logger.error(failure);
  throw new Error(`cannot start: ${failures.join('; ')}`);
}

/**
 * Selects REDIS_URL's database once more, so that one the server does not have is refused: when
 * ioredis' own SELECT fails at connect (`/99` on a server with 16 databases) it emits an error and
 * goes on in database 0, where the service then kept its checkpoints, ready.
 */
async function selectDatabase(redis: Redis): Promise<void> {
  const db = redis.options.db ?? 0;
  if (db === 0) return;
  try {
    await redis.select(db);
  } catch (error) {
    throw new Error(`database ${db}: ${(error as Error).message}`);
  }
}

/**
 * The shell every stage service shares: logger, metrics, health endpoints, Kafka and Redis
 * connections, the stage runner, and a graceful stop on SIGTERM/SIGINT (finish the batch in
 * flight, checkpoint, commit, close). A signal while it still starts closes what it connected so
 * far (a group it is joining is joined, then left) and exits 0, saying it was stopped while
 * starting. A service's main only chooses the stage.
 */
export async function runStageService(options: StageServiceOptions): Promise<void> {
  checkServiceEnvironment();
  const environment = options.environment ?? kafkaEnvironment();
  checkRedisUrl(environment.redisUrl);
  const name = options.name;
  const logger = createLogger(name);
  const metrics = new Metrics(name);
  const shutdown = new Shutdown();
  exitOnStopSignals(
    logger,
    () => shutdown.stop(),
    () =>
      shutdown.starting
        ? STOPPED_WHILE_STARTING
        : 'signal received: stopping: finishing the batch in flight, checkpointing, committing',
  );
  let companions: Companion[] = [];
  let runner: StageRunner | undefined;
  // Served first: a port in use is refused before anything is connected (it was found only once
  // the decider's companions had joined their groups), and /readyz says what the start waits for.
  const health = await shutdown.step(
    startHealthServer({
      port: options.healthPort ?? healthPort(),
      metrics,
      ready: () => {
        if (shutdown.stopping) return 'stopping';
        if (runner === undefined) return 'starting';
        for (const companion of companions) {
          const ready = companion.ready?.() ?? true;
          if (ready !== true) return ready;
        }
        return runner.ready();
      },
    }),
  );
  shutdown.opened(() => health.close());
  const kafka = createKafka({ brokers: environment.brokers, clientId: `edgeguard-${name}`, logger });
  // Unlimited reconnects: a Redis restart must not need a manual restart of the service.
  const redis = new Redis(environment.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
  shutdown.opened(() => redis.disconnect());
  // ioredis reports every failed reconnect (about one a second while Redis is down): logged when
  // the error changes and again after Redis was back, not once a second for the whole outage.
  let redisError: string | null = null;
  redis.on('error', (error) => {
    if (error.message === redisError || shutdown.stopping) return;
    redisError = error.message;
    logger.warn({ error: error.message }, 'redis connection error (not logged again until it changes)');
  });
  redis.on('ready', () => {
    redisError = null;
  });
  const admin = kafka.admin();
  const abandonAdmin = () => void admin.disconnect().catch(() => undefined); // may still be retrying
  try {
    // A stop meanwhile does not wait for what does not answer.
    await shutdown.step(checkReachable(redis, admin, environment, startupTimeoutMs(), logger), () => {
      redis.disconnect();
      abandonAdmin();
    });
  } catch (error) {
    redis.disconnect();
    abandonAdmin();
    throw error;
  }
  const partitions = await shutdown.step(
    (async () => {
      try {
        if (options.ensureTopics ?? ensureTopicsAtStart()) {
          for (const check of await ensureTopics(admin, environment.topicPrefix, edgeguardTopics()))
            logger.info(check, 'topic');
        }
        return await topicPartitions(
          admin,
          environment.topicPrefix,
          edgeguardTopics().map((t) => t.name),
          true,
        );
      } finally {
        await admin.disconnect();
      }
    })(),
  );
  const context: ServiceContext = { kafka, redis, logger, metrics, environment };
  const factory = options.createStage(partitions, context);
  let workers = options.workers ?? stageWorkers();
  if (workers > 0 && options.recipe === undefined) {
    logger.warn({ workers }, `${name} runs its stage on the main thread: it cannot run in workers`);
    workers = 0;
  }
  companions = options.companions?.(context) ?? [];
  for (const companion of companions) {
    shutdown.opened(() => companion.stop());
    await shutdown.step(companion.start());
  }

  const stageRunner = new StageRunner({
    kafka,
    redis,
    factory,
    prefix: environment.topicPrefix,
    logger,
    metrics,
    partitions,
    outputs: options.outputs,
    checkpointIntervalMs: options.checkpointIntervalMs,
    maxWaitTimeInMs: options.maxWaitTimeInMs,
    maxInFlightBytes: maxInFlightBytes(),
    redisTimeoutMs: redisTimeoutMs(),
    workers,
    recipe: workers > 0 ? options.recipe?.(partitions) : undefined,
    onSent: options.onSent,
    onFatal: (error) => {
      logger.fatal(
        { error: error.message },
        'consumer failed for good: exiting so that the service is restarted',
      );
      process.exit(1);
    },
  });
  runner = stageRunner;
  logger.info(
    { healthPort: health.port, brokers: environment.brokers, prefix: environment.topicPrefix, workers },
    'starting',
  );
  // Stopped first: the batch in flight is finished, checkpointed and committed while the rest is open.
  shutdown.opened(() => stageRunner.stop());
  await shutdown.step(stageRunner.start());
  shutdown.running();
  options.onStarted?.({ stop: () => shutdown.stop(), healthPort: health.port });
}
