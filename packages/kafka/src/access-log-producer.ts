import { partitionFor, TOPICS } from '@edgeguard/pipeline';
import { type AccessLog, accessLogBatchFingerprint } from '@edgeguard/schema';
import type { Message, Producer } from 'kafkajs';
import { encodeAccessLogBatchFast } from './access-log-encoder.js';
import { HEADERS } from './codec.js';

export interface AccessLogProducerOptions {
  producer: Producer;
  prefix: string;
  partitions: number;
  /** Records per Kafka message (one Avro batch envelope). Default 500. */
  batchRecords?: number;
  /**
   * Bytes per send request (default 768 KiB). The broker refuses a request whose record batch for
   * one partition exceeds `message.max.bytes` (1 MiB by default), and in the worst case all
   * queued messages belong to one partition, so the whole request stays under it.
   */
  maxSendBytes?: number;
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
  /** Records per envelope (what `add` packs; what a worker encoding for `addEncoded` should). */
  readonly batchRecords: number;
  /** Bytes per send request. */
  readonly maxSendBytes: number;
  private inFlight: Promise<void> = Promise.resolve();
  private queuedBytes = 0;
  private failure: Error | null = null;
  produced = 0;

  constructor(private readonly options: AccessLogProducerOptions) {
    this.topic = options.prefix + TOPICS.accessLogs;
    this.batchRecords = options.batchRecords ?? 500;
    this.maxSendBytes = options.maxSendBytes ?? 768 * 1024;
    this.buffers = Array.from({ length: options.partitions }, () => []);
  }

  /** Buffers one record; returns a promise only when the caller must wait (backpressure). */
  add(log: AccessLog): Promise<void> | undefined {
    const partition = partitionFor(log.clientAddress, this.options.partitions);
    const buffer = this.buffers[partition]!;
    buffer.push(log);
    if (buffer.length < this.batchRecords) return undefined;
    return this.pack(partition);
  }

  /**
   * Queues one Avro batch envelope already encoded (by `encodeAccessLogBatchFast`, e.g. in a worker
   * thread) for `partition`: `records` records, the last of event time `lastEventTime`. Records
   * buffered by `add` for that partition go first, so the partition's order is kept. Returns a
   * promise only when the caller must wait (backpressure), as `add` does.
   */
  addEncoded(
    partition: number,
    value: Buffer,
    records: number,
    lastEventTime: number,
  ): Promise<void> | undefined {
    if (!(partition >= 0 && partition < this.buffers.length))
      throw new RangeError(`partition ${partition} is not one of 0..${this.buffers.length - 1}`);
    const packed = this.pack(partition);
    return both(packed, this.enqueue(partition, value, records, lastEventTime));
  }

  /** Packs a partition's buffered records; a promise when the caller must wait (backpressure). */
  private pack(partition: number): Promise<void> | undefined {
    const buffer = this.buffers[partition]!;
    if (buffer.length === 0) return undefined;
    this.buffers[partition] = [];
    return this.packRecords(partition, buffer);
  }

  /** Long lines make big envelopes: halved until each fits one send request (the broker refuses a
   *  record batch over message.max.bytes, and the whole shipment would stop). */
  private packRecords(partition: number, records: AccessLog[]): Promise<void> | undefined {
    const value = encodeAccessLogBatchFast(records);
    if (value.length > this.maxSendBytes && records.length > 1) {
      const half = Math.ceil(records.length / 2);
      const first = this.packRecords(partition, records.slice(0, half));
      return both(first, this.packRecords(partition, records.slice(half)));
    }
    return this.enqueue(partition, value, records.length, records[records.length - 1]!.time);
  }

  /**
   * Queues one envelope. When it would take the queue past a request, what is queued is sent
   * first, and the previous send is returned for the caller to await: at most one request in
   * flight and one queued, however fast the input is read.
   */
  private enqueue(
    partition: number,
    value: Buffer,
    records: number,
    lastEventTime: number,
  ): Promise<void> | undefined {
    let wait: Promise<void> | undefined;
    if (this.queuedBytes + value.length > this.maxSendBytes && this.queuedBytes > 0) wait = this.sendQueued();
    const message: Message = {
      partition,
      key: null,
      value,
      headers: {
        [HEADERS.schema]: accessLogBatchFingerprint,
        [HEADERS.eventTime]: String(lastEventTime),
      },
    };
    this.produced += records;
    const ready = this.ready[partition];
    if (ready) ready.push(message);
    else this.ready[partition] = [message];
    this.queuedBytes += value.length;
    return wait;
  }

  /**
   * At most one send in flight: the next waits for the previous acknowledgement (ordering per
   * partition). Returns the previous send, which is what a caller must wait for (backpressure).
   * A failed send is remembered and thrown by the next call, never left unhandled.
   */
  private sendQueued(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const topicMessages = [{ topic: this.topic, messages: this.ready.flatMap((list) => list ?? []) }];
    this.ready.length = 0;
    this.queuedBytes = 0;
    const previous = this.inFlight;
    this.inFlight = previous
      .then(() => this.options.producer.sendBatch({ acks: -1, topicMessages }))
      .then(
        () => undefined,
        (error: Error) => {
          this.failure ??= error;
        },
      );
    return previous.then(() => {
      if (this.failure) throw this.failure;
    });
  }

  /** Sends everything buffered and waits for the broker to acknowledge all of it. */
  async flush(): Promise<void> {
    for (let p = 0; p < this.buffers.length; p++) await this.pack(p);
    if (this.queuedBytes > 0) void this.sendQueued().catch(() => undefined);
    await this.inFlight;
    if (this.failure) throw this.failure;
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
            headers: {
              [HEADERS.eventTime]: String(eventTime),
              [HEADERS.control]: 'end',
              [HEADERS.source]: source,
              [HEADERS.sources]: '1',
            },
          })),
        },
      ],
    });
  }
}

/** Waits for both (either may be absent); neither rejection is left unhandled. */
function both(a: Promise<void> | undefined, b: Promise<void> | undefined): Promise<void> | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Promise.all([a, b]).then(() => undefined);
}
