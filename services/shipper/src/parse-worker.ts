// A shipper parse worker (worker_threads): chunks of whole log lines in, Avro batch envelopes per
// partition out, as one transferred ArrayBuffer per chunk. See parse-pool.ts.
import { parentPort } from 'node:worker_threads';
// The encoder alone: the package's index would load kafkajs and the rest in every worker.
import { appendAccessLogBatch } from '@edgeguard/kafka/access-log-encoder';
import { createParser, type LineParser, splitLines } from '@edgeguard/logformat';
import { partitionFor } from '@edgeguard/pipeline';
import { type AccessLog, BadInput } from '@edgeguard/schema';
import { only } from './chunks.js';
import type { ChunkRequest, ChunkResult, ParseWorkerData, WireFieldCuts, WireReject } from './parse-pool.js';

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

/** RejectCounter and FieldCutCounter keep a 200-character excerpt; the rest need not cross threads. */
function excerpt(line: string): string {
  return line.length > 256 ? line.slice(0, 256) : line;
}

async function parseChunk(request: ChunkRequest): Promise<{ result: ChunkResult; transfer: ArrayBuffer[] }> {
  const bytes = Buffer.from(request.chunk, 0, request.length);
  const byPartition: AccessLog[][] = Array.from({ length: settings.partitions }, () => []);
  const rejects: WireReject[] = [];
  const fieldCuts: WireFieldCuts[] = [];
  let lines = 0;
  const times: number[] = [];
  // One chunk of whole lines: splitLines yields it as one batch (two when it lacks a final newline).
  for await (const batch of splitLines(only(bytes), settings.maxLineBytes)) {
    const plain = batch.plain === true;
    for (const line of batch) {
      const index = lines++;
      if (line.length === 0) continue;
      const record = parser.parse(line, undefined, plain);
      if (record instanceof BadInput) {
        rejects.push({
          index,
          reason: record.reason,
          message: record.message,
          field: record.field,
          line: excerpt(line),
        });
        continue;
      }
      if (parser.fieldCuts.length > 0) fieldCuts.push({ index, cuts: parser.fieldCuts, line: excerpt(line) });
      times.push(record.time);
      byPartition[partitionFor(record.clientAddress, settings.partitions)]!.push(record);
    }
  }
  // Each partition's records in envelopes of at most batchRecords, split evenly, written back to
  // back into one buffer (about the chunk's size: Avro is about as long as the log text).
  let out: Buffer = Buffer.allocUnsafeSlow(request.length + 64 * 1024);
  let total = 0;
  const meta: number[] = [];
  const encode = (partition: number, slice: AccessLog[]): void => {
    const written = appendAccessLogBatch(slice, out, total);
    out = written.buffer;
    // Long lines make big envelopes: halve until one fits a request (the broker's limit is per
    // record batch, 1 MiB by default).
    if (written.end - total > settings.maxMessageBytes && slice.length > 1) {
      const half = Math.ceil(slice.length / 2);
      encode(partition, slice.slice(0, half));
      encode(partition, slice.slice(half));
      return;
    }
    meta.push(partition, total, written.end - total, slice.length, slice[slice.length - 1]!.time);
    total = written.end;
  };
  for (let partition = 0; partition < byPartition.length; partition++) {
    const records = byPartition[partition]!;
    if (records.length === 0) continue;
    const pieces = Math.ceil(records.length / settings.batchRecords);
    const size = Math.ceil(records.length / pieces);
    for (let start = 0; start < records.length; start += size)
      encode(partition, records.slice(start, start + size));
  }
  const messages = new Float64Array(meta);
  const recordTimes = new Float64Array(times);
  return {
    result: {
      seq: request.seq,
      lines,
      times: recordTimes,
      chunk: request.chunk,
      chunkLength: request.length,
      values: out.buffer as ArrayBuffer,
      messages,
      rejects,
      fieldCuts,
    },
    transfer: [
      out.buffer as ArrayBuffer,
      messages.buffer as ArrayBuffer,
      recordTimes.buffer as ArrayBuffer,
      request.chunk,
    ],
  };
}
