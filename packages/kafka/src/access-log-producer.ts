import { partitionFor, TOPICS } from '@edgeguard/pipeline';
import { type AccessLog, accessLogBatchFingerprint, encodeAccessLogBatch } from '@edgeguard/schema';
import type { Message, Producer } from 'kafkajs';
import { HEADERS } from './codec.js';

export interface AccessLogProducerOptions {
  producer: Producer;
  prefix: string;
  partitions: number;
  /** Records per Kafka message (one Avro batch envelope). Default 500. */
  batchRecords?: number;
  /** Kafka messages per send request. Default 50. */
  messagesPerSend?: number;
  /** Name of this source in end-of-input markers. */
  source?: string;
}

/**
 * Produces AccessLogs to `access-logs`: records of one partition (chosen by client address, the
 * same function the in-process bus uses) are packed into Avro batch envelopes, because per-message
 * overhead, not Avro, bounds kafkajs throughput. `add` resolves only when the buffered data is
 * within bounds (it awaits acknowledgements when sends pile up), which is the backpressure.
 */
export class AccessLogProducer {
  private readonly buffers: AccessLog[][];
  private readonly ready: Message[][] = [];
  private readonly topic: string;
  private readonly batchRecords: number;
  private readonly messagesPerSend: number;
  private inFlight: Promise<void> = Promise.resolve();
  private queued = 0;
  produced = 0;

  constructor(private readonly options: AccessLogProducerOptions) {
    this.topic = options.prefix + TOPICS.accessLogs;
    this.batchRecords = options.batchRecords ?? 500;
    this.messagesPerSend = options.messagesPerSend ?? 50;
    this.buffers = Array.from({ length: options.partitions }, () => []);
  }

  /** Buffers one record; returns a promise only when the caller must wait (backpressure). */
  add(log: AccessLog): Promise<void> | undefined {
    const partition = partitionFor(log.clientAddress, this.options.partitions);
    const buffer = this.buffers[partition]!;
    buffer.push(log);
    if (buffer.length < this.batchRecords) return undefined;
    this.pack(partition);
    if (this.queued >= this.messagesPerSend) return this.sendQueued();
    return undefined;
  }

  private pack(partition: number): void {
    const buffer = this.buffers[partition]!;
    if (buffer.length === 0) return;
    const message: Message = {
      partition,
      key: null,
      value: encodeAccessLogBatch(buffer),
      timestamp: String(buffer[buffer.length - 1]!.time),
      headers: { [HEADERS.schema]: accessLogBatchFingerprint },
    };
    this.buffers[partition] = [];
    this.produced += buffer.length;
    const ready = this.ready[partition];
    if (ready) ready.push(message);
    else this.ready[partition] = [message];
    this.queued++;
  }

  /** At most one send in flight: the next waits for the previous acknowledgement (ordering per partition). */
  private sendQueued(): Promise<void> {
    const topicMessages = [{ topic: this.topic, messages: this.ready.flatMap((list) => list ?? []) }];
    this.ready.length = 0;
    this.queued = 0;
    const previous = this.inFlight;
    this.inFlight = previous.then(() =>
      this.options.producer.sendBatch({ acks: -1, topicMessages }).then(() => undefined),
    );
    return previous;
  }

  /** Sends everything buffered and waits for the broker to acknowledge all of it. */
  async flush(): Promise<void> {
    for (let p = 0; p < this.buffers.length; p++) this.pack(p);
    if (this.queued > 0) void this.sendQueued();
    await this.inFlight;
  }

  /**
   * Marks end of input on every partition (after a flush), so the stages downstream flush their
   * windows exactly as a replay does at end of file.
   */
  async end(eventTime: number): Promise<void> {
    await this.flush();
    const source = this.options.source ?? 'shipper';
    await this.options.producer.sendBatch({
      acks: -1,
      topicMessages: [
        {
          topic: this.topic,
          messages: this.buffers.map((_, partition) => ({
            partition,
            key: null,
            value: null,
            timestamp: String(eventTime),
            headers: { [HEADERS.control]: 'end', [HEADERS.source]: source, [HEADERS.sources]: '1' },
          })),
        },
      ],
    });
  }
}
