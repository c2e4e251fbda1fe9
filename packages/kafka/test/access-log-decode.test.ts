import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createParser, openLogSource } from '@edgeguard/logformat';
import {
  type AccessLog,
  accessLogBatchFingerprint,
  accessLogBatchFormat,
  decodeAccessLogMessage,
  isBadInput,
} from '@edgeguard/schema';
import { generateScenario } from '@edgeguard/testkit';
import { encodeAccessLogBatchFast } from '../src/access-log-encoder.js';

// The schema package reads `access-logs` batches written with its own schema by hand (envelope.ts);
// here every record of real and generated logs, shipped as the shipper batches them, must decode
// to exactly what avsc's reader returns (same record class, same values).

const avsc = (value: Buffer) =>
  (accessLogBatchFormat.batchType.fromBuffer(value) as { records: unknown[] }).records;

/** Ships `records` in batches of 500 and checks each batch; returns how many records it checked. */
function checkBatches(records: Iterable<AccessLog>, label: string): number {
  let batch: AccessLog[] = [];
  let checked = 0;
  const check = () => {
    const value = encodeAccessLogBatchFast(batch);
    assert.deepStrictEqual(
      decodeAccessLogMessage(value, accessLogBatchFingerprint),
      avsc(value),
      `${label} @${checked}`,
    );
    checked += batch.length;
    batch = [];
  };
  for (const record of records) {
    batch.push(record);
    if (batch.length === 500) check();
  }
  if (batch.length) check();
  return checked;
}

function* parsedLines(
  lines: Iterable<string>,
  format: Parameters<typeof createParser>[0],
): Generator<AccessLog> {
  const parser = createParser(format);
  for (const line of lines) {
    const record = parser.parse(line);
    if (!isBadInput(record)) yield record;
  }
}

async function* parsedFile(
  path: string,
  format: Parameters<typeof createParser>[0],
): AsyncGenerator<AccessLog> {
  for await (const lines of openLogSource(path).batches()) yield* parsedLines(lines, format);
}

const cloudflare = (i: number) =>
  JSON.stringify({
    ClientIP: i % 3 ? `2001:db8::${i % 7}` : `198.51.100.${i % 9}`,
    ClientRequestHost: i % 5 ? 'shop.example' : 'ünïcode.example',
    ClientRequestMethod: i % 4 ? 'GET' : 'POST',
    ClientRequestURI: `/products/${i % 11}${i % 2 ? '?utm=x' : ''}`,
    ClientRequestProtocol: 'HTTP/2',
    ClientRequestUserAgent: i % 6 ? `Mozilla/5.0 (${'x'.repeat(i % 400)})` : '',
    ClientRequestReferer: i % 3 ? 'https://shop.example/' : '',
    EdgeStartTimestamp: '2024-01-21T09:30:12Z',
    EdgeEndTimestamp: '2024-01-21T09:30:12.250Z',
    EdgeResponseStatus: 200 + (i % 5),
    EdgeResponseBytes: 5123 * i,
    CacheCacheStatus: ['miss', 'hit', 'dynamic'][i % 3],
    ...(i % 2 ? { OriginResponseDurationMs: 180 } : {}),
    ClientASN: 64500 + (i % 3),
    ClientCountry: i % 8 ? 'at' : 'jp',
    JA3Hash: 'e7d705a3286e19ea42f587b344ee6865',
    ...(i % 3 ? { JA4: 't13d1516h2_8daaf6152771_b186095e22b6' } : {}),
    RayID: `84a1b2c3d4e5${i}`,
    EdgeColoCode: 'VIE',
    RequestHeaders: { 'accept-language': i % 2 ? 'de-AT' : '日本語' },
  });

const data = (relative: string) =>
  fileURLToPath(new URL(`../../../../shared/data/${relative}`, import.meta.url));
const almhuette = data('almhuette-raith-10k/access_10k.log');

describe('AccessLog batches decode as avsc decodes them', () => {
  for (const format of ['edge', 'combined'] as const)
    it(`every record of a generated ${format} log`, () => {
      const scenario = generateScenario({ seed: 5, durationSec: 60, scale: 0.2, format });
      const parser = createParser(scenario.format, { trustedProxies: scenario.trustedProxies });
      const records = [...scenario.lines()].map((line) => parser.parse(line)).filter((r) => !isBadInput(r));
      assert.ok(checkBatches(records as AccessLog[], format) > 1000);
    });

  it('every record of Cloudflare Logpush lines (IPv6, nulls, empty, long and non-ASCII values)', () => {
    const lines = Array.from({ length: 2000 }, (_, i) => cloudflare(i));
    assert.equal(checkBatches(parsedLines(lines, 'cloudflare'), 'cloudflare'), 2000);
  });

  it('every record of the almhuette-raith log (nginx-main)', {
    skip: existsSync(almhuette) ? false : `absent: ${almhuette}`,
  }, async () => {
    const records: AccessLog[] = [];
    for await (const record of parsedFile(almhuette, 'nginx-main')) records.push(record);
    assert.ok(checkBatches(records, 'nginx-main') >= 9_990);
  });

  it('every record of the 1M-line bench log (made here when `npm run bench` has not made it yet)', async () => {
    // The bench's own generator and cache (bench/out), so this test and the benchmark read one log.
    const { ensureBenchLog } = (await import(
      fileURLToPath(new URL('../../../bench/bench-log.mjs', import.meta.url))
    )) as { ensureBenchLog: (lines: number, clients: number) => Promise<string> };
    const benchLog = await ensureBenchLog(1_000_000, 100_000);
    const records: AccessLog[] = [];
    let checked = 0;
    for await (const record of parsedFile(benchLog, 'combined')) {
      records.push(record);
      if (records.length === 50_000) checked += checkBatches(records.splice(0), 'bench log');
    }
    checked += checkBatches(records, 'bench log');
    assert.ok(checked > 990_000, `checked ${checked}`);
  });
});
