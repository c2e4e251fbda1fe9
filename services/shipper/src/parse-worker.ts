// A shipper parse worker (worker_threads): chunks of whole log lines in, Avro batch envelopes per
// partition out, as one transferred ArrayBuffer per chunk. See parse-pool.ts.
import { parentPort } from 'node:worker_threads';
// The encoder alone: the package's index would load kafkajs and the rest in every worker.
import { encodeAccessLogBatchFast } from '@edgeguard/kafka/access-log-encoder';
import { createParser, type LineParser, splitLines } from '@edgeguard/logformat';
import { partitionFor } from '@edgeguard/pipeline';
import { type AccessLog, BadInput } from '@edgeguard/schema';
import { only } from './chunks.js';
import type { ChunkRequest, ChunkResult, ParseWorkerData, WireReject } from './parse-pool.js';

let settings: ParseWorkerData;
let parser: LineParser;
const port = parentPort!;

// In order: the settings (ParsePool.start), then chunks, with a settled format maybe in between.
port.on('message', (request: ChunkRequest | { settings: ParseWorkerData } | { format: string }) => {
  if ('settings' in request) {
    settings = request.settings;
    parser = createParser(settings.format, settings.parser);
    return;
  }
  if ('format' in request) {
    parser = createParser(request.format, settings.parser);
    return;
  }
  parseChunk(request).then(
    ({ result, transfer }) => port.postMessage(result, transfer),
    (error: Error) => port.postMessage({ seq: request.seq, error: error.stack ?? String(error) }),
  );
});

async function parseChunk(request: ChunkRequest): Promise<{ result: ChunkResult; transfer: ArrayBuffer[] }> {
  const bytes = Buffer.from(request.chunk, 0, request.length);
  const byPartition: AccessLog[][] = Array.from({ length: settings.partitions }, () => []);
  const rejects: WireReject[] = [];
  let lines = 0;
  let maxTime = Number.NEGATIVE_INFINITY;
  // One chunk of whole lines: splitLines yields it as one batch (two when it lacks a final newline).
  for await (const batch of splitLines(only(bytes), settings.maxLineBytes)) {
    for (const line of batch) {
      const index = lines++;
      if (line.length === 0) continue;
      const record = parser.parse(line);
      if (record instanceof BadInput) {
        rejects.push({
          index,
          reason: record.reason,
          message: record.message,
          field: record.field,
          // RejectCounter keeps a 200-character excerpt; the rest need not cross threads.
          line: line.length > 256 ? line.slice(0, 256) : line,
        });
        continue;
      }
      if (record.time > maxTime) maxTime = record.time;
      byPartition[partitionFor(record.clientAddress, settings.partitions)]!.push(record);
    }
  }
  // Each partition's records in envelopes of at most batchRecords, split evenly.
  const values: Buffer[] = [];
  const meta: number[] = [];
  let total = 0;
  for (let partition = 0; partition < byPartition.length; partition++) {
    const records = byPartition[partition]!;
    if (records.length === 0) continue;
    const pieces = Math.ceil(records.length / settings.batchRecords);
    const size = Math.ceil(records.length / pieces);
    for (let start = 0; start < records.length; start += size) encode(records.slice(start, start + size));
    function encode(slice: AccessLog[]): void {
      const value = encodeAccessLogBatchFast(slice);
      // Long lines make big envelopes: halve until one fits a request (the broker's limit is
      // per record batch, 1 MiB by default).
      if (value.length > settings.maxMessageBytes && slice.length > 1) {
        const half = Math.ceil(slice.length / 2);
        encode(slice.slice(0, half));
        encode(slice.slice(half));
        return;
      }
      meta.push(partition, total, value.length, slice.length, slice[slice.length - 1]!.time);
      values.push(value);
      total += value.length;
    }
  }
  const out = new ArrayBuffer(total);
  const view = new Uint8Array(out);
  let at = 0;
  for (const value of values) {
    view.set(value, at);
    at += value.length;
  }
  const messages = new Float64Array(meta);
  return {
    result: {
      seq: request.seq,
      lines,
      maxTime: maxTime === Number.NEGATIVE_INFINITY ? null : maxTime,
      values: out,
      messages,
      rejects,
    },
    transfer: [out, messages.buffer as ArrayBuffer],
  };
}
