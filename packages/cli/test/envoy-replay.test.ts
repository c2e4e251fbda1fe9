// An Envoy access log (Envoy's default format) through `edgeguard replay`: sniffed by `auto`, the
// scanner decided on by the address Envoy appended to X-Forwarded-For, never by the address the
// scanner wrote into that header itself.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { readNdjson } from './ndjson.js';

const bin = new URL('../bin/edgeguard.js', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'eg-envoy-'));
const t0 = Date.UTC(2024, 0, 21, 9, 0, 0);

/** A line of Envoy's default format, as an edge Envoy with use_remote_address writes it. */
function envoyLine(
  ms: number,
  path: string,
  status: number,
  forwardedFor: string,
  userAgent: string,
): string {
  return (
    `[${new Date(ms).toISOString()}] "GET ${path} HTTP/1.1" ${status} - 0 153 3 2 ` +
    `"${forwardedFor}" "${userAgent}" "5f0c6e2a-7d7c-4a53-9b1e-${String(ms % 1e12).padStart(12, '0')}" "shop.example" "10.1.0.7:8080"`
  );
}

function envoyLog(): string {
  const probes = '/.env /.git/config /wp-login.php /phpmyadmin/ /.aws/credentials /backup.sql'.split(' ');
  const lines: string[] = [];
  for (let i = 0; i < 60; i++) {
    // The scanner sends `X-Forwarded-For: 192.0.2.55` (someone else's address); Envoy appends its own peer.
    lines.push(
      envoyLine(
        t0 + i * 500,
        `${probes[i % probes.length]}?x=${i}`,
        404,
        '192.0.2.55, 198.51.100.66',
        'zgrab/0.x',
      ),
    );
  }
  const browser =
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
  for (let i = 0; i < 20; i++)
    lines.push(envoyLine(t0 + i * 3000, `/articles/${i}`, 200, '203.0.113.10', browser));
  // No usable address at all: counted, not attributed to anyone.
  lines.push(envoyLine(t0 + 90_000, '/', 200, '-', browser));
  return `${lines.join('\n')}\n`;
}

it('replays an Envoy log sniffed by auto, deciding on the peer Envoy appended, never on the spoofed X-Forwarded-For entry', () => {
  const out = (name: string) => join(work, name);
  const run = spawnSync(
    process.execPath,
    [
      bin,
      'replay',
      '-',
      '--decisions',
      out('d.ndjson'),
      '--verdicts',
      out('v.ndjson'),
      '--report',
      out('r.json'),
      '--quiet',
    ],
    { encoding: 'utf8', input: envoyLog() },
  );
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(readFileSync(out('r.json'), 'utf8'));
  assert.equal(report.input.format, 'envoy', 'auto settles on envoy');
  assert.equal(report.input.rejected, 1);
  assert.deepEqual(report.rejects.byReason, { 'bad-address': 1 });
  const verdicts = readNdjson(out('v.ndjson'));
  assert.deepEqual(verdicts.map((v) => v.ip).sort(), ['198.51.100.66', '203.0.113.10']);
  assert.notEqual(
    verdicts.find((v) => v.ip === '198.51.100.66')!.verdict,
    'allow',
    'the scanner is acted on',
  );
  assert.equal(verdicts.find((v) => v.ip === '203.0.113.10')!.verdict, 'allow');
  const decisions = readNdjson(out('d.ndjson'));
  assert.ok(
    decisions.some((d) => d.value === '198.51.100.66'),
    'a decision on the scanner',
  );
  assert.ok(!decisions.some((d) => String(d.value).includes('192.0.2.55')), 'nothing on the spoofed address');
});
