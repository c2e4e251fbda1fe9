import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createParser, logsClientBehindProxies, sniffFormat } from '../src/index.js';
import { parsed, rejected } from './parse-helpers.js';

/**
 * A line as Istio's default JSON encoding writes it (keys of EnvoyJSONLogFormatIstio, in
 * istio/istio pilot/pkg/model/telemetry_logging.go): numbers for the numeric operators, null for
 * what was not set. `fields` replaces or adds keys.
 */
function istio(fields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    start_time: '2024-01-21T10:00:00.123Z',
    route_name: 'default',
    method: 'GET',
    path: '/wp-login.php?redirect=%2F',
    protocol: 'HTTP/1.1',
    response_code: 404,
    response_flags: 'NR',
    response_code_details: 'route_not_found',
    connection_termination_details: null,
    bytes_received: 0,
    bytes_sent: 153,
    duration: 7,
    upstream_service_time: '4',
    x_forwarded_for: '192.0.2.55, 198.51.100.66',
    user_agent: 'Mozilla/5.0 zgrab/0.x',
    request_id: '5f0c6e2a-7d7c-4a53-9b1e-1c2d3e4f5a6b',
    authority: 'shop.example:443',
    upstream_host: '10.1.0.7:8080',
    upstream_cluster: 'outbound|8080||shop.default.svc.cluster.local',
    upstream_local_address: '10.1.0.3:41234',
    downstream_local_address: '10.1.0.3:8443',
    downstream_remote_address: '198.51.100.66:52311',
    requested_server_name: 'shop.example',
    upstream_transport_failure_reason: null,
    ...fields,
  });
}

