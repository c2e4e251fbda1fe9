import { formatGoDuration, parseDuration } from '@edgeguard/config';
import { DecisionStore } from '@edgeguard/decisions';
import {
  connectAdmin,
  createKafka,
  createProducer,
  decisionTarget,
  type KafkaEnvironment,
  kafkaEnvironment,
  manualDecision,
  partitionCount,
  publishDecisionDeletes,
  publishDecisions,
  redactUrl,
  startupTimeoutMs,
} from '@edgeguard/kafka';
import { TOPICS } from '@edgeguard/pipeline';
import { BadInput, type Decision, type DecisionScope } from '@edgeguard/schema';
import { createLogger } from '@edgeguard/telemetry';
import { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import { expectedAction, ONE_SHOT_LOG_LEVEL, parseCommandArgs } from '../args.js';
import { checkLogLevel } from '../log-level.js';

export const decisionsHelp = `Usage: edgeguard decisions add (--ip ADDR | --range CIDR | --fingerprint FP)
                              --action block|challenge|throttle --duration 4h --reason TEXT [--force]
       edgeguard decisions delete (--ip ADDR | --range CIDR | --fingerprint FP)
       edgeguard decisions list [--scope ip|range|fingerprint] [--json]

The operator's decisions, as 'cscli decisions' is for CrowdSec users.

add     produces a manual decision to the decisions topic and exits once the broker has it;
        the decider's store writer puts it in Redis, and every API, bouncer and edge agent
        following the blocklist gets it. A manual decision replaces an automatic one on the
        same key and is never replaced or removed by the decider; the allowlist still wins.
delete  produces a tombstone: the decision (manual or automatic) is removed everywhere. An
        automatic one comes back if the decider decides on that client again.
list    reads the current decisions from the Redis store: a table, or one JSON Decision per
        line with --json.

  --ip ADDR           one IPv4 or IPv6 address
  --range CIDR        a range, e.g. 198.51.100.0/24 or 2001:db8:1::/48; one with bits set after
                      its prefix length (192.0.2.5/16) is refused as a typo, and add refuses one
                      wider than an IPv4 /8 or an IPv6 /32 unless --force
  --fingerprint FP    a client fingerprint as edgeguard's decisions show it (h1:…, ja4:…; a key
                      copied whole, fp:h1:…, names the same fingerprint)
  --force             add: allow a range wider than an IPv4 /8 or an IPv6 /32
  --action ACTION     block, challenge or throttle
  --duration D        how long it applies: 30m, 4h, 7d, 1h30m (at most 366d)
  --reason TEXT       why, in a few words (shown to bouncers as edgeguard/<reason>)
  --scope SCOPE       list only ip, range or fingerprint decisions
  --json              list as JSON lines

Environment: KAFKA_BROKERS, REDIS_URL, EDGEGUARD_TOPIC_PREFIX (topics and the store's keys).
Exit codes: 0 done, 1 Kafka or Redis failed, 2 bad usage or input.
`;

/** A duration flag with a unit (a bare number would silently be milliseconds). */
export function durationFlag(text: string, flag: string): number {
  const ms = parseDuration(text, flag, { unitRequired: true });
  // Said here in the operator's words: the shared check counts milliseconds (the API's unit).
  if (ms < 1) throw new BadInput('bad-usage', `${flag}: must be longer than 0, got '${text}'`);
  return ms;
}

/**
 * Connects a producer, runs `work` and disconnects. Topics are checked first, so a missing one is
 * a clear error naming `edgeguard topics ensure`; `work` gets the partition counts.
 */
export async function withProducer<T>(
  env: KafkaEnvironment,
  command: string,
  topic: string,
  work: (producer: Producer, partitions: number) => Promise<T>,
): Promise<T> {
  const kafka = createKafka({
    brokers: env.brokers,
    clientId: `edgeguard-${command}`,
    logger: createLogger(command, {}, ONE_SHOT_LOG_LEVEL),
    // An operator waits at the prompt: fail within seconds when the broker is not there.
    config: { retry: { initialRetryTime: 300, retries: 3 }, connectionTimeout: 3000 },
  });
  const partitions = await partitionCount(kafka, env.topicPrefix, topic, (admin) =>
    connectAdmin(admin, env.brokers, startupTimeoutMs()),
  );
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    return await work(producer, partitions);
  } finally {
    await producer.disconnect();
  }
}

