import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadInput } from '@edgeguard/schema';
import {
  clientCanShiftFields,
  createParser,
  ENVOY_DEFAULT_FORMAT,
  logsClientBehindProxies,
  readEnvoyFormatSpec,
  sniffFormat,
  unknownNginxVariables,
} from '../src/index.js';
import { parsed, rejected } from './parse-helpers.js';

/** A default-format line with `fields` replacing its parts. */
function line(
  fields: Partial<Record<'time' | 'request' | 'status' | 'xff' | 'ua' | 'authority', string>> = {},
): string {
  const f = {
    time: '2024-01-21T10:00:00.123Z',
    request: 'GET /wp-login.php?redirect=%2F HTTP/1.1',
    status: '404',
    xff: '192.0.2.55, 198.51.100.66',
    ua: 'Mozilla/5.0 zgrab/0.x',
    authority: 'shop.example:443',
    ...fields,
  };
  return `[${f.time}] "${f.request}" ${f.status} NR 0 153 7 4 "${f.xff}" "${f.ua}" "5f0c6e2a-7d7c" "${f.authority}" "10.1.0.7:8080"`;
}

describe('envoy: the default format', () => {
  const parser = createParser('envoy');

  it('reads every field of a line', () => {
    assert.equal(parser.format, 'envoy');
    const record = parsed(parser, line());
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
    assert.equal(record.requestId, '5f0c6e2a-7d7c');
    assert.equal(record.host, 'shop.example', ':authority without its port');
    assert.equal(record.peerAddress, '198.51.100.66');
    assert.equal(record.clientAddress, '198.51.100.66');
  });

  it("never attributes a request to the X-Forwarded-For entries left of the one Envoy appended (the client's own)", () => {
    const spoofed = parsed(parser, line({ xff: '66.249.66.1, 198.51.100.66' }));
    assert.equal(spoofed.peerAddress, '198.51.100.66');
    assert.equal(spoofed.clientAddress, '198.51.100.66');
    // Behind a trusted balancer: the walk stops at the first untrusted hop from the right.
    const behind = createParser('envoy', { trustedProxies: ['10.0.0.0/8'] });
    const record = parsed(behind, line({ xff: '66.249.66.1, 198.51.100.66, 10.0.0.5' }));
    assert.equal(record.peerAddress, '10.0.0.5');
    assert.equal(record.clientAddress, '198.51.100.66');
  });

  it('reads IPv6, a port on the hop, and "-" as empty', () => {
    const record = parsed(
      parser,
      '[2024-01-21T10:00:00.000Z] "GET / HTTP/2" 200 - 0 15 22 - "[2001:db8::7]:443" "-" "-" "-" "-"',
    );
    assert.equal(record.peerAddress, '2001:db8::7');
    assert.equal(record.userAgent, null);
    assert.equal(record.requestId, null);
    assert.equal(record.host, null);
    assert.equal(record.originDurationMs, null);
    assert.equal(record.protocol, 'HTTP/2');
  });

  it('rejects a line with no usable address as bad-address, saying why', () => {
    for (const xff of ['-', 'unknown', '198.51.100.66, ']) {
      const bad = rejected(parser, line({ xff }));
      assert.equal(bad.reason, 'bad-address', xff);
      assert.match(bad.message, /no client address/);
    }
  });

  it('keeps a lone quote inside a User-Agent, and rejects a `" "` that would shift the fields after it', () => {
    assert.equal(parsed(parser, line({ ua: 'Mozilla "x' })).userAgent, 'Mozilla "x');
    // The scanner's User-Agent imitates a field boundary and a crawler's address.
    const shifted = rejected(parser, line({ ua: 'x" "66.249.66.1' }));
    assert.equal(shifted.reason, 'format-mismatch');
    assert.match(shifted.message, /unescaped/);
    // A `" "` in X-Forwarded-For would make its left part (the client's) read as the whole header.
    assert.equal(rejected(parser, line({ xff: '66.249.66.1" "x, 198.51.100.66' })).reason, 'format-mismatch');
  });

  it("reads Envoy's status 0 (no response sent: the downstream went away first) as 499, as nginx logs that event", () => {
    const record = parsed(parser, line({ status: '0' }));
    assert.equal(record.status, 499);
    assert.equal(record.clientAddress, '198.51.100.66', 'and it counts for the client');
    const custom = createParser(
      'envoy:\'%DOWNSTREAM_REMOTE_ADDRESS% [%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" %RESPONSE_CODE% %BYTES_SENT%\'',
    );
    assert.equal(
      parsed(custom, '203.0.113.9:4242 [2024-01-21T10:00:00.123Z] "GET / HTTP/1.1" 0 0').status,
      499,
    );
  });

  it('rejects bad times, statuses and truncated lines with their reasons', () => {
    assert.equal(rejected(parser, line({ time: '2024-13-21T10:00:00.123Z' })).reason, 'bad-timestamp');
    assert.equal(rejected(parser, line({ time: '21/Jan/2024:10:00:00 +0000' })).reason, 'bad-timestamp');
    assert.equal(rejected(parser, line({ status: '00' })).reason, 'bad-status');
    assert.equal(rejected(parser, line({ status: '1' })).reason, 'bad-status');
    const whole = line();
    const truncated = rejected(parser, whole.slice(0, whole.indexOf('zgrab')));
    assert.equal(truncated.reason, 'truncated');
    assert.match(truncated.message, /%REQ\(USER-AGENT\)%/);
    assert.equal(
      rejected(parser, '2024/01/21 10:00:00 [error] 12#0: upstream timed out').reason,
      'format-mismatch',
    );
  });

  it('cuts an oversized User-Agent and keeps the line, noting the cut', () => {
    const small = createParser('envoy', { maxFieldLength: 64 });
    const record = parsed(small, line({ ua: `zgrab/${'A'.repeat(500)}` }));
    assert.equal(record.userAgent?.length, 64);
    assert.deepEqual(small.fieldCuts, [{ field: 'REQ(USER-AGENT)', length: 506 }]);
  });

  it('is what `auto` chooses for it, and what envoy:<the default format string> reads the same', () => {
    const lines = Array.from({ length: 25 }, () => line());
    assert.equal(sniffFormat(lines), 'envoy');
    const spelled = createParser(`envoy:'${ENVOY_DEFAULT_FORMAT}\\n'`);
    assert.equal(spelled.format, `envoy:'${ENVOY_DEFAULT_FORMAT}'`);
    assert.deepEqual(parsed(spelled, line()), parsed(parser, line()));
    assert.equal(logsClientBehindProxies('envoy'), true);
  });
});

