// The profiler's real outputs over the demo log, through a StageTask's record batches (Avro) and
// back: every record must decode to exactly what its JSON encoding gives.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { loadConfig } from '@edgeguard/config';
import { createParser } from '@edgeguard/logformat';
import type { Emitter, Stage } from '@edgeguard/pipeline';
import { type AccessLog, accessLogBatchFingerprint, BadInput, stageRecords } from '@edgeguard/schema';
import { encodeAccessLogBatchFast } from '../src/access-log-encoder.js';
import {
  decodeRecordBatch,
  HEADERS,
  isRecordBatch,
  RECORD_BATCH_TOPICS,
  type TopicRecord,
} from '../src/codec.js';
import { type InputMessage, StageTask } from '../src/stage-task.js';
import { topologyStage } from '../src/topology-stage.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../testkit/fixtures/${name}`, import.meta.url));

function demoLogs(): AccessLog[] {
  const config = loadConfig(fixture('demo.config.json'));
  const parser = createParser(config.input.format, { trustedProxies: config.input.trustedProxies });
  const logs: AccessLog[] = [];
  for (const line of gunzipSync(readFileSync(fixture('demo.log.gz')))
    .toString('latin1')
    .split('\n')) {
    const log = line.length > 0 ? parser.parse(line) : null;
    if (log !== null && !(log instanceof BadInput)) logs.push(log);
  }
  return logs;
}

describe('record batches of the profiler’s outputs over the demo log', () => {
  it('decode to exactly the JSON of what the profiler emitted, record by record', () => {
    const config = loadConfig(fixture('demo.config.json'));
    const profiler = topologyStage({
      name: 'profiler',
      options: { detect: config.detect, allowlist: config.allowlist },
      accessLogPartitions: 1,
    }).create(0);
    // What the profiler emits to record-batch topics, in order, as JSON would carry it.
    const emitted = new Map<string, unknown[]>();
    const spy = (out: Emitter): Emitter => ({
      emit(topic, key, value, timestamp) {
        if (RECORD_BATCH_TOPICS.has(topic) && value !== null) {
          const list = emitted.get(topic) ?? [];
          list.push({ key, time: timestamp, value: JSON.parse(JSON.stringify(value)) });
          emitted.set(topic, list);
        }
        out.emit(topic, key, value, timestamp);
      },
    });
    const stage: Stage = {
      name: profiler.name,
      process: (message, out) => profiler.process(message, spy(out)),
      advance: (watermark, out) => profiler.advance?.(watermark, spy(out)),
      finish: (out) => profiler.finish?.(spy(out)),
    };
    const task = new StageTask(stage, 0, {
      stageName: 'profiler',
      prefix: '',
      partitions: { 'access-logs': 1, 'content-partials': 3, signals: 1 },
      outputs: ['content-partials', 'signals'],
      sources: 1,
    });

    const logs = demoLogs();
    const messages: InputMessage[] = [];
    for (let i = 0; i < logs.length; i += 500) {
      const chunk = logs.slice(i, i + 500);
      messages.push({
        offset: String(messages.length),
        timestamp: '0',
        key: null,
        value: encodeAccessLogBatchFast(chunk),
        headers: {
          [HEADERS.schema]: accessLogBatchFingerprint,
          [HEADERS.eventTime]: String(chunk.at(-1)!.time),
        },
      });
    }
    messages.push({
      offset: String(messages.length),
      timestamp: '0',
      key: null,
      value: null,
      headers: { [HEADERS.control]: 'end', [HEADERS.source]: 'shipper/0', [HEADERS.sequence]: '1' },
    });
    const decoded = new Map<string, TopicRecord[]>();
    for (let i = 0; i < messages.length; i += 10) {
      const outcome = task.process('access-logs', messages.slice(i, i + 10));
      assert.equal(outcome.deadLetters.length, 0);
      for (const { topic, message } of outcome.outputs) {
        if (!isRecordBatch(message.headers) || message.value === null) continue;
        assert.equal(message.headers![HEADERS.schema], stageRecords.fingerprint);
        const list = decoded.get(topic) ?? [];
        list.push(...decodeRecordBatch(message.value as Buffer, message.headers));
        decoded.set(topic, list);
      }
    }

    let total = 0;
    const kinds = new Set<string>();
    for (const topic of RECORD_BATCH_TOPICS) {
      const expected = emitted.get(topic) ?? [];
      // Batches of one topic go to several partitions: compare in sequence order.
      const actual = (decoded.get(topic) ?? []).sort((a, b) => a.seq - b.seq);
      assert.equal(actual.length, expected.length, topic);
      assert.deepStrictEqual(
        actual.map(({ key, time, value }) => ({ key, time, value })),
        expected,
      );
      assert.equal(
        JSON.stringify(actual.map((r) => r.value)),
        JSON.stringify(expected.map((r) => (r as { value: unknown }).value)),
        `${topic}: the same fields in the same order`,
      );
      for (const record of actual) kinds.add((record.value as { kind: string }).kind);
      total += actual.length;
    }
    assert.ok(total > 1000, `${total} records`);
    assert.deepEqual([...kinds].sort(), ['client', 'content-batch', 'fingerprint', 'tick']);

    // Every one of them fitted its schema (none travelled as JSON text).
    const writer = stageRecords.writer();
    for (const topic of RECORD_BATCH_TOPICS)
      for (const record of emitted.get(topic) ?? [])
        writer.add({ ...(record as Omit<TopicRecord, 'seq'>), seq: 1 }, Number.POSITIVE_INFINITY);
    assert.equal(writer.jsonRecords, 0);
  });
});
