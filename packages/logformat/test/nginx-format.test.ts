import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { type AccessLog, BadInput, isBadInput } from '@edgeguard/schema';
import {
  compileNginxLogFormat,
  createParser,
  type LineParser,
  readNginxFormatSpec,
  secondsListToMs,
  unknownNginxVariables,
} from '../src/index.js';

function parsed(parser: LineParser, line: string): AccessLog {
  const result = parser.parse(line);
  if (isBadInput(result)) assert.fail(`expected a record, got ${result.reason}: ${result.message}`);
  return result;
}

// A format logging every variable the brief lists, in the style of real nginx.conf log_formats.
const everything =
  'nginx:\'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent $bytes_sent \' ' +
  '\'"$http_referer" "$http_user_agent" "$http_x_forwarded_for" rt=$request_time \' ' +
  '\'uct="$upstream_cache_status" urt="$upstream_response_time" host=$host sn=$server_name \' ' +
  '\'tls=$ssl_protocol/$ssl_cipher lang="$http_accept_language" id=$request_id node=$hostname\'';

describe('nginx log_format: every supported variable', () => {
  const parser = createParser(everything);
  const line =
    '10.0.0.2 - bob [21/Jan/2024:09:30:12 +0100] "GET /search?q=bots HTTP/2.0" 200 1234 1500 ' +
    '"https://ref.example/" "curl/8.5.0" "192.0.2.10, 10.0.0.9" rt=0.250 ' +
    'uct="miss" urt="0.100, 0.050" host=Shop.Example sn=_ ' +
    'tls=TLSv1.3/TLS_AES_128_GCM_SHA256 lang="de-AT,de;q=0.9" id=7f3a node=edge-fra-1';

  it('maps each variable to its AccessLog field', () => {
    const record = parsed(parser, line);
    assert.equal(record.peerAddress, '10.0.0.2');
    assert.equal(record.clientAddress, '10.0.0.2', 'X-Forwarded-For is ignored without trusted proxies');
    assert.equal(record.time, Date.UTC(2024, 0, 21, 8, 30, 12));
    assert.equal(record.method, 'GET');
    assert.equal(record.path, '/search');
    assert.equal(record.query, 'q=bots');
    assert.equal(record.protocol, 'HTTP/2.0');
    assert.equal(record.status, 200);
    assert.equal(record.bytes, 1500, '$bytes_sent wins over $body_bytes_sent');
    assert.equal(record.referer, 'https://ref.example/');
    assert.equal(record.userAgent, 'curl/8.5.0');
    assert.equal(record.edgeDurationMs, 250);
    assert.equal(record.cacheStatus, 'MISS');
    assert.equal(record.originDurationMs, 150, 'a list of upstream times is summed');
    assert.equal(record.host, 'shop.example');
    assert.equal(record.acceptLanguage, 'de-AT,de;q=0.9');
    assert.equal(record.requestId, '7f3a');
    assert.equal(record.edgeNode, 'edge-fra-1');
  });

  it('resolves the client from $http_x_forwarded_for behind a trusted proxy', () => {
    const behind = createParser(everything, { trustedProxies: ['10.0.0.0/8'] });
    assert.equal(parsed(behind, line).clientAddress, '192.0.2.10');
  });

  it('turns "-" values into null, and a "-" upstream time (cache hit) into a null origin time', () => {
    const hit = line
      .replace('"https://ref.example/"', '"-"')
      .replace('uct="miss"', 'uct="HIT"')
      .replace('urt="0.100, 0.050"', 'urt="-"')
      .replace('lang="de-AT,de;q=0.9"', 'lang="-"');
    const record = parsed(parser, hit);
    assert.equal(record.referer, null);
    assert.equal(record.cacheStatus, 'HIT');
    assert.equal(record.originDurationMs, null);
    assert.equal(record.acceptLanguage, null);
  });
});

