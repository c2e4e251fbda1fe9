// The shipper through the real broker: what `edgeguard ship` puts on access-logs, read back and
// decoded, is exactly a direct parse of the log (records, per-partition order, rejects, end
// markers, times held back by the clock-jump guard), whether the lines are parsed in the main
// thread or by worker threads.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { defaultConfig, type EdgeguardConfig } from '@edgeguard/config';
import { AccessLogProducer, HEADERS, kafkaEnvironment } from '@edgeguard/kafka';
import {
  ClockJumpCounter,
  ClockJumpGuard,
  correctRecordTime,
  createParser,
  FieldCutCounter,
  openLogSource,
  startClockGuard,
} from '@edgeguard/logformat';
import { partitionFor, TOPICS } from '@edgeguard/pipeline';
import { type AccessLog, BadInput, decodeAccessLogMessage } from '@edgeguard/schema';
import { ship } from '@edgeguard/service-shipper';
import { generateScenario } from '@edgeguard/testkit';
import { Kafka, logLevel } from 'kafkajs';
import { bin, edgeguard, freePort, uniquePrefix } from './support/services.js';
import { cuttableBroker, readFollowed, waitFor } from './support/shipper.js';

const PARTITIONS = 3;
const work = mkdtempSync(join(tmpdir(), 'eg-shipper-'));

/** A topic prefix of its own, with every edgeguard topic created (PARTITIONS partitions each). */
function freshTopics(name: string): string {
  const prefix = uniquePrefix(name);
  const ensure = edgeguard(['topics', 'ensure', '--partitions', String(PARTITIONS)], {
    EDGEGUARD_TOPIC_PREFIX: prefix,
  });
  assert.equal(ensure.code, 0, ensure.stderr);
  return prefix;
}

/** Everything on access-logs under `prefix`, per partition, until every partition's end marker. */
async function readBack(prefix: string): Promise<{ records: AccessLog[][]; ends: number[] }> {
  const kafka = new Kafka({ brokers: kafkaEnvironment().brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${prefix}readback` });
  const records: AccessLog[][] = Array.from({ length: PARTITIONS }, () => []);
  const ends = Array.from({ length: PARTITIONS }, () => 0);
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: prefix + TOPICS.accessLogs, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no end markers: ${ends}`)), 60_000);
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          const headers = message.headers ?? {};
          if (String(headers[HEADERS.control] ?? '') === 'end') {
            ends[partition]!++;
            if (ends.every((n) => n > 0)) {
              clearTimeout(timer);
              resolve();
            }
            return;
          }
          const schema = headers['eg-schema'] ? String(headers['eg-schema']) : undefined;
          // avsc decodes into its record class; compare as plain objects.
          for (const r of decodeAccessLogMessage(message.value!, schema)) records[partition]!.push({ ...r });
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return { records, ends };
}

/** The log parsed directly, as `replay` reads it: records per partition (times through one clock-jump guard), rejects by reason. */
async function directParse(path: string, config: EdgeguardConfig) {
  const parser = createParser(config.input.format, { trustedProxies: config.input.trustedProxies });
  const guard = new ClockJumpGuard(config.input.maxClockJumpMs);
  const jumps = new ClockJumpCounter();
  const records: AccessLog[][] = Array.from({ length: PARTITIONS }, () => []);
  const rejects: Record<string, number> = {};
  const rejectedLines: number[] = [];
  const fieldCuts = new FieldCutCounter(config.input.maxFieldLength);
  let lines = 0;
  for await (const batch of openLogSource(path).batches()) {
    startClockGuard(guard, parser, batch);
    for (const line of batch) {
      lines++;
      if (line.length === 0) continue;
      const record = parser.parse(line);
      if (record instanceof BadInput) {
        rejects[record.reason] = (rejects[record.reason] ?? 0) + 1;
        rejectedLines.push(lines);
        continue;
      }
      fieldCuts.record(parser.fieldCuts, line, `${path}:${lines}`);
      correctRecordTime(guard, jumps, record, path, lines);
      records[partitionFor(record.clientAddress, PARTITIONS)]!.push(record);
    }
  }
  return { records, rejects, rejectedLines, lines, jumps, fieldCuts };
}

