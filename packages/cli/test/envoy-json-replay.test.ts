// An Envoy JSON access log (Istio's default keys) through `edgeguard replay`: sniffed by `auto`; a
// scanner whose User-Agent holds `" "` (which shifts the fields of Envoy's unescaped text format,
// envoyproxy/envoy#4191) is parsed and decided on, while the same requests in the text format are
// all rejected and the scanner goes unseen.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { readNdjson } from './ndjson.js';

const bin = new URL('../bin/edgeguard.js', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'eg-envoy-json-'));
const t0 = Date.UTC(2024, 0, 21, 9, 0, 0);

interface Request {
  ms: number;
  path: string;
  status: number;
  address: string;
  forwardedFor: string | null;
  userAgent: string;
}

const scannerAgent = 'zgrab/0.x" "-" "Mozilla/5.0';
const browser =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

function requests(): Request[] {
  const probes = '/.env /.git/config /wp-login.php /phpmyadmin/ /.aws/credentials /backup.sql'.split(' ');
  const list: Request[] = [];
  for (let i = 0; i < 60; i++) {
    list.push({
      ms: t0 + i * 500,
      path: `${probes[i % probes.length]}?x=${i}`,
      // Every tenth probe: the scanner hung up before the answer (Envoy's 0, read as 499).
      status: i % 10 === 9 ? 0 : 404,
      address: `198.51.100.66:${40000 + i}`,
      // The scanner's own claim: never the client (no trusted proxies).
      forwardedFor: '192.0.2.55',
      userAgent: scannerAgent,
    });
  }
  for (let i = 0; i < 20; i++) {
    list.push({
      ms: t0 + i * 3000,
      path: `/articles/${i}`,
      status: 200,
      address: `[2001:db8::10]:${50000 + i}`,
      forwardedFor: null,
      userAgent: browser,
    });
  }
  return list;
}

/** Istio's default JSON encoding (keys of EnvoyJSONLogFormatIstio), numbers typed, unset null. */
function istioLine(r: Request): string {
  return JSON.stringify({
    start_time: new Date(r.ms).toISOString(),
    route_name: 'default',
    method: 'GET',
    path: r.path,
    protocol: 'HTTP/1.1',
    response_code: r.status,
    response_flags: r.status === 0 ? 'DC' : '-',
    response_code_details: r.status === 0 ? 'downstream_remote_disconnect' : 'via_upstream',
    connection_termination_details: null,
    bytes_received: 0,
    bytes_sent: r.status === 0 ? 0 : 153,
    duration: 3,
    upstream_service_time: r.status === 0 ? null : '2',
    x_forwarded_for: r.forwardedFor,
    user_agent: r.userAgent,
    request_id: `5f0c6e2a-${r.ms}`,
    authority: 'shop.example',
    upstream_host: '10.1.0.7:8080',
    upstream_cluster: 'outbound|8080||shop.default.svc.cluster.local',
    upstream_local_address: '10.1.0.3:41234',
    downstream_local_address: '10.1.0.3:8080',
    downstream_remote_address: r.address,
    requested_server_name: null,
    upstream_transport_failure_reason: null,
  });
}

/** The same request in an `envoy:` text format that logs the same fields (Envoy escapes nothing). */
const TEXT_FORMAT =
  'envoy:\'%DOWNSTREAM_REMOTE_ADDRESS% [%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" %RESPONSE_CODE% %BYTES_SENT% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"\'';
function textLine(r: Request): string {
  return `${r.address} [${new Date(r.ms).toISOString()}] "GET ${r.path} HTTP/1.1" ${r.status} 0 "${r.forwardedFor ?? '-'}" "${r.userAgent}"`;
}

function replay(name: string, log: string, format: string[]) {
  const out = (file: string) => join(work, `${name}-${file}`);
  const run = spawnSync(
    process.execPath,
    [
      bin,
      'replay',
      '-',
      ...format,
      '--decisions',
      out('d.ndjson'),
      '--verdicts',
      out('v.ndjson'),
      '--report',
      out('r.json'),
      '--quiet',
    ],
    { encoding: 'utf8', input: log },
  );
  assert.equal(run.status === 0 || run.status === 3, true, `exit ${run.status}: ${run.stderr}`);
  return {
    report: JSON.parse(readFileSync(out('r.json'), 'utf8')),
    verdicts: readNdjson(out('v.ndjson')),
    decisions: readNdjson(out('d.ndjson')),
  };
}

it('replays an Envoy JSON log sniffed by auto and decides on a scanner whose User-Agent holds " " (its text-format lines are all rejected)', () => {
  const list = requests();
  const json = replay('json', `${list.map(istioLine).join('\n')}\n`, []);
  assert.equal(json.report.input.format, 'envoy-json', 'auto settles on envoy-json');
  assert.equal(json.report.input.rejected, 0, 'status 0 lines are read (as 499), not rejected');
  assert.deepEqual(json.verdicts.map((v) => v.ip).sort(), ['198.51.100.66', '2001:db8::10']);
  assert.notEqual(
    json.verdicts.find((v) => v.ip === '198.51.100.66')!.verdict,
    'allow',
    'the quote-injecting scanner is acted on',
  );
  assert.equal(json.verdicts.find((v) => v.ip === '2001:db8::10')!.verdict, 'allow');
  assert.ok(json.decisions.some((d) => d.value === '198.51.100.66'));
  assert.ok(
    !json.decisions.some((d) => String(d.value).includes('192.0.2.55')),
    'nothing on the spoofed address',
  );

  // The same traffic in Envoy's text format: every scanner line is format-mismatch, the scanner unseen.
  const text = replay('text', `${list.map(textLine).join('\n')}\n`, ['--format', TEXT_FORMAT]);
  assert.equal(text.report.input.rejected, 60);
  assert.deepEqual(text.report.rejects.byReason, { 'format-mismatch': 60 });
  assert.ok(!text.verdicts.some((v) => v.ip === '198.51.100.66'));
  assert.ok(!text.decisions.some((d) => d.value === '198.51.100.66'));
});
