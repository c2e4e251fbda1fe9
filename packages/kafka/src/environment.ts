import { BadInput } from '@edgeguard/schema';

/**
 * Connection settings every Kafka-facing command and service reads, from the environment (a config
 * file's `kafka` section may override them): one place, one set of defaults.
 */
export interface KafkaEnvironment {
  /** `KAFKA_BROKERS`, comma-separated host:port (default `127.0.0.1:9092`). */
  brokers: string[];
  /** `REDIS_URL` (default `redis://127.0.0.1:6379`): checkpoints and the decision store. */
  redisUrl: string;
  /**
   * `EDGEGUARD_TOPIC_PREFIX` (default `edgeguard.`): prefixes every topic AND consumer group, so
   * several environments or test runs can share one cluster without seeing each other.
   */
  topicPrefix: string;
}

/** `host:port`, the port a whole number from 1 to 65535 (what kafkajs needs of a broker address). */
const BROKER = /^[^\s,]+:([0-9]{1,5})$/;

/**
 * The environment's connection settings. Throws `BadInput` naming KAFKA_BROKERS when it lists no
 * broker or an entry that is not `host:port` (kafkajs retried those until the startup timeout, with
 * `Port should be >= 0 and < 65536. Received type number (NaN).`).
 */
export function kafkaEnvironment(env: NodeJS.ProcessEnv = process.env): KafkaEnvironment {
  // Empty is unset (a compose file's `KAFKA_BROKERS=`): the default.
  const configured = env.KAFKA_BROKERS || '127.0.0.1:9092';
  const brokers = configured
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (brokers.length === 0)
    throw new BadInput('bad-config', 'KAFKA_BROKERS is empty: give host:port[,host:port…]', 'KAFKA_BROKERS');
  for (const broker of brokers) {
    const port = BROKER.exec(broker)?.[1];
    if (port === undefined || Number(port) < 1 || Number(port) > 65_535)
      throw new BadInput(
        'bad-config',
        `KAFKA_BROKERS: ${JSON.stringify(broker)} is not host:port (port 1 to 65535)`,
        'KAFKA_BROKERS',
      );
  }
  const topicPrefix = env.EDGEGUARD_TOPIC_PREFIX ?? 'edgeguard.';
  // Kafka's legal topic characters; the longest topic name (`content-partials`) must still fit.
  if (!/^[A-Za-z0-9._-]{0,200}$/.test(topicPrefix))
    throw new BadInput(
      'bad-config',
      `EDGEGUARD_TOPIC_PREFIX must be at most 200 of the characters Kafka allows in topic names (letters, digits, '.', '_', '-'), not ${JSON.stringify(topicPrefix)}`,
      'EDGEGUARD_TOPIC_PREFIX',
    );
  return {
    brokers,
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    topicPrefix,
  };
}

/**
 * Throws `BadInput` naming REDIS_URL when it is neither a `redis://` or `rediss://` URL (with a
 * port from 1 to 65535) nor a socket path: ioredis took `http://host:6379` for a socket path
 * and retried it until the startup timeout, and a bad port failed with a bare `Invalid URL`.
 * The password, if any, is not repeated.
 */
export function checkRedisUrl(url: string): void {
  if (url.startsWith('/')) return;
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  if (
    parsed !== null &&
    (parsed.protocol === 'redis:' || parsed.protocol === 'rediss:') &&
    parsed.hostname !== ''
  )
    return;
  // Everything before the last `@` may be credentials (a password may hold `/` and `@` itself).
  const at = url.lastIndexOf('@');
  const scheme = url.indexOf('//');
  const shown =
    at < 0 ? url : `${scheme >= 0 && scheme < at ? url.slice(0, scheme + 2) : ''}…${url.slice(at)}`;
  throw new BadInput(
    'bad-config',
    `REDIS_URL must be redis://[user:password@]host[:port][/db] (or rediss://…, or a socket path), not ${JSON.stringify(shown)}`,
    'REDIS_URL',
  );
}

/**
 * A URL for messages and logs, its secrets hidden: the password (`redis://user:secret@host` →
 * `redis://user:***@host`, one with `@` in it too) and query parameters that carry one
 * (`?password=`, which ioredis reads). `hidePath`: the user name, path and query too, for URLs whose path is
 * the secret (a Slack or Mattermost incoming webhook: `https://hooks.slack.com/services/T…/B…/X…`
 * → `https://hooks.slack.com/…`). Text that is not a URL is not echoed at all (`what` names it).
 */
export function redactUrl(url: string, options: { hidePath?: boolean; what?: string } = {}): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `(a ${options.what ?? 'REDIS_URL'} that is not a URL)`;
  }
  if (parsed.password) parsed.password = '***';
  if (options.hidePath) {
    const hidden = parsed.pathname !== '/' || parsed.search !== '' || parsed.hash !== '';
    // The user name too: such URLs carry a token there as often as in the password.
    const userinfo = parsed.username !== '' || parsed.password !== '' ? '***@' : '';
    return `${parsed.protocol}//${userinfo}${parsed.host}${hidden ? '/…' : '/'}`;
  }
  for (const name of [...parsed.searchParams.keys()])
    if (/pass|secret|token|auth/i.test(name)) parsed.searchParams.set(name, '***');
  return parsed.toString();
}