/**
 * A labelled scenario's log with bad lines among the good: garbage, a line longer than
 * 4 × maxLineLength bytes (cut while read), a bad timestamp, an empty line, a CRLF ending, non-ASCII
 * garbage, no newline after the last line, two good lines dated a year ahead, the first line
 * and one in the middle (clock jumps: shipped at their neighbours' time), and three good lines with
 * a user agent padded past maxFieldLength (cut, shipped, counted). Written plain and gzipped.
 */
function writeLog(name: string, format: 'edge' | 'combined') {
  const scenario = generateScenario({ seed: 11, durationSec: 120, scale: 0.2, format });
  const good = [...scenario.lines()];
  const lines = [...good];
  const insert = (at: number, line: string) => lines.splice(Math.floor(lines.length * at), 0, line);
  insert(0.1, 'this is not an access log line');
  insert(0.3, `${good[5]!.slice(0, 40)}${'x'.repeat(70_000)}`);
  insert(0.5, '');
  insert(0.6, good[7]!.replace(/\[[^\]]+\]/, '[99/Foo/2024:99:99:99 +0000]'));
  insert(0.7, `${good[9]}\r`);
  insert(0.9, '\u00e9t\u00e9 \ufffd not a log either');
  const yearAhead = (line: string) => line.replace(/\/(\d{4}):/, (_, year) => `/${Number(year) + 1}:`);
  insert(0.4, yearAhead(good[11]!));
  lines.unshift(yearAhead(good[13]!));
  const padded = good.filter((line) => line.includes('"Mozilla/5.0'));
  for (const [k, at] of [0.05, 0.45, 0.85].entries())
    insert(at, padded[k * 7]!.replace('"Mozilla/5.0', `"Mozilla/5.0 ${'(padding) '.repeat(600)}`));
  const text = lines.join('\n');
  const plain = join(work, `${name}.log`);
  writeFileSync(plain, text);
  writeFileSync(`${plain}.gz`, gzipSync(text));
  const config = structuredClone(defaultConfig);
  // `auto` is sniffed in the main thread, then the settled format is handed to the workers.
  config.input.format = format === 'combined' ? 'auto' : scenario.format;
  config.input.trustedProxies = scenario.trustedProxies;
  return { plain, gzipped: `${plain}.gz`, config };
}