describe('nginx log_format: time variables', () => {
  it('reads $time_iso8601', () => {
    const parser = createParser('nginx:\'$remote_addr $time_iso8601 "$request" $status\'');
    assert.equal(
      parsed(parser, '192.0.2.1 2024-01-21T09:30:12+01:00 "GET / HTTP/1.1" 200').time,
      Date.UTC(2024, 0, 21, 8, 30, 12),
    );
  });

  it('reads the time from $msec when $time_local or $time_iso8601 is logged beside it', () => {
    for (const time of ['[21/Jan/2024:09:30:12 +0000]', '2024-01-21T09:30:12+00:00']) {
      const parser = createParser(
        `nginx:'$remote_addr ${time.startsWith('[') ? '[$time_local]' : '$time_iso8601'} $msec "$request" $status'`,
      );
      const record = parser.parse(`203.0.113.7 ${time} 1705829412.345 "GET / HTTP/1.1" 200`);
      assert.ok(!isBadInput(record), String(record));
      assert.equal(record.time, Date.UTC(2024, 0, 21, 9, 30, 12, 345));
    }
  });

  it('reads $msec with millisecond precision', () => {
    const parser = createParser('nginx:\'$msec $remote_addr "$request" $status\'');
    assert.equal(parsed(parser, '1705829412.123 192.0.2.1 "GET / HTTP/1.1" 200').time, 1705829412123);
    // Year 5138 by $msec: more than a day ahead of the clock.
    const far = parser.parse('99999999999.000 192.0.2.1 "GET / HTTP/1.1" 200');
    assert.ok(isBadInput(far));
    assert.equal(far.reason, 'bad-timestamp');
    assert.equal(far.field, 'msec');
  });

  it('rejects an unreadable time as bad-timestamp naming the variable', () => {
    const parser = createParser('nginx:\'$remote_addr $time_iso8601 "$request" $status\'');
    const bad = parser.parse('192.0.2.1 yesterday "GET / HTTP/1.1" 200');
    assert.ok(isBadInput(bad));
    assert.equal(bad.reason, 'bad-timestamp');
    assert.equal(bad.field, 'time_iso8601');
  });
});

describe('nginx log_format: request pieces instead of $request', () => {
  it('reads $request_method with $request_uri and $server_protocol', () => {
    const parser = createParser(
      "nginx:'$remote_addr [$time_local] $request_method $request_uri $server_protocol $status'",
    );
    const record = parsed(parser, '192.0.2.1 [21/Jan/2024:09:30:12 +0000] POST /login?next=/a HTTP/1.1 401');
    assert.equal(record.method, 'POST');
    assert.equal(record.path, '/login');
    assert.equal(record.query, 'next=/a');
    assert.equal(record.protocol, 'HTTP/1.1');
  });

  it('reads $uri with $args', () => {
    const parser = createParser("nginx:'$remote_addr [$time_local] $request_method $uri?$args $status'");
    const record = parsed(parser, '192.0.2.1 [21/Jan/2024:09:30:12 +0000] GET /a/b?x=1&y=2 200');
    assert.equal(record.path, '/a/b');
    assert.equal(record.query, 'x=1&y=2');
  });

  it('falls back from $host to $server_name for host', () => {
    const parser = createParser('nginx:\'$server_name $remote_addr [$time_local] "$request" $status\'');
    const record = parsed(parser, 'www.example 192.0.2.1 [21/Jan/2024:09:30:12 +0000] "GET / HTTP/1.1" 200');
    assert.equal(record.host, 'www.example');
  });
});

describe('nginx log_format: headers and module variables', () => {
  it('reads $http_host (port removed), $http_x_request_id, $http_ssl_ja3_hash and $http_ssl_ja4', () => {
    const parser = createParser(
      'nginx:\'$remote_addr [$time_local] "$request" $status $http_host $http_x_request_id $http_ssl_ja3_hash $http_ssl_ja4\'',
    );
    const record = parsed(
      parser,
      '192.0.2.1 [21/Jan/2024:09:30:12 +0000] "GET / HTTP/1.1" 200 Shop.Example:8443 req-42 ' +
        'e7d705a3286e19ea42f587b344ee6865 t13d1516h2_8daaf6152771_b186095e22b6',
    );
    assert.equal(record.host, 'shop.example');
    assert.equal(record.requestId, 'req-42');
    assert.equal(record.ja3, 'e7d705a3286e19ea42f587b344ee6865');
    assert.equal(record.ja4, 't13d1516h2_8daaf6152771_b186095e22b6');
  });
});

