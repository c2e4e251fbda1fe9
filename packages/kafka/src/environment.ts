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

export function kafkaEnvironment(env: NodeJS.ProcessEnv = process.env): KafkaEnvironment {
  const brokers = (env.KAFKA_BROKERS || '127.0.0.1:9092')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  // Checked here, named: kafkajs takes 'localhost' (no port) or ':abc' and retries it until the
  // startup timeout, which then says only that the broker did not answer.
  const bad = brokers.find((b) => !/^[^\s:]+:\d{1,5}$/.test(b));
  if (brokers.length === 0 || bad !== undefined)
    throw new BadInput(
      'bad-config',
      `KAFKA_BROKERS: expected host:port[,host:port...], got ${JSON.stringify(bad ?? env.KAFKA_BROKERS)}`,
      'KAFKA_BROKERS',
    );
  const topicPrefix = env.EDGEGUARD_TOPIC_PREFIX ?? 'edgeguard.';
  // Kafka's topic names (and so every edgeguard topic) are letters, digits, '.', '_' and '-'.
  if (!/^[A-Za-z0-9._-]*$/.test(topicPrefix))
    throw new BadInput(
      'bad-config',
      `EDGEGUARD_TOPIC_PREFIX: a topic name holds only letters, digits, '.', '_' and '-', got ${JSON.stringify(topicPrefix)}`,
      'EDGEGUARD_TOPIC_PREFIX',
    );
  return {
    brokers,
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    topicPrefix,
  };
}