describe('the shipper over the real broker', { timeout: 240_000 }, () => {
  const edge = writeLog('edge', 'edge');
  const combined = writeLog('combined', 'combined');

  for (const variant of [
    { name: 'in the main thread', log: edge, input: edge.plain, workers: 0 },
    {
      name: 'by 2 worker threads, 64 KiB chunks',
      log: edge,
      input: edge.plain,
      workers: 2,
      chunkBytes: 64 * 1024,
    },
    { name: 'in the main thread, format auto', log: combined, input: combined.plain, workers: 0 },
    {
      name: 'by 1 worker thread from gzip, format auto',
      log: combined,
      input: combined.gzipped,
      workers: 1,
      chunkBytes: 32 * 1024,
    },
  ])
    it(`ships exactly a direct parse: parsed ${variant.name}`, async () => {
      const expected = await directParse(variant.log.plain, variant.log.config);
      assert.ok(expected.rejectedLines.length >= 3, JSON.stringify(expected.rejects));
      const prefix = freshTopics('shipper');
      const result = await ship({
        input: variant.input,
        config: variant.log.config,
        workers: variant.workers,
        chunkBytes: variant.chunkBytes,
        environment: { ...kafkaEnvironment(), topicPrefix: prefix },
      });
      assert.equal(result.lines, expected.lines);
      assert.equal(result.rejected, expected.rejectedLines.length);
      assert.deepEqual(result.rejects.byReason(), expected.rejects);
      const locations = Object.keys(expected.rejects)
        .flatMap((reason) => result.rejects.samplesOf(reason).map((s) => s.location))
        .sort();
      assert.deepEqual(
        locations,
        expected.rejectedLines.map((n) => `${variant.input}:${n}`).sort(),
        'each rejected line is reported at its line number',
      );
      assert.equal(expected.jumps.total, 2);
      assert.equal(expected.jumps.samples[0]!.location, `${variant.log.plain}:1`);
      assert.equal(
        result.clockJumps.total,
        2,
        'the lines dated a year ahead are held back, the first one too',
      );
      assert.deepEqual(
        result.clockJumps.samples.map((s) => s.location),
        expected.jumps.samples.map((s) => s.location.replace(variant.log.plain, variant.input)),
      );
      assert.deepEqual(expected.fieldCuts.toJSON().byField, { http_user_agent: 3 });
      assert.deepEqual(
        result.fieldCuts.byField(),
        expected.fieldCuts.byField(),
        'padded fields cut, counted',
      );
      assert.deepEqual(
        result.fieldCuts.samplesOf('http_user_agent').map((s) => s.location),
        expected.fieldCuts
          .samplesOf('http_user_agent')
          .map((s) => s.location.replace(variant.log.plain, variant.input)),
        'each cut at its line number',
      );
      const produced = expected.records.reduce((n, p) => n + p.length, 0);
      assert.equal(result.produced, produced);
      assert.equal(result.lastEventTime, Math.max(...expected.records.flat().map((r) => r.time)));

      const back = await readBack(prefix);
      assert.deepEqual(back.ends, [1, 1, 1], 'one end marker per partition');
      for (let p = 0; p < PARTITIONS; p++) {
        assert.equal(back.records[p]!.length, expected.records[p]!.length, `partition ${p} count`);
        assert.deepEqual(back.records[p], expected.records[p], `partition ${p}: records and order`);
      }
    });

  // A truncated gzip (a copy still being written) and a fake one (magic bytes, then garbage): read
  // as replay reads them, in the main thread (openLogSource) and by workers (readLineChunks).
  const cut = join(work, 'edge-cut.log.gz');
  const whole = readFileSync(edge.gzipped);
  writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.6)));
  const fake = join(work, 'fake.log.gz');
  writeFileSync(fake, Buffer.from('\x1f\x8bgarbage that is not deflate\n', 'latin1'));
  for (const workers of [0, 1])
    for (const damaged of [
      { name: 'a truncated gzip', input: cut, message: /unexpected end of file/ },
      { name: 'a fake gzip', input: fake, message: /unknown compression method/ },
    ])
      it(`ships every whole line before the damage of ${damaged.name}, counts it as bad-gzip and marks end of input (${workers} workers)`, async () => {
        const expected = await directParse(damaged.input, edge.config);
        const prefix = freshTopics('shipper-damaged');
        const result = await ship({
          input: damaged.input,
          config: edge.config,
          workers,
          chunkBytes: 32 * 1024,
          environment: { ...kafkaEnvironment(), topicPrefix: prefix },
        });
        assert.equal(
          result.lines,
          expected.lines + 1,
          'the whole lines before the damage, and the one it broke off',
        );
        if (damaged.input === cut) assert.ok(expected.lines > 1000, `${expected.lines} lines before the cut`);
        assert.deepEqual(result.rejects.byReason(), { ...expected.rejects, 'bad-gzip': 1 });
        const [sample] = result.rejects.samplesOf('bad-gzip');
        assert.equal(sample?.location, `${damaged.input}:${expected.lines + 1}`, 'the line it broke off');
        assert.match(result.cutShort ?? '', damaged.message);
        const back = await readBack(prefix);
        assert.deepEqual(back.ends, [1, 1, 1], 'end of input marked on every partition');
        for (let p = 0; p < PARTITIONS; p++)
          assert.deepEqual(back.records[p], expected.records[p], `partition ${p}: records and order`);
      });

  it('edgeguard ship exits 3 on a damaged gzip and says so in its summary', () => {
    const env = { EDGEGUARD_TOPIC_PREFIX: freshTopics('shipper-damaged-cli') };
    for (const workers of ['0', '1']) {
      const run = edgeguard(['ship', fake, '--workers', workers], env);
      assert.equal(run.code, 3, run.stderr);
      assert.match(run.stderr, /0 produced, 1 rejected/);
      assert.match(run.stderr, /rejected bad-gzip: 1/);
      assert.match(
        run.stderr,
        /edgeguard ship: input cut short: .*fake\.log\.gz:1: unknown compression method/,
      );
    }
  });

  it('edgeguard ship counts empty lines as blank, so its summary adds up', () => {
    const log = join(work, 'blank-lines.log');
    const line = (i: number) =>
      `192.0.2.${i} - - [27/Nov/2026:10:00:0${i} +0000] "GET / HTTP/1.1" 200 512 "-" "curl/8.5.0"`;
    writeFileSync(log, `${line(1)}\n\n${line(2)}\r\n\r\nnot a log line\n`);
    // LOG_LEVEL unset: the summary alone, no JSON 'shipped' line beside it (warnings only).
    const run = edgeguard(['ship', log, '--format', 'combined'], {
      EDGEGUARD_TOPIC_PREFIX: freshTopics('shipper-blank'),
      LOG_LEVEL: '',
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /ship: 5 lines, 2 produced, 1 rejected, 2 blank,/);
    assert.doesNotMatch(run.stderr, /"msg":"shipped"/);
    const logged = edgeguard(['ship', log, '--format', 'combined'], {
      EDGEGUARD_TOPIC_PREFIX: freshTopics('shipper-blank-logged'),
      LOG_LEVEL: 'info',
    });
    assert.match(logged.stderr, /"msg":"shipped"/, 'LOG_LEVEL=info shows it');
  });

  it('edgeguard ship exits 4 when no line could be parsed (a wrong --format), as replay does', () => {
    const log = join(work, 'nginx-main.log');
    writeFileSync(log, '{"ClientIP":"192.0.2.1"}\n{"ClientIP":"192.0.2.2"}\n');
    const run = edgeguard(['ship', log, '--format', 'combined'], {
      EDGEGUARD_TOPIC_PREFIX: freshTopics('shipper-nothing'),
    });
    assert.equal(run.code, 4, run.stderr);
    assert.match(
      run.stderr,
      /no line could be parsed as combined: wrong --format\? \(all 2 non-empty lines rejected/,
    );
  });

  // 500 lines of ~9 KiB make one ~4.5 MiB envelope: over the broker's 1 MiB message.max.bytes, which
  // would refuse it and stop the shipment. Envelopes are halved until each fits a request.
  for (const workers of [0, 1])
    it(`ships long lines in envelopes that fit the broker's limit (${workers} workers)`, async () => {
      const lines: string[] = [];
      for (let i = 0; i < 1200; i++) {
        const second = String(i % 60).padStart(2, '0');
        lines.push(
          `192.0.2.${i % 3} - - [27/Nov/2026:10:00:${second} +0000] "GET /${'p'.repeat(3000)}?n=${i} HTTP/1.1" 200 512 "https://example.com/${'r'.repeat(3000)}" "Mozilla/5.0 ${'u'.repeat(3000)}"`,
        );
      }
      const path = join(work, `long-${workers}.log`);
      writeFileSync(path, `${lines.join('\n')}\n`);
      const config = structuredClone(defaultConfig);
      config.input.format = 'combined';
      const expected = await directParse(path, config);
      assert.equal(expected.rejectedLines.length, 0, JSON.stringify(expected.rejects));
      const prefix = freshTopics('shipper-long');
      const result = await ship({
        input: path,
        config,
        workers,
        environment: { ...kafkaEnvironment(), topicPrefix: prefix },
      });
      assert.equal(result.produced, 1200);
      const back = await readBack(prefix);
      for (let p = 0; p < PARTITIONS; p++)
        assert.deepEqual(back.records[p], expected.records[p], `partition ${p}: records and order`);
    });

  it('ships a line whose user agent is padded to 6 KiB, and says the field was cut in its summary, log and metrics', async () => {
    const line = (i: number, agent: string) =>
      `198.51.100.${i} - - [27/Nov/2026:10:00:0${i} +0000] "GET /padded/${i} HTTP/1.1" 200 10 "-" "${agent}"`;
    const padded = line(2, `sqlmap/1.7.2#stable ${'x'.repeat(6000)}`);
    const path = join(work, 'padded.log');
    writeFileSync(path, `${line(1, 'curl/8.5.0')}\n${padded}\n`);
    const env = { EDGEGUARD_TOPIC_PREFIX: freshTopics('shipper-padded') };
    for (const workers of ['0', '1']) {
      const run = edgeguard(['ship', path, '--format', 'combined', '--workers', workers], env);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /2 produced, 0 rejected/);
      assert.match(run.stderr, /field cut to maxFieldLength \(line shipped\) http_user_agent: 1/);
      assert.match(
        run.stdout + run.stderr,
        /"reason":"field-cut","field":"http_user_agent","location":"[^"]*padded\.log:2".*a field longer than input\.maxFieldLength was cut/,
      );
    }

    // Followed: the count is in /metrics, by field.
    const prefix = freshTopics('shipper-padded-follow');
    const dir = mkdtempSync(join(work, 'padded-'));
    const followed = join(dir, 'access.log');
    writeFileSync(followed, '');
    const config = structuredClone(defaultConfig);
    config.input.format = 'combined';
    const healthPort = await freePort();
    const seen = readFollowed(prefix);
    const abort = new AbortController();
    const done = ship({
      input: followed,
      config,
      follow: true,
      positionFile: join(dir, 'position'),
      positionSaveMs: 50,
      healthPort,
      signal: abort.signal,
      environment: { ...kafkaEnvironment(), topicPrefix: prefix },
    });
    try {
      await waitFor(() => existsSync(join(dir, 'position')), 'the first position saved');
      appendFileSync(followed, `${padded}\n`);
      await waitFor(() => seen.paths.length >= 1, 'the padded line shipped');
      assert.deepEqual(seen.paths, ['/padded/2']);
      const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
      assert.match(metrics, /edgeguard_shipper_fields_cut_total\{[^}]*field="http_user_agent"[^}]*\} 1\b/);
      // Nothing rejected: the parsers' reasons are on /metrics all the same, at 0.
      for (const reason of ['truncated', 'bad-timestamp', 'bad-gzip'])
        assert.match(
          metrics,
          new RegExp(`edgeguard_shipper_rejected_total\\{reason="${reason}",service="shipper"\\} 0\n`),
        );
    } finally {
      abort.abort();
      await done;
      await seen.stop();
    }
  });

  it('warns once when trusted proxies are set but the format logs no X-Forwarded-For', () => {
    // Load-balanced lines with X-Forwarded-For after the host: `auto` reads them as combined.
    const line = (i: number, xffLast: boolean) =>
      `10.0.0.${5 + (i % 2)} - - [27/Nov/2026:10:00:${String(i % 60).padStart(2, '0')} +0000] "GET /p/${i} HTTP/1.1" 200 512 "-" "Mozilla/5.0"${xffLast ? ' shop.example' : ''} "198.51.100.${i % 9}"`;
    const env = { EDGEGUARD_TOPIC_PREFIX: freshTopics('shipper-proxies') };
    const shipped = (xffLast: boolean) => {
      const path = join(work, `proxies-${xffLast}.log`);
      writeFileSync(path, `${Array.from({ length: 60 }, (_, i) => line(i, xffLast)).join('\n')}\n`);
      const run = edgeguard(['ship', path, '--trusted-proxies', '10.0.0.0/8'], env);
      assert.equal(run.code, 0, run.stderr);
      return run.stderr;
    };
    const combined = shipped(true);
    assert.equal(combined.match(/logs no X-Forwarded-For/g)?.length, 1, combined);
    assert.match(combined, /'combined'.*--format nginx-main/);
    assert.doesNotMatch(shipped(false), /X-Forwarded-For/, 'nginx-main resolves the client');
  });

  it('holds the reader back while the broker is slow: at most a request in flight and one queued', async () => {
    const prefix = freshTopics('shipper-slow');
    const kafka = new Kafka({ brokers: kafkaEnvironment().brokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    // A slow broker: every request takes 30 ms more. Each message holds batchRecords records.
    let acknowledged = 0;
    const sendBatch = producer.sendBatch.bind(producer);
    producer.sendBatch = async (batch) => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      const result = await sendBatch(batch);
      for (const t of batch.topicMessages ?? []) acknowledged += t.messages.length * 10;
      return result;
    };
    const out = new AccessLogProducer({
      producer,
      prefix,
      partitions: PARTITIONS,
      batchRecords: 10,
      maxSendBytes: 16 * 1024,
    });
    const parse = createParser('combined');
    let ahead = 0;
    for (let i = 0; i < 6000; i++) {
      const record = parse.parse(
        `198.51.100.${i % 250} - - [27/Nov/2026:10:00:00 +0000] "GET /page/${i} HTTP/1.1" 200 10 "-" "curl/8.5.0"`,
      );
      assert.ok(!(record instanceof BadInput));
      const wait = out.add(record);
      if (wait) await wait;
      ahead = Math.max(ahead, out.produced - acknowledged);
    }
    await out.flush();
    await producer.disconnect();
    assert.equal(out.produced, 6000);
    // Two requests of 16 KiB hold about 2 × 16384 / ~60 bytes per record; without backpressure the
    // reader ran thousands of records ahead of the broker.
    assert.ok(ahead < 1500, `records packed but not acknowledged at most ${ahead}`);
  });

  it('run shipper stopped while the broker does not answer: one line saying so, exit 0 at once', async () => {
    // It ignored SIGTERM/SIGINT until EDGEGUARD_STARTUP_TIMEOUT_MS, then exited 1; and once it
    // returned, kafkajs' retries of the admin connection kept the process alive for minutes.
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const child = spawn(process.execPath, [bin, 'run', 'shipper', '--follow', join(work, 'never.log')], {
        env: {
          ...process.env,
          LOG_LEVEL: 'info',
          KAFKA_BROKERS: '127.0.0.1:1', // nothing answers there
          EDGEGUARD_STARTUP_TIMEOUT_MS: '60000',
          EDGEGUARD_TOPIC_PREFIX: uniquePrefix('shipper-stop-start'),
          EDGEGUARD_HEALTH_PORT: '0',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, killedBy) => resolve({ code, signal: killedBy })),
      );
      try {
        await waitFor(() => stderr.includes('ECONNREFUSED 127.0.0.1:1'), 'the shipper connecting');
        const signalled = Date.now();
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const result = await exited;
        clearTimeout(timer);
        const ms = Date.now() - signalled;
        assert.deepEqual(result, { code: 0, signal: null }, stderr);
        assert.ok(ms < 3_000, `exited ${ms} ms after ${signal}`);
        const stopped = stderr
          .split('\n')
          .filter((l) =>
            l.includes('"msg":"stopped while starting: closing what is connected, then exiting"'),
          );
        assert.equal(stopped.length, 1, stderr);
        assert.equal(JSON.parse(stopped[0]!).signal, signal);
        assert.doesNotMatch(stderr, /did not answer within|"msg":"shipped"/);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    }
  });

  it('run shipper --follow stopped with the broker gone: exits 1 within EDGEGUARD_STOP_TIMEOUT_MS saying how many lines were not shipped; a restart ships them', async () => {
    // It waited for the broker for ever (kafkajs retries an idempotent producer's send without end).
    const prefix = freshTopics('shipflags-follow-stop');
    const dir = mkdtempSync(join(work, 'follow-stop-'));
    const path = join(dir, 'access.log');
    const positionFile = join(dir, 'shipper.position');
    const line = (i: number) =>
      `198.51.100.${i % 7} - - [27/Nov/2026:10:00:00 +0000] "GET /g/${i} HTTP/1.1" 200 10 "-" "curl/8.5.0"\n`;
    writeFileSync(path, '');
    const broker = await cuttableBroker();
    const stopTimeoutMs = 4_000;
    const start = (hook: string[]) => {
      const child = spawn(
        process.execPath,
        [
          ...hook,
          ...[bin, 'run', 'shipper', '--follow', path, '--from-start', '--position-file', positionFile],
          ...['--format', 'combined'],
        ],
        {
          env: {
            ...process.env,
            LOG_LEVEL: 'info',
            EDGEGUARD_TOPIC_PREFIX: prefix,
            EDGEGUARD_HEALTH_PORT: '0',
            EDGEGUARD_STOP_TIMEOUT_MS: String(stopTimeoutMs),
          },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      const output = { stderr: '' };
      child.stderr.on('data', (d) => {
        output.stderr += d;
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      return { child, output, exited };
    };
    const seen = readFollowed(prefix);
    const first = start(['--import', broker.hook]);
    const second = { child: null as ReturnType<typeof start>['child'] | null };
    try {
      for (let i = 0; i < 5; i++) appendFileSync(path, line(i));
      await waitFor(() => seen.paths.length >= 5, 'lines 0–4 shipped');
      const saved = () =>
        existsSync(positionFile) ? JSON.parse(readFileSync(positionFile, 'utf8')).offset : -1;
      await waitFor(() => saved() === statSync(path).size, 'the position after line 4 saved');
      broker.cut();
      const before = first.output.stderr.length;
      // One write: read as one batch, then stuck waiting for the broker (kafkajs says it cannot connect).
      appendFileSync(path, Array.from({ length: 7 }, (_, k) => line(5 + k)).join(''));
      await waitFor(
        () => first.output.stderr.slice(before).includes('"component":"kafkajs"'),
        'the producer failing to reach the broker',
      );
      const signalled = Date.now();
      first.child.kill('SIGTERM');
      const timer = setTimeout(() => first.child.kill('SIGKILL'), stopTimeoutMs + 20_000);
      const code = await first.exited;
      clearTimeout(timer);
      const ms = Date.now() - signalled;
      assert.equal(code, 1, first.output.stderr);
      assert.ok(ms >= stopTimeoutMs - 100 && ms < stopTimeoutMs + 3_000, `exited ${ms} ms after SIGTERM`);
      const message = `stop timed out after ${stopTimeoutMs} ms (EDGEGUARD_STOP_TIMEOUT_MS; Kafka unreachable?): 7 lines read were not shipped (the position file is before them: a restart ships them)`;
      const fatal = first.output.stderr.split('\n').filter((l) => l.includes('"msg":"stop timed out'));
      assert.equal(fatal.length, 1, first.output.stderr);
      assert.equal(JSON.parse(fatal[0]!).msg, message);
      assert.equal(JSON.parse(fatal[0]!).notShipped, 7);
      assert.ok(first.output.stderr.includes(`\nedgeguard run: ${message}\n`), first.output.stderr);
      assert.doesNotMatch(first.output.stderr, /\n\s+at /);
      assert.equal(seen.paths.length, 5);
      // The broker back (no relay): the restart ships the 7, each once.
      const restarted = start([]);
      second.child = restarted.child;
      await waitFor(() => seen.paths.length >= 12, 'lines 5–11 shipped after the restart');
      await sleep(500);
      restarted.child.kill('SIGTERM');
      assert.equal(await restarted.exited, 0, restarted.output.stderr);
      assert.deepEqual(
        seen.paths.map((p) => Number(p.slice('/g/'.length))).sort((a, b) => a - b),
        Array.from({ length: 12 }, (_, i) => i),
      );
    } finally {
      if (first.child.exitCode === null) first.child.kill('SIGKILL');
      if (second.child && second.child.exitCode === null) second.child.kill('SIGKILL');
      await seen.stop();
    }
  });

  it('run shipper --follow on a path that names nothing says so once, and that it follows it from its start, then ships the file once it appears', async () => {
    const prefix = freshTopics('shipper-absent');
    const dir = mkdtempSync(join(work, 'absent-'));
    const path = join(dir, 'access.log');
    const seen = readFollowed(prefix);
    const child = spawn(process.execPath, [bin, 'run', 'shipper', '--follow', path], {
      env: { ...process.env, LOG_LEVEL: 'info', EDGEGUARD_TOPIC_PREFIX: prefix, EDGEGUARD_HEALTH_PORT: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitFor(() => stderr.includes('does not exist'), 'the missing file logged');
      assert.match(
        stderr,
        /"input":"[^"]*access\.log".*the followed file does not exist: waiting for it to appear/,
      );
      // Said at start (it logged nothing until it stopped): which file, from where, no position file.
      await waitFor(() => stderr.includes('"msg":"following"'), 'the start logged');
      const following = JSON.parse(stderr.split('\n').find((l) => l.includes('"msg":"following"'))!);
      assert.deepEqual(
        { input: following.input, from: following.from, positionFile: following.positionFile },
        { input: path, from: 'start', positionFile: null },
      );
      writeFileSync(
        path,
        '198.51.100.9 - - [27/Nov/2026:10:00:00 +0000] "GET /f/1 HTTP/1.1" 200 10 "-" "curl/8.5.0"\n',
      );
      await waitFor(() => seen.paths.length >= 1, 'the line of the file that appeared shipped');
      assert.equal(stderr.match(/does not exist/g)?.length, 1, stderr);
    } finally {
      child.kill('SIGTERM');
      await seen.stop();
    }
    assert.equal(await exited, 0, stderr);
  });

  it('run shipper --follow with a position file: a restart ships what was written while it was down, across a rotation, each line once', async () => {
    const prefix = freshTopics('shipper-follow');
    const dir = mkdtempSync(join(work, 'follow-'));
    const path = join(dir, 'access.log');
    const positionFile = join(dir, 'shipper.position');
    const line = (i: number) =>
      `198.51.100.${i % 7} - - [27/Nov/2026:10:00:${String(i % 60).padStart(2, '0')} +0000] "GET /f/${i} HTTP/1.1" 200 10 "-" "curl/8.5.0"`;
    const lines = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, k) => `${line(from + k)}\n`).join('');
    const config = structuredClone(defaultConfig);
    config.input.format = 'combined';
    const environment = { ...kafkaEnvironment(), topicPrefix: prefix };
    const seen = readFollowed(prefix);
    try {
      writeFileSync(path, lines(0, 5)); // before the first start: not shipped (it starts at the end)
      const run = () => {
        const abort = new AbortController();
        const done = ship({
          input: path,
          config,
          follow: true,
          positionFile,
          positionSaveMs: 50,
          signal: abort.signal,
          environment,
        });
        return { abort, done };
      };
      const first = run();
      await waitFor(() => existsSync(positionFile), 'the first position saved');
      appendFileSync(path, lines(5, 20));
      await waitFor(() => seen.paths.length >= 15, 'lines 5–19 shipped');
      first.abort.abort();
      await first.done;

      // Down: lines appended, then the file rotated and a new one started.
      appendFileSync(path, lines(20, 30));
      renameSync(path, `${path}.1`);
      writeFileSync(path, lines(30, 40));
      const second = run();
      await waitFor(() => seen.paths.length >= 35, 'lines 20–39 shipped after the restart');
      appendFileSync(path, lines(40, 45));
      await waitFor(() => seen.paths.length >= 40, 'lines 40–44 shipped');
      await sleep(500); // anything shipped twice would arrive by now
      second.abort.abort();
      await second.done;
      const numbers = seen.paths.map((p) => Number(p.slice('/f/'.length))).sort((a, b) => a - b);
      assert.deepEqual(
        numbers,
        Array.from({ length: 40 }, (_, k) => 5 + k),
        'lines 5–44, each once',
      );
    } finally {
      await seen.stop();
    }
  });
});