/** Opens the Redis decision store of this deployment; a clear error when Redis does not answer. */
/**
 * Runs `work` on a Redis connection for a one-shot command: no reconnect loop (an unreachable Redis
 * is one clear error, exit 1, not a hang), the URL shown without its password.
 */
export async function withRedis<T>(env: KafkaEnvironment, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(env.redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    connectTimeout: 3000,
  });
  // Reported by the failing command below. With no retries, ioredis rejects connect() with only
  // "Connection is closed."; the socket's own error (ECONNREFUSED, ENOTFOUND…) says why.
  let cause: Error | undefined;
  redis.on('error', (error: Error) => {
    cause ??= error;
  });
  try {
    await redis.connect();
  } catch (error) {
    const why = cause?.message || (error as Error).message;
    throw new Error(`Redis unreachable at ${redactUrl(env.redisUrl)}: ${why}`);
  }
  try {
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

export function withStore<T>(env: KafkaEnvironment, work: (store: DecisionStore) => Promise<T>): Promise<T> {
  return withRedis(env, (redis) => work(new DecisionStore({ redis, prefix: env.topicPrefix })));
}

function remaining(expiresAt: number, now: number): string {
  return formatGoDuration(Math.max(0, expiresAt - now)).replace(/\.\d+s$/, 's');
}

export async function decisionsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'decisions',
    argv,
    {
      ip: { type: 'string' },
      range: { type: 'string' },
      fingerprint: { type: 'string' },
      action: { type: 'string' },
      duration: { type: 'string' },
      reason: { type: 'string' },
      scope: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    1,
  );
  if (values.help) {
    process.stdout.write(decisionsHelp);
    return 0;
  }
  checkLogLevel();
  const env = kafkaEnvironment();
  const usage = (message: string) => new BadInput('bad-usage', message);
  const target = { ip: values.ip, range: values.range, fingerprint: values.fingerprint };
  switch (positionals[0]) {
    case 'add': {
      for (const flag of ['action', 'duration', 'reason'] as const) {
        if (values[flag] === undefined) throw usage(`add needs --${flag}`);
      }
      const decision = manualDecision({
        ...target,
        action: values.action!,
        duration: durationFlag(values.duration!, '--duration'),
        reason: values.reason!,
        force: values.force === true,
      });
      await withProducer(env, 'decisions', TOPICS.decisions, (producer, partitions) =>
        publishDecisions(producer, env.topicPrefix, [decision], { partitions }),
      );
      process.stdout.write(
        `added ${decision.key}: ${decision.action} for ${formatGoDuration(decision.expiresAt - decision.decidedAt)} ` +
          `(until ${new Date(decision.expiresAt).toISOString()}), reason '${decision.reason}', version ${decision.version}\n`,
      );
      return 0;
    }
    case 'delete': {
      const { key } = decisionTarget(target);
      await withProducer(env, 'decisions', TOPICS.decisions, (producer, partitions) =>
        publishDecisionDeletes(producer, env.topicPrefix, [key], { partitions }),
      );
      process.stdout.write(`deleted ${key}\n`);
      return 0;
    }
    case 'list': {
      const scope = values.scope;
      if (scope !== undefined && !['ip', 'range', 'fingerprint'].includes(scope)) {
        throw usage(`--scope: expected ip, range or fingerprint, got '${scope}'`);
      }
      return withStore(env, (store) =>
        listDecisions(store, scope as DecisionScope | undefined, values.json === true),
      );
    }
    default:
      throw usage(expectedAction(['add', 'delete', 'list'], positionals[0]));
  }
}

/** Streams the store page by page: a blocklist of any size is listed holding one page at a time. */
async function listDecisions(
  store: DecisionStore,
  scope: DecisionScope | undefined,
  json: boolean,
): Promise<number> {
  const now = Date.now();
  let count = 0;
  const row = (d: Decision) =>
    `${d.key.padEnd(44)} ${d.action.padEnd(9)} ${d.origin.padEnd(6)} ${remaining(d.expiresAt, now).padStart(12)}  ${d.reason}\n`;
  if (!json)
    process.stdout.write(
      `${'key'.padEnd(44)} ${'action'.padEnd(9)} origin ${'expires in'.padStart(12)}  reason\n`,
    );
  for await (const decision of store.list(scope ? { scope } : {})) {
    process.stdout.write(json ? `${JSON.stringify(decision)}\n` : row(decision));
    count++;
  }
  if (!json) process.stdout.write(`${count} decision(s)\n`);
  return 0;
}
