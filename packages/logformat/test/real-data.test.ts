import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type AccessLog, isBadInput, RejectCounter } from '@edgeguard/schema';
import { createParser, FieldCutCounter, openLogSource } from '../src/index.js';

// Public sample logs kept beside the repository (see each folder's SOURCE.md); skipped when absent.
const data = new URL('../../../../shared/data/', import.meta.url);
const path = (relative: string) => fileURLToPath(new URL(relative, data));
const absent = (relative: string) =>
  existsSync(path(relative)) ? false : `shared data absent: ${path(relative)}`;

interface Outcome {
  format: string;
  records: AccessLog[];
  rejects: RejectCounter;
  fieldCuts: FieldCutCounter;
  lines: number;
}

/** Reads a file the way the CLI does: openLogSource batches through an `auto` parser. */
async function parseFile(relative: string): Promise<Outcome> {
  const parser = createParser('auto');
  const rejects = new RejectCounter();
  const fieldCuts = new FieldCutCounter(4096);
  const records: AccessLog[] = [];
  let lines = 0;
  for await (const batch of openLogSource(path(relative)).batches()) {
    for (const line of batch) {
      lines++;
      const result = parser.parse(line, `${relative}:${lines}`);
      if (isBadInput(result)) rejects.record(result, line);
      else {
        records.push(result);
        fieldCuts.record(parser.fieldCuts, line, `${relative}:${lines}`);
      }
    }
  }
  return { format: parser.format, records, rejects, fieldCuts, lines };
}

describe('real logs', () => {
  const elastic = 'elastic-apache-logs/apache_logs';
  it('parses the Elastic Apache sample with auto and rejects its one truncated line', {
    skip: absent(elastic),
  }, async () => {
    const { format, records, rejects, lines } = await parseFile(elastic);
    assert.equal(lines, 10_000);
    assert.equal(format, 'combined');
    assert.ok(records.length >= 9_990, `parsed ${records.length}`);
    assert.deepEqual(rejects.byReason(), { truncated: 1 });
    const [sample] = rejects.samplesOf('truncated');
    assert.equal(sample?.location, `${elastic}:8899`);
    assert.match(sample?.excerpt ?? '', /^46\.118\.127\.106 /);
    // Spot checks against the file's first line and its documented time range.
    const first = records[0]!;
    assert.equal(first.clientAddress, '83.149.9.216');
    assert.equal(first.time, Date.UTC(2015, 4, 17, 10, 5, 3));
    assert.equal(first.path, '/presentations/logstash-monitorama-2013/images/kibana-search.png');
    assert.equal(first.bytes, 203023);
    const times = records.map((record) => record.time);
    // Lines are shuffled within each minute: the earliest is not the first line.
    assert.equal(Math.min(...times), Date.UTC(2015, 4, 17, 10, 5, 0));
    assert.equal(Math.max(...times), Date.UTC(2015, 4, 20, 21, 5, 59));
    assert.equal(new Set(records.map((record) => record.clientAddress)).size, 1753);
  });

  const almhuette = 'almhuette-raith-10k/access_10k.log';
  it('parses the almhuette-raith log (combined plus a trailing "-") with auto as nginx-main', {
    skip: absent(almhuette),
  }, async () => {
    const { format, records, rejects, fieldCuts, lines } = await parseFile(almhuette);
    assert.equal(lines, 10_000);
    assert.equal(format, 'nginx-main');
    assert.equal(rejects.total, 0);
    assert.equal(records.length, 10_000);
    // The Joomla object-injection probes carry user agents over 5,000 characters: cut, kept.
    assert.deepEqual(fieldCuts.byField(), { http_user_agent: 8 });
    const probes = records.filter((r) => r.userAgent?.startsWith('}__test|O:21:'));
    assert.equal(probes.length, 8);
    for (const probe of probes) assert.equal(probe.userAgent!.length, 4096);
    // The Joomla brute force, counted independently in the raw text.
    const raw = readFileSync(path(almhuette), 'utf8');
    const expectedPosts = raw
      .split('\n')
      .filter((line) => /"POST \/administrator\/index\.php[ ?]/.test(line));
    const adminPosts = records.filter((r) => r.method === 'POST' && r.path === '/administrator/index.php');
    assert.ok(expectedPosts.length > 5_000);
    assert.equal(adminPosts.length, expectedPosts.length);
    for (let i = 1; i < records.length; i++) {
      assert.ok(records[i]!.time >= records[i - 1]!.time, 'timestamps are monotonic in this file');
    }
    assert.equal(records[0]!.time, Date.UTC(2019, 9, 14, 8, 50, 18));
  });

  const hub = 'crowdsec-hub-tests/INDEX.jsonl';
  it('parses most CrowdSec hub test logs for nginx and apache2', { skip: absent(hub) }, () => {
    interface HubTest {
      test: string;
      log_type: string;
      log_file: string;
    }
    const tests = readFileSync(path(hub), 'utf8')
      .trim()
      .split('\n')
      .map((row) => JSON.parse(row) as HubTest)
      .filter((test) => test.log_type === 'nginx' || test.log_type === 'apache2');
    assert.ok(tests.length > 40);
    const rejects = new RejectCounter();
    let lines = 0;
    let parsed = 0;
    for (const test of tests) {
      const parser = createParser('auto');
      const text = readFileSync(path(`crowdsec-hub-tests/tests/${test.test}/${test.log_file}`), 'utf8');
      text.split('\n').forEach((line, index) => {
        if (line.trim() === '') return;
        lines++;
        const result = parser.parse(line, `${test.test}:${index + 1}`);
        if (isBadInput(result)) rejects.record(result, line);
        else parsed++;
      });
    }
    // What is left: nginx/apache error-log lines (format-mismatch). TLS handshakes and other
    // binary sent to the HTTP port are requests with no method.
    assert.ok(parsed / lines >= 0.9, `parsed ${parsed} of ${lines}`);
    assert.deepEqual(Object.keys(rejects.byReason()).sort(), ['format-mismatch']);
    for (const sample of rejects.samplesOf('format-mismatch')) {
      assert.match(sample.excerpt, /^(\[\w{3} \w{3} |\d{4}\/\d\d\/\d\d )/, 'only error-log lines mismatch');
    }
  });

  it('reads the IPv6 client of the CrowdSec ipv6 test canonically', {
    skip: absent('crowdsec-hub-tests/tests/ipv6-postoverflow/ipv6-postoverflow.log'),
  }, async () => {
    const { records } = await parseFile('crowdsec-hub-tests/tests/ipv6-postoverflow/ipv6-postoverflow.log');
    assert.deepEqual(
      records.map((record) => record.clientAddress),
      ['2001:db8:85a3::8a2e:370:7334', '2001:db8:85a3::8a2e:370:7334'],
    );
  });
});
