#!/usr/bin/env node
// Decode cost of `access-logs` batches, µs per record: this checkout's decodeAccessLogMessage
// against another build's (BENCH_BASE=<checkout>, e.g. a worktree of main), alternating rounds.
// The batches are what the shipper sends for the bench log (bench/out/bench-1000000-100000.log,
// made by `npm run bench`): combined lines parsed, 6 partitions by client, 500 records a batch.
// BENCH_CHECK=1 also checks every decoded record deep-equal (same class, same values) to avsc's.
//   BENCH_BASE=../wt-base BENCH_ROUNDS=6 node bench/avro-decode.mjs
import assert from 'node:assert/strict';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createParser, openLogSource } from '@edgeguard/logformat';
import { partitionFor } from '@edgeguard/pipeline';
import * as schema from '@edgeguard/schema';

const here = dirname(fileURLToPath(import.meta.url));
const logPath = process.env.BENCH_LOG ?? join(here, 'out', 'bench-1000000-100000.log');
const rounds = Number(process.env.BENCH_ROUNDS ?? 6);
const partitions = 6;
const batchRecords = 500;

const parser = createParser('combined');
const open = Array.from({ length: partitions }, () => []);
const batches = [];
let records = 0;
for await (const lines of openLogSource(logPath).batches()) {
  for (const line of lines) {
    const record = parser.parse(line);
    if (schema.isBadInput(record)) continue;
    const buffer = open[partitionFor(record.clientAddress, partitions)];
    buffer.push(record);
    records++;
    if (buffer.length === batchRecords) batches.push(schema.encodeAccessLogBatch(buffer.splice(0)));
  }
}
for (const buffer of open) if (buffer.length) batches.push(schema.encodeAccessLogBatch(buffer));
const bytes = batches.reduce((n, b) => n + b.length, 0);
console.log(
  `${records.toLocaleString()} records in ${batches.length} batches (${(bytes / 2 ** 20).toFixed(0)} MiB)`,
);

if (process.env.BENCH_CHECK === '1') {
  const avsc = schema.accessLogBatchFormat.batchType;
  for (const [i, batch] of batches.entries())
    assert.deepStrictEqual(
      schema.decodeAccessLogMessage(batch, schema.accessLogBatchFingerprint),
      avsc.fromBuffer(batch).records,
      `batch ${i}`,
    );
  console.log('check: every record deep-equal to avsc');
}

const variants = [{ label: 'new', decode: schema.decodeAccessLogMessage }];
if (process.env.BENCH_BASE) {
  const base = await import(
    pathToFileURL(resolve(process.env.BENCH_BASE, 'packages/schema/dist/index.js')).href
  );
  variants.unshift({ label: 'base', decode: base.decodeAccessLogMessage });
}
const fingerprint = schema.accessLogBatchFingerprint;
const timings = Object.fromEntries(variants.map((v) => [v.label, []]));
for (let round = 0; round < rounds; round++) {
  for (const v of round % 2 ? [...variants].reverse() : variants) {
    const load = os.loadavg()[0];
    const t0 = process.hrtime.bigint();
    let n = 0;
    for (const batch of batches) n += v.decode(batch, fingerprint).length;
    const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
    timings[v.label].push(us);
    console.log(`round ${round} ${v.label.padEnd(4)} ${us.toFixed(3)} µs/record  (load ${load.toFixed(2)})`);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const v of rounds > 0 ? variants : [])
  console.log(
    `${v.label.padEnd(4)} median ${median(timings[v.label]).toFixed(3)} µs/record over ${rounds} rounds`,
  );
