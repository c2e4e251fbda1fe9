import kafkajs, {
  type Admin,
  type Kafka,
  type KafkaConfig,
  type Producer,
  type ProducerConfig,
} from 'kafkajs';

// kafkajs is CommonJS: its runtime values come through the default export under ESM.
const { logLevel } = kafkajs;

import type { Logger } from '@edgeguard/telemetry';
import { installKafkajsProduceEncoder } from './produce-encoder.js';

/**
 * The last connection error kafkajs logged per broker list (`KAFKA_BROKERS` as given): kafkajs
 * retries a refused connection for minutes before `connect()` rejects, so connectAdmin's timeout
 * takes the cause from here ("connect ECONNREFUSED 127.0.0.1:1") rather than saying only that the
 * broker did not answer — a one-shot command logs nothing else by default.
 */
const lastConnectionErrors = new Map<string, string>();

/**
 * Builds the kafkajs client with its log bridged into pino. kafkajs is frozen upstream (2.2.4), so
 * it stays behind this package: the rest of edgeguard sees Bus, Stage and the commands only.
 */
export function createKafka(options: {
  brokers: string[];
  clientId: string;
  logger: Logger;
  config?: Partial<KafkaConfig>;
}): Kafka {
  // Before kafkajs loads its produce request and record-batch encoders (lazily, at the first
  // produce or fetch): our produce request writer and CRC-32C (see produce-encoder.ts).
  installKafkajsProduceEncoder();
  const toPino: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
    [logLevel.ERROR]: 'error',
    [logLevel.WARN]: 'warn',
    [logLevel.INFO]: 'info',
    [logLevel.DEBUG]: 'debug',
  };
  const kafkaLogger = options.logger.child({ component: 'kafkajs' });
  const brokers = options.brokers.join(',');
  return new kafkajs.Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log }) => {
        // kafkajs attaches the stack of every socket error (a broker down or misnamed is logged
        // with `at TCPConnectWrap.afterConnect …` each retry): kept for EDGEGUARD_DEBUG=1 only.
        const { message, stack, ...extra } = log;
        if (level === logLevel.ERROR && namespace === 'Connection')
          lastConnectionErrors.set(brokers, message);
        const debug = process.env.EDGEGUARD_DEBUG ? { stack } : {};
        kafkaLogger[toPino[level] ?? 'info']({ namespace, ...extra, ...debug }, message);
      },
    retry: { initialRetryTime: 300, retries: 10 },
    ...options.config,
  });
}

/**
 * A producer with the Java-compatible default partitioner made explicit (edgeguard sets partitions
 * itself for its own topics; this only matters for keyed sends without one, and silences kafkajs'
 * v2 partitioner warning).
 */
export function createProducer(kafka: Kafka, config: ProducerConfig = {}): Producer {
  return kafka.producer({
    createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    // An idempotent producer wants unlimited retries (kafkajs warns otherwise): a broker outage
    // then means waiting and reconnecting, never dropping or reordering a batch.
    ...(config.idempotent ? { retry: { retries: Number.MAX_SAFE_INTEGER, maxRetryTime: 5_000 } } : {}),
    ...config,
  });
}

/** `work`, or an Error saying `what` did not answer within `ms` (with the last error seen). */
export async function within<T>(
  ms: number,
  work: Promise<T>,
  what: string,
  lastError: () => string | undefined,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const last = lastError();
      reject(
        new Error(`${what} did not answer within ${ms / 1000} s${last ? ` (last error: ${last})` : ''}`),
      );
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(message.startsWith(what) ? message : `${what}: ${message}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Connects `admin` within `ms` (callers pass EDGEGUARD_STARTUP_TIMEOUT_MS, `startupTimeoutMs()`), or one Error naming the
 * brokers and KAFKA_BROKERS: a one-shot command or the shipper waiting at the prompt for kafkajs'
 * ~2 minutes of retries, to end with a bare socket error, was the alternative.
 */
export function connectAdmin(admin: Admin, brokers: string[], ms: number): Promise<void> {
  let last: string | undefined;
  // Only this attempt's errors: an earlier one's (a broker that refused then, hangs now) misled.
  lastConnectionErrors.delete(brokers.join(','));
  return within(
    ms,
    admin.connect().catch((error: Error) => {
      last = error.message;
      throw error;
    }),
    `Kafka at ${brokers.join(',')} (KAFKA_BROKERS)`,
    () => last ?? lastConnectionErrors.get(brokers.join(',')),
  );
}
