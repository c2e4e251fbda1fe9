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
  return {
    brokers: (env.KAFKA_BROKERS ?? '127.0.0.1:9092')
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    topicPrefix: env.EDGEGUARD_TOPIC_PREFIX ?? 'edgeguard.',
  };
}