describe('envoy-json', () => {
  const parser = createParser('envoy-json');

  it('reads every field of an Istio line', () => {
    assert.equal(parser.format, 'envoy-json');
    const record = parsed(parser, istio());
    assert.equal(record.time, Date.UTC(2024, 0, 21, 10, 0, 0, 123));
    assert.equal(record.method, 'GET');
    assert.equal(record.path, '/wp-login.php');
    assert.equal(record.query, 'redirect=%2F');
    assert.equal(record.protocol, 'HTTP/1.1');
    assert.equal(record.status, 404);
    assert.equal(record.bytes, 153);
    assert.equal(record.edgeDurationMs, 7);
    assert.equal(record.originDurationMs, 4);
    assert.equal(record.userAgent, 'Mozilla/5.0 zgrab/0.x');
    assert.equal(record.requestId, '5f0c6e2a-7d7c-4a53-9b1e-1c2d3e4f5a6b');
    assert.equal(record.host, 'shop.example', 'authority without its port');
    assert.equal(record.peerAddress, '198.51.100.66', 'downstream_remote_address without its port');
    assert.equal(record.clientAddress, '198.51.100.66');
  });

  it('reads numbers written as digits, and null or "-" as unset', () => {
    const strings = parsed(
      parser,
      istio({ response_code: '200', bytes_sent: '12', duration: '3', upstream_service_time: '1' }),
    );
    assert.deepEqual(
      [strings.status, strings.bytes, strings.edgeDurationMs, strings.originDurationMs],
      [200, 12, 3, 1],
    );
    const unset = parsed(
      parser,
      istio({
        bytes_sent: null,
        duration: '-',
        upstream_service_time: null,
        user_agent: '-',
        request_id: null,
        authority: null,
        x_forwarded_for: null,
      }),
    );
    assert.equal(unset.bytes, 0);
    assert.equal(unset.edgeDurationMs, null);
    assert.equal(unset.originDurationMs, null);
    assert.equal(unset.userAgent, null);
    assert.equal(unset.requestId, null);
    assert.equal(unset.host, 'shop.example', 'requested_server_name when no authority');
    assert.equal(unset.clientAddress, '198.51.100.66');
  });

  it('reads IPv6 peers with and without a port', () => {
    for (const address of ['[2001:db8::7]:443', '2001:db8::7', '[2001:DB8:0::7]:1']) {
      const record = parsed(parser, istio({ downstream_remote_address: address }));
      assert.equal(record.peerAddress, '2001:db8::7', address);
    }
    assert.equal(
      parsed(parser, istio({ downstream_remote_address: '203.0.113.9' })).peerAddress,
      '203.0.113.9',
    );
  });

  it('attributes and parses a client whose User-Agent holds quotes: JSON escapes them (envoyproxy/envoy#4191 breaks only the text format)', () => {
    const hostile = 'zgrab" "200" "-" "x';
    const record = parsed(parser, istio({ user_agent: hostile, x_forwarded_for: null }));
    assert.equal(record.userAgent, hostile);
    assert.equal(record.status, 404);
    assert.equal(record.clientAddress, '198.51.100.66');
  });

  it('reads status 0 (no response sent: the downstream went away) as 499', () => {
    assert.equal(parsed(parser, istio({ response_code: 0, response_flags: 'DC' })).status, 499);
    assert.equal(parsed(parser, istio({ response_code: '0' })).status, 499);
    for (const status of [42, 1000, -1, 200.5, 'OK', true])
      assert.equal(rejected(parser, istio({ response_code: status })).reason, 'bad-status', String(status));
  });

  it('never takes a spoofed left-most X-Forwarded-For hop as the client', () => {
    // No trusted proxies: the peer is the client, whatever X-Forwarded-For claims.
    const direct = parsed(parser, istio({ x_forwarded_for: '66.249.66.1' }));
    assert.equal(direct.clientAddress, '198.51.100.66');
    // Behind a trusted balancer: the walk from the right stops at the first untrusted hop.
    const behind = createParser('envoy-json', { trustedProxies: ['10.0.0.0/8'] });
    const record = parsed(
      behind,
      istio({ downstream_remote_address: '10.0.0.5:3321', x_forwarded_for: '66.249.66.1, 198.51.100.66' }),
    );
    assert.equal(record.peerAddress, '10.0.0.5');
    assert.equal(record.clientAddress, '198.51.100.66');
    // No address logged: the rightmost hop (the one Envoy appended), as in the text format.
    const noAddress = parsed(parser, istio({ downstream_remote_address: null }));
    assert.equal(noAddress.peerAddress, '198.51.100.66');
    assert.equal(noAddress.clientAddress, '198.51.100.66');
  });

  it('reads Envoy Gateway\'s default keys (a JSON-shaped text format: header names as keys, "-" for unset)', () => {
    const line = JSON.stringify({
      start_time: '2024-01-21T10:00:00.123Z',
      method: 'POST',
      'x-envoy-origin-path': '/login?next=%2F',
      protocol: 'HTTP/2',
      response_code: '401',
      response_flags: '-',
      bytes_received: '48',
      bytes_sent: '19',
      duration: '5',
      'x-envoy-upstream-service-time': '3',
      'x-forwarded-for': '198.51.100.66',
      'user-agent': 'curl/8.5.0',
      'x-request-id': 'eg-1',
      ':authority': 'api.example',
      upstream_host: '10.1.0.9:3000',
      downstream_remote_address: '[2001:db8::5]:40000',
      requested_server_name: '-',
      route_name: 'httproute/default/api/rule/0/match/0/api_example',
    });
    const record = parsed(parser, line);
    assert.equal(record.method, 'POST');
    assert.equal(record.path, '/login');
    assert.equal(record.query, 'next=%2F');
    assert.equal(record.status, 401);
    assert.equal(record.bytes, 19);
    assert.equal(record.edgeDurationMs, 5);
    assert.equal(record.originDurationMs, 3);
    assert.equal(record.userAgent, 'curl/8.5.0');
    assert.equal(record.requestId, 'eg-1');
    assert.equal(record.host, 'api.example');
    assert.equal(record.peerAddress, '2001:db8::5');
  });

  it('cuts oversized fields and keeps the line, noting the cuts', () => {
    const small = createParser('envoy-json', { maxFieldLength: 64, trustedProxies: ['10.0.0.0/8'] });
    const hops = Array.from({ length: 40 }, (_, i) => `192.0.2.${i}`).join(', ');
    const record = parsed(
      small,
      istio({
        user_agent: `zgrab/${'A'.repeat(500)}`,
        x_forwarded_for: `${hops}, 198.51.100.66`,
        downstream_remote_address: '10.0.0.5:1',
      }),
    );
    assert.equal(record.userAgent?.length, 64);
    assert.equal(record.clientAddress, '198.51.100.66', 'the rightmost hops are the ones kept');
    assert.deepEqual(
      small.fieldCuts.map((cut) => cut.field),
      ['user_agent', 'x_forwarded_for'],
    );
    assert.equal(
      rejected(createParser('envoy-json', { maxLineLength: 200 }), istio()).reason,
      'oversized-line',
    );
  });

  it('rejects malformed and incomplete lines with a reason', () => {
    assert.equal(rejected(parser, '{"start_time": "2024-01-21T10:00:00Z", "method": ').reason, 'truncated');
    assert.equal(rejected(parser, '{"start_time": 2024-01-21}').reason, 'bad-json');
    assert.equal(rejected(parser, '[1, 2]').reason, 'bad-json');
    assert.equal(rejected(parser, '[2024-01-21T10:00:00.123Z] "GET / HTTP/1.1" 200').reason, 'bad-json');
    const noMethod = rejected(parser, istio({ method: null, path: null, protocol: null, response_code: 0 }));
    assert.equal(noMethod.reason, 'missing-field', 'a TCP connection entry is not a request');
    assert.equal(noMethod.field, 'method');
    assert.equal(rejected(parser, istio({ start_time: null })).field, 'start_time');
    assert.equal(rejected(parser, istio({ start_time: 'yesterday' })).reason, 'bad-timestamp');
    assert.equal(rejected(parser, istio({ response_code: undefined })).field, 'response_code');
    assert.equal(rejected(parser, istio({ bytes_sent: 'many' })).reason, 'bad-bytes');
    const badAddress = rejected(parser, istio({ downstream_remote_address: 'envoy.sock' }));
    assert.equal(badAddress.reason, 'bad-address');
    assert.equal(badAddress.field, 'downstream_remote_address');
    assert.equal(badAddress.location, 'test.log:1');
    const none = rejected(parser, istio({ downstream_remote_address: null, x_forwarded_for: 'unknown' }));
    assert.equal(none.reason, 'bad-address');
  });

  it('is sniffed by auto, and never confused with Cloudflare Logpush lines', () => {
    const lines = Array.from({ length: 25 }, (_, i) => istio({ request_id: `r${i}` }));
    assert.equal(sniffFormat(lines), 'envoy-json');
    const logpush = JSON.stringify({
      ClientIP: '198.51.100.1',
      ClientRequestMethod: 'GET',
      ClientRequestURI: '/',
      EdgeStartTimestamp: 1705829412,
      EdgeResponseStatus: 200,
    });
    assert.equal(sniffFormat([logpush, logpush]), 'cloudflare');
    assert.equal(rejected(parser, logpush).reason, 'missing-field');
    assert.equal(rejected(createParser('cloudflare'), istio()).reason, 'missing-field');
    const auto = createParser('auto');
    for (const line of lines) parsed(auto, line);
    assert.equal(auto.format, 'envoy-json');
    assert.equal(logsClientBehindProxies('envoy-json'), true);
  });
});
