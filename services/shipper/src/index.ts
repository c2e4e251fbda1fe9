import type { EdgeguardConfig } from '@edgeguard/config';
import {
  AccessLogProducer,
  createKafka,
  createProducer,
  type KafkaEnvironment,
  kafkaEnvironment,
  topicPartitions,
} from '@edgeguard/kafka';
import { createParser, followLogFile, openLogSource } from '@edgeguard/logformat';
import { TOPICS } from '@edgeguard/pipeline';
import { BadInput, RejectCounter } from '@edgeguard/schema';
import { createLogger, Metrics, startHealthServer } from '@edgeguard/telemetry';

export interface ShipOptions {
  /** A file (plain or gzip), or `-` for stdin. */
  input: string;
  config: EdgeguardConfig;
  /** Keep following the file (rotation and truncation handled) instead of exiting at its end. */
  follow?: boolean;
  /** With `follow`: start at the beginning of the file instead of its end. */
  fromStart?: boolean;
  /** Replay at most this many lines per second (0 or absent: as fast as the broker takes them). */
  rate?: number;
  environment?: KafkaEnvironment;
  signal?: AbortSignal;
  /** Called about once a second with progress. */
  onProgress?: (progress: ShipProgress) => void;
  /** Serve /healthz, /readyz, /metrics on this port (the long-running `run shipper`). */
  healthPort?: number;
}

export interface ShipProgress {
  lines: number;
  produced: number;
  rejected: number;
  linesPerSecond: number;
}

export interface ShipResult extends ShipProgress {
  rejects: RejectCounter;
  /** Event time of the newest record shipped (the end-of-input marker carries it). */
  lastEventTime: number | null;
}

/**
 * The shipper: reads an access log (file, gzip, stdin, or a followed file), parses it with the same
 * parsers and trusted-proxy rules as `replay`, and produces AccessLogs to `access-logs` keyed by
 * client address, in Avro batches. A one-shot run ends with an end-of-input marker on every
 * partition and resolves once the broker acknowledged everything. Bad lines are counted, never sent.
 */
export async function ship(options: ShipOptions): Promise<ShipResult> {
  const environment = options.environment ?? kafkaEnvironment();
  const logger = createLogger('shipper');
  const metrics = new Metrics('shipper');
  const linesCounter = metrics.counter('edgeguard_shipper_lines_total', 'log lines read');
  const rejectedCounter = metrics.counter('edgeguard_shipper_rejected_total', 'log lines rejected', [
    'reason',
  ]);
  const kafka = createKafka({ brokers: environment.brokers, clientId: 'edgeguard-shipper', logger });
  const admin = kafka.admin();
  await admin.connect();
  const partitions = (
    await topicPartitions(admin, environment.topicPrefix, [TOPICS.accessLogs]).finally(() =>
      admin.disconnect(),
    )
  )[TOPICS.accessLogs]!;
  const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const health =
    options.healthPort !== undefined
      ? await startHealthServer({ port: options.healthPort, metrics, ready: () => true })
      : null;
  const out = new AccessLogProducer({ producer, prefix: environment.topicPrefix, partitions });
  const { input, config } = options;
  const parser = createParser(config.input.format, {
    trustedProxies: config.input.trustedProxies,
    maxLineLength: config.input.maxLineLength,
    maxFieldLength: config.input.maxFieldLength,
  });
  const batches = options.follow
    ? followLogFile(input, {
        fromStart: options.fromStart,
        signal: options.signal,
        maxLineLength: config.input.maxLineLength,
      }).batches
    : openLogSource(input, { maxLineLength: config.input.maxLineLength }).batches();

  const rejects = new RejectCounter();
  const started = Date.now();
  let lines = 0;
  let lastEventTime: number | null = null;
  let lastProgress = started;
  const progress = (): ShipProgress => ({
    lines,
    produced: out.produced,
    rejected: rejects.total,
    linesPerSecond: Math.round(lines / Math.max((Date.now() - started) / 1000, 0.001)),
  });
  try {
    for await (const batch of batches) {
      for (const line of batch) {
        lines++;
        if (line.length === 0) continue;
        const record = parser.parse(line);
        if (record instanceof BadInput) {
          rejects.record(record, line, `${input}:${lines}`);
          rejectedCounter.inc({ reason: record.reason });
          continue;
        }
        if (lastEventTime === null || record.time > lastEventTime) lastEventTime = record.time;
        const wait = out.add(record);
        if (wait) await wait;
      }
      linesCounter.inc(batch.length);
      if (options.rate && options.rate > 0) {
        // Pace by wall clock: lines so far should have taken lines/rate seconds.
        const ahead = (lines / options.rate) * 1000 - (Date.now() - started);
        if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
      }
      if (options.follow) await out.flush(); // a followed file: ship what arrived, now
      if (Date.now() - lastProgress >= 1000) {
        lastProgress = Date.now();
        options.onProgress?.(progress());
      }
      if (options.signal?.aborted) break;
    }
    if (options.follow) await out.flush();
    else await out.end(lastEventTime ?? 0);
  } finally {
    await producer.disconnect();
    await health?.close();
  }
  const result = { ...progress(), rejects, lastEventTime };
  logger.info({ ...progress(), rejectedByReason: rejects.byReason() }, 'shipped');
  return result;
}