describe('nginx log_format: syntax', () => {
  it('accepts braced variable names, unknown variables and $http_NAME headers it does not map', () => {
    const parser = createParser(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx's ${var} syntax, not a JS template
      "nginx:'${remote_addr}|${time_local}|${request}|${status}|$connection|$http_x_custom|${http_accept_language}'",
    );
    const record = parsed(
      parser,
      '192.0.2.1|21/Jan/2024:09:30:12 +0000|GET /x HTTP/1.1|404|12345|whatever|fr',
    );
    assert.equal(record.status, 404);
    assert.equal(record.path, '/x');
    assert.equal(record.acceptLanguage, 'fr');
  });

  it('reads quoted fields holding escaped quotes and \\xHH escapes', () => {
    const parser = createParser(
      'nginx:\'$remote_addr [$time_local] "$request" $status "$http_user_agent" "$http_referer"\'',
    );
    const record = parsed(
      parser,
      '192.0.2.1 [21/Jan/2024:09:30:12 +0000] "GET /\\xC3\\xA4 HTTP/1.1" 200 "a \\x22quoted\\x22 \\"agent\\"" "-"',
    );
    assert.equal(record.path, '/ä');
    assert.equal(record.userAgent, 'a "quoted" "agent"');
    assert.equal(record.referer, null);
  });

  it('keeps a $request that is not an HTTP request line as a request with no method, the field as logged', () => {
    const parser = createParser('nginx:\'$remote_addr [$time_local] "$request" $status "$http_user_agent"\'');
    const record = parsed(
      parser,
      '192.0.2.1 [21/Jan/2024:09:30:12 +0000] "\\x16\\x03\\x01\\x02\\x00" 400 "-"',
    );
    assert.equal(record.method, '');
    assert.equal(record.path, '\\x16\\x03\\x01\\x02\\x00');
    assert.equal(record.status, 400);
    assert.equal(parsed(parser, '192.0.2.1 [21/Jan/2024:09:30:12 +0000] "-" 400 "-"').path, '-');
  });

  it('reads escape=json formats', () => {
    const parser = createParser(
      'nginx:escape=json \'{"ip":"$remote_addr","t":"$time_iso8601","r":"$request","s":$status,"ua":"$http_user_agent"}\'',
    );
    const record = parsed(
      parser,
      '{"ip":"192.0.2.1","t":"2024-01-21T09:30:12+00:00","r":"GET /p HTTP/1.1","s":200,"ua":"x \\"y\\" \\u00e9"}',
    );
    assert.equal(record.userAgent, 'x "y" é');
    assert.equal(record.status, 200);
  });

  it('reads an unquoted list value followed by a space separator', () => {
    const parser = createParser(
      'nginx:\'$remote_addr [$time_local] "$request" $status $upstream_response_time $host\'',
    );
    const record = parsed(
      parser,
      '192.0.2.1 [21/Jan/2024:09:30:12 +0000] "GET / HTTP/1.1" 502 0.010, 0.020 : 0.030 origin.example',
    );
    assert.equal(record.originDurationMs, 60);
    assert.equal(record.host, 'origin.example');
  });

  it('refuses formats that cannot be parsed, or lack what a record needs, with BadInput', () => {
    const cases: Array<[string, RegExp]> = [
      ['nginx:\'$remote_addr$remote_user [$time_local] "$request" $status\'', /touch with no separator/],
      ['nginx:\'$remote_addr "$request" $status\'', /must log a time/],
      ["nginx:'$remote_addr [$time_local] $status'", /must log the request/],
      ['nginx:\'[$time_local] "$request" $status\'', /must log \$remote_addr/],
      ['nginx:\'$remote_addr [$time_local] "$request"', /quote is never closed/],
      ["nginx:escape=xml '$remote_addr'", /escape=xml/],
    ];
    for (const [format, message] of cases) {
      assert.throws(
        () => createParser(format),
        (error: unknown) =>
          error instanceof BadInput && error.reason === 'bad-log-format' && message.test(error.message),
        format,
      );
    }
  });

  it('joins the quoted pieces of an nginx.conf log_format and drops the trailing semicolon', () => {
    assert.deepEqual(readNginxFormatSpec(`'$remote_addr - ' "[$time_local] \\"x\\"";`), {
      escape: 'default',
      format: '$remote_addr - [$time_local] "x"',
    });
    assert.deepEqual(readNginxFormatSpec('$remote_addr $status'), {
      escape: 'default',
      format: '$remote_addr $status',
    });
  });

  it('compiles a format into literal separators between variables', () => {
    const compiled = compileNginxLogFormat('[$time_local] $remote_addr "$request" $status');
    assert.equal(compiled.prefix, '[');
    assert.deepEqual(
      compiled.steps.map((step) => [step.name, step.terminator, step.quoted]),
      [
        ['time_local', '] ', false],
        ['remote_addr', ' "', false],
        ['request', '" ', true],
        ['status', null, false],
      ],
    );
  });

  it('rejects lines that do not fit the format as format-mismatch or truncated', () => {
    const parser = createParser('nginx:\'$remote_addr [$time_local] "$request" $status\'');
    const mismatch = parser.parse('192.0.2.1 21/Jan/2024:09:30:12 +0000 "GET / HTTP/1.1" 200');
    assert.ok(isBadInput(mismatch));
    assert.equal(mismatch.reason, 'format-mismatch');
    const truncated = parser.parse('192.0.2.1 [21/Jan/2024:09:30:12 +0000] "GET / HTTP/1.1');
    assert.ok(isBadInput(truncated));
    assert.equal(truncated.reason, 'truncated');
  });
});

