import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AccessLog, BadInput, emptyAccessLog, isBadInput } from '@edgeguard/schema';
import { createParser, type LineParser } from '../src/index.js';

function parsed(parser: LineParser, line: string): AccessLog {
  const result = parser.parse(line);
  if (isBadInput(result)) assert.fail(`expected a record, got ${result.reason}: ${result.message}`);
  return result;
}

function rejected(parser: LineParser, line: string, location?: string): BadInput {
  const result = parser.parse(line, location);
  assert.ok(isBadInput(result), `expected a rejection of ${JSON.stringify(line)}`);
  return result;
}

const UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const combinedLine = `203.0.113.7 - alice [21/Jan/2024:09:30:12 +0000] "GET /products/42?color=red&utm=1 HTTP/1.1" 200 5123 "https://shop.example/" "${UA}"`;

describe('combined format', () => {
  const parser = createParser('combined');

  it('reads every field of an nginx combined line into the AccessLog record', () => {
    assert.deepEqual(parsed(parser, combinedLine), {
      ...emptyAccessLog(),
      time: Date.UTC(2024, 0, 21, 9, 30, 12),
      clientAddress: '203.0.113.7',
      peerAddress: '203.0.113.7',
      method: 'GET',
      path: '/products/42',
      query: 'color=red&utm=1',
      protocol: 'HTTP/1.1',
      status: 200,
      bytes: 5123,
      referer: 'https://shop.example/',
      userAgent: UA,
    });
  });

  it('converts the time zone offset to UTC epoch milliseconds', () => {
    const east = parsed(parser, combinedLine.replace('+0000', '+0530'));
    const west = parsed(parser, combinedLine.replace('+0000', '-0800'));
    assert.equal(east.time, Date.UTC(2024, 0, 21, 4, 0, 12));
    assert.equal(west.time, Date.UTC(2024, 0, 21, 17, 30, 12));
  });

  it('gives the right time for consecutive lines of the same minute and of a new minute', () => {
    // Exercises the reader's memo: same second, new second, new minute, back to an older minute.
    const at = (time: string) => parsed(parser, combinedLine.replace('21/Jan/2024:09:30:12', time)).time;
    assert.equal(at('21/Jan/2024:09:30:12'), Date.UTC(2024, 0, 21, 9, 30, 12));
    assert.equal(at('21/Jan/2024:09:30:59'), Date.UTC(2024, 0, 21, 9, 30, 59));
    assert.equal(at('21/Jan/2024:09:31:00'), Date.UTC(2024, 0, 21, 9, 31, 0));
    assert.equal(at('21/Jan/2024:09:30:01'), Date.UTC(2024, 0, 21, 9, 30, 1));
    assert.equal(at('29/Feb/2024:23:59:59'), Date.UTC(2024, 1, 29, 23, 59, 59));
    assert.equal(at('01/dec/2023:00:00:00'), Date.UTC(2023, 11, 1));
  });

  it('keeps "-" referer and user agent as null, never "-"', () => {
    const record = parsed(
      parser,
      '198.51.100.1 - - [21/Jan/2024:09:30:12 +0000] "HEAD / HTTP/1.0" 304 0 "-" "-"',
    );
    assert.equal(record.referer, null);
    assert.equal(record.userAgent, null);
    assert.equal(record.query, null);
    assert.equal(record.path, '/');
    assert.equal(record.method, 'HEAD');
  });

  it('canonicalises IPv6 client addresses', () => {
    const record = parsed(
      parser,
      '2001:0DB8:0000:0000:0000:0000:0000:0001 - - [21/Jan/2024:09:30:12 +0000] "GET / HTTP/2.0" 200 1 "-" "-"',
    );
    assert.equal(record.clientAddress, '2001:db8::1');
    assert.equal(record.peerAddress, '2001:db8::1');
    assert.equal(record.protocol, 'HTTP/2.0');
  });

  it('unescapes nginx \\xHH escapes, decoding multi-byte UTF-8', () => {
    const record = parsed(
      parser,
      '203.0.113.7 - - [21/Jan/2024:09:30:12 +0000] "GET /caf\\xC3\\xA9 HTTP/1.1" 200 1 "-" "say \\x22hi\\x22 \\x5C o/"',
    );
    assert.equal(record.path, '/café');
    assert.equal(record.userAgent, 'say "hi" \\ o/');
  });

  it('unescapes Apache \\" and \\\\ inside quoted fields without ending the field early', () => {
    const record = parsed(
      parser,
      '203.0.113.7 - - [21/Jan/2024:09:30:12 +0000] "GET /a HTTP/1.1" 200 1 "-" "}__test|O:21:\\"JDatabaseDriverMysqli\\" \\\\"',
    );
    assert.equal(record.userAgent, '}__test|O:21:"JDatabaseDriverMysqli" \\');
  });

  it('keeps undecodable \\xHH bytes as logged instead of inventing characters', () => {
    const record = parsed(
      parser,
      '203.0.113.7 - - [21/Jan/2024:09:30:12 +0000] "GET /x HTTP/1.1" 200 1 "-" "a\\xFFb"',
    );
    assert.equal(record.userAgent, 'a\\xFFb');
  });

  it('ignores fields appended after the user agent', () => {
    const record = parsed(parser, `${combinedLine} "-" 0.003 extra`);
    assert.equal(record.userAgent, UA);
  });

  it('reads a virtual-host prefix (Apache vhost_combined) into host', () => {
    const record = parsed(
      parser,
      'Shop.Example:443 203.0.113.7 - - [21/Jan/2024:09:30:12 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
    );
    assert.equal(record.host, 'shop.example');
    assert.equal(record.clientAddress, '203.0.113.7');
  });

  it('reads a line shipped through syslog', () => {
    const record = parsed(
      parser,
      'Sep 15 16:13:46 ip-172-31-43-28.us-east-2.compute.internal nginx[2869]: 81.150.104.130 - - [15/Sep/2021:16:13:46 +0000] "POST /wp-login.php HTTP/1.1" 200 5 "-" "Mozilla/5.0"',
    );
    assert.equal(record.clientAddress, '81.150.104.130');
    assert.equal(record.path, '/wp-login.php');
  });

  it('strips one syslog header, not one per header (a line of headers is rejected in linear time)', () => {
    const headers = 'Jan 21 09:30:12 h t: '.repeat(700);
    const bad = rejected(
      parser,
      `${headers}203.0.113.7 - - [21/Jan/2024:09:30:12 +0000] "GET / HTTP/1.1" 200 1 "-" "-"`,
    );
    assert.equal(bad.reason, 'format-mismatch');
  });

  it('rejects a time more than a day ahead of the clock (a wrong clock would move event time by years)', () => {
    const far = rejected(parser, combinedLine.replace('21/Jan/2024', '31/Dec/9999'));
    assert.equal(far.reason, 'bad-timestamp');
    assert.match(far.message, /more than 24 h ahead of this machine's clock/);
    const soon = new Date(Date.now() + 3_600_000);
    const month = soon.toLocaleString('en', { month: 'short', timeZone: 'UTC' });
    const stamp = `${String(soon.getUTCDate()).padStart(2, '0')}/${month}/${soon.getUTCFullYear()}:${String(soon.getUTCHours()).padStart(2, '0')}:00:00 +0000`;
    assert.ok(
      !isBadInput(parser.parse(combinedLine.replace('21/Jan/2024:09:30:12 +0000', stamp))),
      'an hour ahead is fine',
    );
  });

  it('reads a line the same when its batch is known to be plain (no escapes, no binary data)', () => {
    const plainParser = createParser('combined');
    const lines = [
      combinedLine,
      combinedLine.replace('alice', '-'),
      combinedLine.replace(' - alice ', ' '),
      combinedLine.replace(' 5123 ', ' - '),
      `${combinedLine} "appended"`,
    ];
    for (const line of lines) assert.deepEqual(plainParser.parse(line, undefined, true), parser.parse(line));
  });

  it('tolerates a missing ident or user field', () => {
    const record = parsed(
      parser,
      '192.168.1.1 - [08/Jun/2020:08:04:43 +0000] "GET /api/test HTTP/1.1" 200 100 "-" "curl/7.68.0"',
    );
    assert.equal(record.path, '/api/test');
  });

  it('rejects a line without referer and user agent as truncated', () => {
    const bad = rejected(parser, '116.203.1.1 - - [05/Mar/2021:09:01:38 +0100] "GET /x HTTP/1.0" 200 1513');
    assert.equal(bad.reason, 'truncated');
  });
});

describe('request lines', () => {
  const parser = createParser('combined');
  const withRequest = (request: string) =>
    parser.parse(`203.0.113.7 - - [21/Jan/2024:09:30:12 +0000] "${request}" 400 0 "-" "-"`);

  it('reads an absolute-form URI (a proxy request) into host and path', () => {
    const record = withRequest('GET http://User@Example.COM:8080/p/q?x=1 HTTP/1.1') as AccessLog;
    assert.equal(record.host, 'example.com');
    assert.equal(record.path, '/p/q');
    assert.equal(record.query, 'x=1');
    const bare = withRequest('GET https://example.com HTTP/1.1') as AccessLog;
    assert.equal(bare.path, '/');
    assert.equal(bare.host, 'example.com');
  });

  it('reads CONNECT authority form, OPTIONS *, HTTP/0.9 and odd protocol versions', () => {
    const connect = withRequest('CONNECT proxy.example:443 HTTP/1.1') as AccessLog;
    assert.equal(connect.host, 'proxy.example');
    assert.equal(connect.path, 'proxy.example:443');
    assert.equal((withRequest('OPTIONS * HTTP/1.1') as AccessLog).path, '*');
    const old = withRequest('GET /index.html') as AccessLog;
    assert.equal(old.protocol, null);
    assert.equal(old.path, '/index.html');
    assert.equal((withRequest('GET / HTTP/1.2') as AccessLog).protocol, 'HTTP/1.2');
  });

  it('reads the common protocols as their constants, and a protocol word alone as the target', () => {
    for (const protocol of ['HTTP/1.1', 'HTTP/2.0', 'HTTP/1.0', 'HTTP/3.0', 'HTTP/2']) {
      const record = withRequest(`POST /a b HTTP/9 ${protocol}`) as AccessLog;
      assert.equal(record.protocol, protocol);
      assert.equal(record.path, '/a b HTTP/9');
    }
    // No target before the protocol: HTTP/1.1 leaves none (not an HTTP request line), the others are the target.
    assert.equal((withRequest('GET HTTP/1.1') as AccessLog).method, '');
    for (const word of ['HTTP/2.0', 'HTTP/1.0']) {
      const record = withRequest(`GET ${word}`) as AccessLog;
      assert.equal(record.path, word);
      assert.equal(record.protocol, null);
    }
  });

  it('keeps a target with spaces whole and treats an empty query as null', () => {
    const spaced = withRequest('GET /a b/c HTTP/1.1') as AccessLog;
    assert.equal(spaced.path, '/a b/c');
    assert.equal(spaced.protocol, 'HTTP/1.1');
    const emptyQuery = withRequest('GET /p? HTTP/1.1') as AccessLog;
    assert.equal(emptyQuery.path, '/p');
    assert.equal(emptyQuery.query, null);
  });

  it('keeps "-", single words and binary noise as requests with no method, the field as logged for their path', () => {
    for (const request of [
      '-',
      'HELP',
      'batman',
      '\\x16\\x03\\x01\\x00t\\x01 \\x00',
      "lv|'|'|VHJvamFu",
      'G(T / HTTP/1.1',
      '',
    ]) {
      const result = withRequest(request);
      assert.ok(!isBadInput(result), request);
      assert.equal(result.method, '', request);
      assert.equal(result.path, request);
      assert.equal(result.query, null);
      assert.equal(result.protocol, null);
      // The rest of the line is read as usual.
      assert.equal(result.status, 400);
      assert.equal(result.time, Date.UTC(2024, 0, 21, 9, 30, 12));
    }
  });
});

describe('nginx-main format', () => {
  const parser = createParser('nginx-main');

  it('reads the trailing X-Forwarded-For field (ignored without trusted proxies)', () => {
    const record = parsed(parser, `${combinedLine} "192.0.2.99"`);
    assert.equal(record.clientAddress, '203.0.113.7');
    assert.equal(record.userAgent, UA);
  });

  it('uses the X-Forwarded-For when the peer is a trusted proxy', () => {
    const behindProxy = createParser('nginx-main', { trustedProxies: ['203.0.113.0/24'] });
    const record = parsed(behindProxy, `${combinedLine} "192.0.2.99"`);
    assert.equal(record.clientAddress, '192.0.2.99');
    assert.equal(record.peerAddress, '203.0.113.7');
  });

  it('rejects a combined line that lacks the X-Forwarded-For field', () => {
    assert.equal(rejected(parser, combinedLine).reason, 'truncated');
  });
});

describe('apache format', () => {
  const parser = createParser('apache');

  it('reads Apache common lines, where %b is "-" for an empty body', () => {
    const record = parsed(
      parser,
      '192.0.2.5 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 304 -',
    );
    assert.equal(record.time, Date.UTC(2000, 9, 10, 20, 55, 36));
    assert.equal(record.status, 304);
    assert.equal(record.bytes, 0);
    assert.equal(record.userAgent, null);
  });

  it('reads Apache combined lines too', () => {
    const record = parsed(parser, combinedLine);
    assert.equal(record.userAgent, UA);
    assert.equal(record.referer, 'https://shop.example/');
  });
});

describe('rejections', () => {
  const parser = createParser('combined', { maxLineLength: 400, maxFieldLength: 100 });

  it('names the reason, the field and the location', () => {
    const bad = rejected(
      parser,
      combinedLine.replace('[21/Jan/2024:09:30:12 +0000]', '[21/Foo/2024:09:30:12 +0000]'),
      'access.log:7',
    );
    assert.equal(bad.reason, 'bad-timestamp');
    assert.equal(bad.field, 'time_local');
    assert.equal(bad.location, 'access.log:7');
    assert.match(bad.message, /^access\.log:7: time "21\/Foo\/2024:09:30:12 \+0000"/);
  });

  it('rejects each kind of bad line with its stable reason, and never throws', () => {
    const cases: Array<[string, string]> = [
      ['', 'empty'],
      ['   ', 'empty'],
      [`${combinedLine}${' x'.repeat(200)}`, 'oversized-line'],
      [combinedLine.replace('GET', 'G\u0000T'), 'binary'],
      [combinedLine.replace('alice', 'al\ufffdce'), 'binary'],
      [combinedLine.slice(0, 60), 'truncated'],
      [combinedLine.slice(0, combinedLine.length - 5), 'truncated'],
      [combinedLine.replace('203.0.113.7', '203.0.113.700'), 'bad-address'],
      [combinedLine.replace('[21/Jan/2024:09:30:12 +0000]', '[2024-01-21T09:30:12Z]'), 'bad-timestamp'],
      [combinedLine.replace('[21/Jan/2024:09:30:12 +0000]', '[31/Feb/2024:09:30:12 +0000]'), 'bad-timestamp'],
      [combinedLine.replace('[21/Jan/2024:09:30:12 +0000]', '[21/Jan/2024:25:30:12 +0000]'), 'bad-timestamp'],
      [combinedLine.replace('" 200 ', '" 2000 '), 'bad-status'],
      [combinedLine.replace('" 200 ', '" abc '), 'bad-status'],
      [combinedLine.replace(' 5123 ', ' 5k '), 'bad-bytes'],
      [combinedLine.replace(' 5123 ', ' 51-3 '), 'bad-bytes'],
      [combinedLine.replace('2024:09', '2024]09'), 'bad-timestamp'],
      [combinedLine.replace('+0000]', '+00000]'), 'bad-timestamp'],
      ['2021/12/01 13:53:33 [error] 31#31: *46 "/x" is not found', 'format-mismatch'],
      [combinedLine.replace('] "GET', ']"GET'), 'format-mismatch'],
    ];
    for (const [line, reason] of cases) {
      const result = parser.parse(line, 'test.log:1');
      assert.ok(result instanceof BadInput, `${reason}: ${JSON.stringify(line.slice(0, 80))}`);
      assert.equal(result.reason, reason, `${JSON.stringify(line.slice(0, 80))}: ${result.message}`);
    }
  });
});
