#!/usr/bin/env node
// The stage runner's task hosts without Kafka: the profiler stage over pre-encoded access-log
// batches, on the calling thread (InlineTasks) against worker threads (StagePool), A/B in one
// process, alternating. Shows what running the tasks in workers costs (bytes across threads, a
// second isolate) and gives back (parallel stages), steadier than the broker benchmark.
//
//   node bench/stage-workers.mjs          # BENCH_LINES (default 300k) of the generated log
//   BENCH_VARIANTS='0 1 2' BENCH_REPEAT=3 # worker counts to compare (0 = inline), rounds
//
// Input: the log parsed, split into 6 partitions by client as the shipper does, 500 records per
// Avro envelope (a Kafka message), 2 MB per batch (the runner's maxBytesPerPartition). Every
// partition's batches are handed over in order with one batch in flight per partition, as the
// runner does; outputs are decoded on the calling thread as the runner's producer would take them.
// Each variant first runs the whole input untimed (JIT warm-up of its threads), then again timed.
// CPU is process.cpuUsage() (all threads), per input event. Output size: bytes of the record-batch
// messages (`signals`, `content-partials`) per message and per record (records counted in the
// untimed pass). BENCH_ROOT=<other checkout, built> measures that build with this script.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = process.env.BENCH_ROOT ?? join(here, '..');
const load = (path) => import(pathToFileURL(join(root, path)).href);
const { createParser } = await load('packages/logformat/dist/index.js');
const { partitionFor } = await load('packages/pipeline/dist/index.js');
const { accessLogBatchFingerprint } = await load('packages/schema/dist/index.js');
const { encodeAccessLogBatchFast } = await load('packages/kafka/dist/access-log-encoder.js');
const { InlineTasks } = await load('packages/kafka/dist/stage-task.js');
const { StagePool } = await load('packages/kafka/dist/stage-pool.js');
const { topologyStage } = await load('packages/kafka/dist/topology-stage.js');
const { decodeRecordBatch, isRecordBatch } = await load('packages/kafka/dist/codec.js');
const { loadConfig } = await load('packages/config/dist/index.js');

const lines = Number(process.env.BENCH_LINES ?? 300_000);
const partitions = 6;
const logPath = join(here, 'out', 'bench-1000000-100000.log');
const parser = createParser('combined');
const byPartition = Array.from({ length: partitions }, () => []);
let count = 0;
for (const line of readFileSync(logPath, 'utf8').split('\n')) {
  if (count >= lines) break;
  const record = parser.parse(line);
  if (!record || record.constructor?.name === 'BadInput' || record.clientAddress === undefined) continue;
  byPartition[partitionFor(record.clientAddress, partitions)].push(record);
  count++;
}
// Per partition: batches (≤ 2 MB) of messages (500 records).
let offset = 0;
const batches = byPartition.map((records) => {
  const out = [];
  let batch = [];
  let bytes = 0;
  for (let i = 0; i < records.length; i += 500) {
    const chunk = records.slice(i, i + 500);
    const value = encodeAccessLogBatchFast(chunk);
    if (bytes + value.length > 2 * 1024 * 1024 && batch.length > 0) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push({
      offset: String(offset++),
      timestamp: '0',
      key: null,
      value,
      headers: {
        'eg-schema': Buffer.from(accessLogBatchFingerprint),
        'eg-time': Buffer.from(String(chunk.at(-1).time)),
      },
    });
    bytes += value.length;
  }
  if (batch.length > 0) out.push(batch);
  return out;
});

const args = {
  name: 'profiler',
  options: { detect: loadConfig().detect, allowlist: [] },
  accessLogPartitions: partitions,
};
const settings = {
  stageName: 'profiler',
  prefix: 'bench.',
  partitions: { 'access-logs': partitions, 'content-partials': partitions, signals: 1 },
  outputs: ['content-partials', 'signals'],
  sources: partitions,
};
const recipe = {
  module: pathToFileURL(join(root, 'packages/kafka/dist/topology-stage.js')).href,
  export: 'topologyStage',
  args,
};

/**
 * Every partition's batches through `host`, tasks `firstId`..: one batch in flight per partition.
 * `countRecords` decodes the record-batch outputs to count their records (untimed pass only).
 */
async function drain(host, firstId, countRecords = false) {
  for (let p = 0; p < partitions; p++) await host.open(firstId + p, p, null);
  const totals = { outputs: 0, batchMessages: 0, batchBytes: 0, batchRecords: 0 };
  await Promise.all(
    batches.map(async (list, p) => {
      for (const batch of list) {
        const outcome = await host.process(firstId + p, 'access-logs', batch, () => true);
        totals.outputs += outcome.outputs.length;
        for (const { message } of outcome.outputs) {
          if (!isRecordBatch(message.headers) || message.value === null) continue;
          totals.batchMessages++;
          totals.batchBytes += message.value.length;
          if (countRecords) totals.batchRecords += decodeRecordBatch(message.value, message.headers).length;
        }
      }
    }),
  );
  for (let p = 0; p < partitions; p++) host.drop(firstId + p);
  return totals;
}

/**
 * One variant: a first pass warms its threads up (each worker compiles the stage on its own, as a
 * long-running service has long done), the second, on fresh tasks, is measured.
 */
async function runOnce(workers) {
  const host =
    workers === 0
      ? new InlineTasks(topologyStage(args), settings)
      : new StagePool(workers, { recipe, settings }, () => undefined);
  const { batchRecords } = await drain(host, 1, true);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const { outputs, batchMessages, batchBytes } = await drain(host, 1 + partitions);
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await host.close();
  return {
    workers,
    eventsPerSecond: Math.round(count / seconds),
    cpuMicrosPerEvent: (used.user + used.system) / count,
    outputs,
    bytesPerBatchMessage: Math.round(batchBytes / batchMessages),
    bytesPerRecord: Math.round(batchBytes / batchRecords),
  };
}

const variants = (process.env.BENCH_VARIANTS ?? '0 1 2').split(' ').map(Number);
const rounds = Number(process.env.BENCH_REPEAT ?? 3);
console.log(
  `${count} events, ${batches.flat().length} batches, ${os.cpus()[0]?.model}, load ${os.loadavg()[0].toFixed(2)}`,
);
for (let round = 0; round < rounds; round++)
  for (const workers of variants) {
    const r = await runOnce(workers);
    console.log(
      `${(workers === 0 ? 'inline' : `${workers} workers`).padEnd(10)} ${r.eventsPerSecond.toLocaleString().padStart(9)} events/s  ${r.cpuMicrosPerEvent.toFixed(2)} µs CPU/event  ${r.bytesPerRecord} B/record ${r.bytesPerBatchMessage} B/message  load ${os.loadavg()[0].toFixed(2)}`,
    );
  }