describe('secondsListToMs', () => {
  it('sums lists of upstream times and skips "-" entries', () => {
    assert.equal(secondsListToMs('0.123'), 123);
    assert.equal(secondsListToMs('0.010, 0.020'), 30);
    assert.equal(secondsListToMs('0.010, - : 0.005'), 15);
    assert.equal(secondsListToMs('-'), null);
    assert.equal(secondsListToMs(null), null);
  });

  it('gives null for times beyond a day instead of numbers that overflow the record (1e303 s)', () => {
    assert.equal(secondsListToMs('1e303'), null);
    assert.equal(secondsListToMs('86400'), 86_400_000);
    assert.equal(secondsListToMs('86400.001'), null);
  });
});

describe('nginx log_format of combined gives the same records as the combined parser', () => {
  const data = new URL('../../../../shared/data/', import.meta.url);
  const file = new URL('elastic-apache-logs/apache_logs', data);
  let lines: string[] = [];
  try {
    lines = readFileSync(file, 'utf8').split('\n').slice(0, 2000);
  } catch {
    // absent: the test below skips
  }
  it('agrees line by line on real combined logs', {
    skip: lines.length === 0 ? `shared data absent: ${file.pathname}` : false,
  }, () => {
    const generic = createParser(
      'nginx:\'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"\'',
    );
    const fixed = createParser('combined');
    let compared = 0;
    for (const line of lines) {
      if (line === '') continue;
      const a = generic.parse(line);
      const b = fixed.parse(line);
      assert.equal(isBadInput(a), isBadInput(b), line);
      if (!isBadInput(a)) assert.deepEqual(a, b, line);
      compared++;
    }
    assert.ok(compared > 1900);
  });
});

describe('nginx log_format: variables edgeguard does not know', () => {
  const format =
    'nginx:$remote_addr - $bogus_var [$time_local] "$request" $status "$http_user_agnet" $bogus_var';

  it('names each once, so that a caller can warn about a typo', () => {
    assert.deepEqual(unknownNginxVariables(format), ['bogus_var', 'http_user_agnet']);
    assert.deepEqual(
      unknownNginxVariables(everything),
      [],
      '$remote_user, $ssl_* are known to carry no field',
    );
    assert.deepEqual(unknownNginxVariables('combined'), []);
  });

  it('still parses the line, reading past their values', () => {
    const record = parsed(
      createParser(format),
      '203.0.113.7 - xyz [21/Jan/2024:09:30:12 +0000] "GET / HTTP/1.1" 200 "curl/8" 42',
    );
    assert.equal(record.clientAddress, '203.0.113.7');
    assert.equal(record.status, 200);
    assert.equal(record.userAgent, null, 'a typo leaves its field empty: why callers warn');
  });
});
