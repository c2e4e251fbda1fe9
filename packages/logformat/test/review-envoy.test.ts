import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBadInput } from '@edgeguard/schema';
import { clientCanShiftFields, createParser } from '../src/index.js';
import { parsed } from './parse-helpers.js';

// Findings of the rev5 review of the Envoy text formats (commits 673db8f, 1146525, 805f1ac). Each
// test states the behaviour that should hold and fails on the code reviewed.

/** Whether `line` is read with `address` as its client (the spoof worked) rather than rejected or read right. */
function blamedOn(format: string, line: string, options = {}): string | null {
  const result = createParser(format, options).parse(line);
  return isBadInput(result) ? null : result.clientAddress;
}

describe('rev5 review: Envoy formats', () => {
  // Istio's default text format (istio.io/latest/docs/tasks/observability/logs/access-log/,
  // "Default access log format"): the address comes after the client's headers and the format
  // ends with an operator, so a " " in a User-Agent moves attacker text into
  // %DOWNSTREAM_REMOTE_ADDRESS% and %ROUTE_NAME% swallows the real rest of the line.
  const istio =
    'envoy:\'[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% ' +
    '%RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" ' +
    '%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" ' +
    '"%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% ' +
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\\n'";
  const istioLine = (ua: string) =>
    `[2024-01-21T10:00:00.123Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 15 22 4 "203.0.113.50" "${ua}" ` +
    '"rid" "shop.example" "10.1.0.7:8080" outbound|80||svc 10.1.0.1:40000 10.1.0.2:8080 203.0.113.50:51234 - default';

  it('a client cannot choose its address through a User-Agent in Istio’s default format', {}, () => {
    assert.equal(blamedOn(istio, istioLine('curl/8')), '203.0.113.50');
    const spoof = istioLine('curl/8" "r" "a" "u" c l d 66.249.66.1:1 - x');
    assert.notEqual(blamedOn(istio, spoof), '66.249.66.1', 'read with the address the client wrote');
  });

  it('a format whose address follows a client header and that ends with an operator is flagged', {}, () => {
    // No X-Forwarded-For logged: clientCanShiftFields (the only warning) is false, yet the peer shifts.
    const format =
      'envoy:\'[%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" %RESPONSE_CODE% "%REQ(USER-AGENT)%" %DOWNSTREAM_REMOTE_ADDRESS% %ROUTE_NAME%\'';
    const spoof =
      '[2024-01-21T10:00:00.123Z] "GET / HTTP/1.1" 200 "x" 66.249.66.1:1 r" 203.0.113.50:5 default';
    // The real rest of the line, left in the one-word %ROUTE_NAME%, gives this shift away (rejected);
    // the format is flagged all the same: other separators let shifts through (next test).
    assert.notEqual(blamedOn(format, spoof), '66.249.66.1', 'the spoof works');
    assert.equal(clientCanShiftFields(format), true, 'so the format must be flagged (or refused)');
  });

  it('a trailing literal does not stop a shift when the separators differ', {}, () => {
    const format =
      'envoy:\'[%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" %RESPONSE_CODE% "%REQ(USER-AGENT)%" %DOWNSTREAM_REMOTE_ADDRESS% %DURATION%ms\'';
    const honest = '[2024-01-21T10:00:00.123Z] "GET / HTTP/1.1" 200 "curl" 203.0.113.50:5 22ms';
    assert.equal(blamedOn(format, honest), '203.0.113.50');
    // User-Agent `x" 66.249.66.1:1 1`: the real address and duration end up in %DURATION%.
    const spoof = '[2024-01-21T10:00:00.123Z] "GET / HTTP/1.1" 200 "x" 66.249.66.1:1 1" 203.0.113.50:5 22ms';
    const blamed = blamedOn(format, spoof);
    assert.ok(blamed !== '66.249.66.1' || clientCanShiftFields(format), 'shifted silently, no warning');
  });

  it('refuses %REQ(X-FORWARDED-FOR):N% (Envoy keeps the leftmost N characters: the hops proxies append are cut)', {}, () => {
    // Client sends `X-Forwarded-For: 66.249.66.1, 6.6.6.6`, Envoy appends `, 203.0.113.50`, logs 20 chars.
    const format =
      'envoy:\'[%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" %RESPONSE_CODE% "%REQ(X-FORWARDED-FOR):20%" "%REQ(USER-AGENT)%"\'';
    const logged = '66.249.66.1, 6.6.6.6, 203.0.113.50'.slice(0, 20);
    let blamed: string | null = null;
    assert.throws(() => {
      blamed = blamedOn(format, `[2024-01-21T10:00:00.123Z] "GET / HTTP/1.1" 200 "${logged}" "curl"`);
    }, /X-FORWARDED-FOR/);
    assert.equal(blamed, null, "read with the client's own hop as its address");
  });

  it('refuses a START_TIME rendering holding the separator that follows it (else every line is rejected)', {}, () => {
    const format =
      'envoy:\'%START_TIME(%Y-%m-%d %H:%M:%S.%3fZ)% %DOWNSTREAM_REMOTE_ADDRESS% "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" %RESPONSE_CODE%\'';
    let parser: ReturnType<typeof createParser> | null = null;
    try {
      parser = createParser(format);
    } catch (error) {
      // Refused at compile time: fine, when the message says why.
      assert.match(String(error), /renders times like "2024-01-21 10:00:00\.123Z", which hold the " "/);
      return;
    }
    // Or read: the time is one value.
    assert.equal(
      parsed(parser, '2024-01-21 10:00:00.123Z 1.2.3.4:5 "GET / HTTP/1.1" 200').peerAddress,
      '1.2.3.4',
    );
  });
  it('keeps a malformed request Envoy logs as "- - HTTP/1.1" (as nginx keeps "-"), so a garbage-sending client is seen', {}, () => {
    const format =
      'envoy:\'%DOWNSTREAM_DIRECT_REMOTE_ADDRESS% [%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%\'';
    const record = parsed(
      createParser(format),
      '203.0.113.9:5 [2024-01-21T10:00:00.123Z] "- - HTTP/1.1" 400 DPE',
    );
    assert.equal(record.status, 400);
    // nginx reads `"-" 400` as path "-" (combined): the same client shows up there.
    assert.equal(
      parsed(createParser('combined'), '203.0.113.9 - - [21/Jan/2024:10:00:00 +0000] "-" 400 0 "-" "-"').path,
      '-',
    );
  });

  it('reads an address with a port up to 65535 only, and brackets around an IPv6 address only', () => {
    const format =
      'envoy:\'%DOWNSTREAM_DIRECT_REMOTE_ADDRESS% [%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" %RESPONSE_CODE%\'';
    const peer = (address: string) =>
      blamedOn(format, `${address} [2024-01-21T10:00:00.123Z] "GET / HTTP/1.1" 200`);
    assert.equal(peer('203.0.113.9:65535'), '203.0.113.9');
    assert.equal(peer('203.0.113.9:65536'), null);
    assert.equal(peer('203.0.113.9:99999'), null);
    assert.equal(peer('[2001:db8::9]:443'), '2001:db8::9');
    assert.equal(peer('[203.0.113.9]:80'), null);
    assert.equal(peer('[203.0.113.9]'), null);
  });
});