describe('envoy: custom format strings', () => {
  it('reads the peer from DOWNSTREAM_DIRECT_REMOTE_ADDRESS and walks X-Forwarded-For only from a trusted peer', () => {
    const format =
      'envoy:\'%DOWNSTREAM_DIRECT_REMOTE_ADDRESS% [%START_TIME(%s.%3f)%] "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" ' +
      '%RESPONSE_CODE% %BYTES_SENT% %DURATION% "%REQ(REFERER)%" "%REQ(USER-AGENT):64%" "%REQ(ACCEPT-LANGUAGE)%" ' +
      '"%REQ(X-FORWARDED-FOR)%" %REQUESTED_SERVER_NAME% %DOWNSTREAM_TLS_VERSION% %CONNECTION_ID%\'';
    const parser = createParser(format, { trustedProxies: ['10.0.0.0/8'] });
    const text =
      '10.0.0.5:41234 [1705831200.123] "POST /login HTTP/1.1" 401 12 30 "https://shop.example/" "curl/8" ' +
      '"de-DE" "66.249.66.1, 198.51.100.66" sni.example TLSv1.3 77';
    const record = parsed(parser, text);
    assert.equal(record.time, 1705831200123);
    assert.equal(record.peerAddress, '10.0.0.5');
    assert.equal(record.clientAddress, '198.51.100.66');
    assert.equal(record.referer, 'https://shop.example/');
    assert.equal(record.acceptLanguage, 'de-DE');
    assert.equal(record.host, 'sni.example');
    assert.equal(record.bytes, 12);
    // From a peer that is not trusted, its X-Forwarded-For is its own claim.
    const direct = parsed(parser, text.replace('10.0.0.5:41234', '[2001:db8::9]:5000'));
    assert.equal(direct.clientAddress, '2001:db8::9');
    assert.deepEqual(unknownNginxVariables(format), ['CONNECTION_ID']);
    assert.equal(
      clientCanShiftFields(format),
      true,
      'unquoted fields after X-Forwarded-For, none after the last',
    );
  });

  it('believes the address Envoy resolved only when the direct peer is a trusted proxy', () => {
    const format =
      "envoy:'%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_REMOTE_ADDRESS% [%START_TIME%] %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%'";
    const parser = createParser(format, { trustedProxies: ['10.0.0.0/8'] });
    const viaBalancer = parsed(parser, '10.0.0.5 198.51.100.66:1234 [2024-01-21T10:00:00.000Z] GET / 200');
    assert.deepEqual([viaBalancer.peerAddress, viaBalancer.clientAddress], ['10.0.0.5', '198.51.100.66']);
    const fromOutside = parsed(parser, '203.0.113.9 66.249.66.1:1234 [2024-01-21T10:00:00.000Z] GET / 200');
    assert.deepEqual([fromOutside.peerAddress, fromOutside.clientAddress], ['203.0.113.9', '203.0.113.9']);
    assert.equal(logsClientBehindProxies(format), true);
    // With only the resolved address, it is the peer (what Envoy concluded).
    const resolvedOnly = createParser(
      "envoy:'%DOWNSTREAM_REMOTE_ADDRESS% [%START_TIME%] %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%'",
    );
    assert.equal(
      parsed(resolvedOnly, '198.51.100.66:1234 [2024-01-21T10:00:00.000Z] GET / 200').peerAddress,
      '198.51.100.66',
    );
    assert.equal(rejected(resolvedOnly, 'nope:1 [2024-01-21T10:00:00.000Z] GET / 200').reason, 'bad-address');
  });

  it('reads the aliases of the latest docs, and START_TIME as RFC 3339 with %z', () => {
    const parser = createParser(
      "envoy:'%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %START_TIME(%Y-%m-%dT%H:%M:%S%z)% %REQUEST_HEADER(:METHOD)% %REQUEST_HEADER(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESPONSE_CODE% %RESPONSE_HEADER(X-ENVOY-UPSTREAM-SERVICE-TIME)%'",
    );
    const record = parsed(parser, '198.51.100.66 2024-01-21T11:00:00+0100 GET /a?b=1 200 12');
    assert.equal(record.time, Date.UTC(2024, 0, 21, 10));
    assert.equal(record.originDurationMs, 12);
    assert.equal(record.query, 'b=1');
  });

  it('refuses a malformed format string, naming what is wrong', () => {
    const cases: [string, RegExp][] = [
      [
        "envoy:'%DOWNSTREAM_REMOTE_ADDRESS% %START_TIME% %REQ(:METHOD % %REQ(:PATH)% %RESPONSE_CODE%'",
        /the % at character \d+ .* starts no command operator/,
      ],
      [
        "envoy:'%DOWNSTREAM_REMOTE_ADDRESS%%START_TIME% %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%'",
        /touch with no separator/,
      ],
      [
        "envoy:'%DOWNSTREAM_REMOTE_ADDRESS% %START_TIME(%d/%b/%Y)% %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%'",
        /not a time edgeguard reads/,
      ],
      ["envoy:'%START_TIME% %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%'", /must log an address/],
      [
        "envoy:'%DOWNSTREAM_REMOTE_ADDRESS% %START_TIME% %RESPONSE_CODE%'",
        /must log %REQ\(:METHOD\)% and %REQ\(:PATH\)%/,
      ],
    ];
    for (const [format, message] of cases) {
      let error: unknown = null;
      try {
        createParser(format);
      } catch (thrown) {
        error = thrown;
      }
      assert.ok(error instanceof BadInput, format);
      assert.equal(error.reason, 'bad-log-format');
      assert.match(error.message, message);
    }
    assert.throws(() => createParser('[%START_TIME%] %RESPONSE_CODE%'), /given as envoy:'/);
  });

  it('takes the format string as YAML or JSON quote it, without its newline', () => {
    assert.equal(
      readEnvoyFormatSpec('"[%START_TIME%] \\"%REQ(:METHOD)%\\"\\n"'),
      '[%START_TIME%] "%REQ(:METHOD)%"',
    );
    assert.equal(readEnvoyFormatSpec("'%PROTOCOL% x'"), '%PROTOCOL% x');
    assert.equal(readEnvoyFormatSpec('%PROTOCOL%\n'), '%PROTOCOL%');
  });
});
