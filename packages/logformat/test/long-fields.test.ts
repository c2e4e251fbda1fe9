// A field longer than maxFieldLength is cut and its line kept (and the cut counted): rejecting the
// line let a client hide every request it made from detection by padding one header to 5 KiB
// (nginx takes header lines up to 8 KiB).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CidrSet } from '@edgeguard/netaddr';
import { type AccessLog, isBadInput } from '@edgeguard/schema';
import { cutLongestParts, cutMiddle } from '../src/field-cut.js';
import {
  createParser,
  FieldCutCounter,
  keepRightmostHops,
  type LineParser,
  NO_FIELD_CUTS,
  resolveClientAddress,
} from '../src/index.js';

const MAX = 4096;
const time = '28/Nov/2026:14:00:00 +0000';
const UA = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0';
/** A combined line; nginx-main when `xff` is given. */
const clf = (o: { request?: string; referer?: string; agent?: string; xff?: string; peer?: string } = {}) =>
  `${o.peer ?? '198.51.100.66'} - - [${time}] "${o.request ?? 'GET /p?q=1 HTTP/1.1'}" 200 12 "${o.referer ?? '-'}" "${o.agent ?? UA}"${o.xff === undefined ? '' : ` "${o.xff}"`}`;

function parsed(parser: LineParser, line: string): AccessLog {
  const result = parser.parse(line);
  if (isBadInput(result)) assert.fail(`expected a record, got ${result.reason}: ${result.message}`);
  return result;
}

const padded = (prefix: string, length: number) => prefix + 'x'.repeat(length - prefix.length);

describe('fields longer than maxFieldLength', () => {
  it('keeps a line whose user agent is padded to 6 KiB, the agent cut to 4 KiB and the cut noted', () => {
    const parser = createParser('combined');
    const agent = padded('sqlmap/1.7.2#stable (https://sqlmap.org) ', 6144);
    const record = parsed(parser, clf({ agent }));
    assert.equal(record.userAgent, agent.slice(0, MAX));
    assert.equal(record.path, '/p');
    assert.equal(record.query, 'q=1');
    assert.equal(record.status, 200);
    assert.equal(record.clientAddress, '198.51.100.66');
    assert.deepEqual(parser.fieldCuts, [{ field: 'http_user_agent', length: 6144 }]);
    // The next line's cuts are its own.
    parsed(parser, clf());
    assert.equal(parser.fieldCuts, NO_FIELD_CUTS);
  });

  it('keeps a line with a padded referer and user agent (about 12 KiB, within the default maxLineLength)', () => {
    for (const format of ['combined', 'nginx-main', 'apache']) {
      const parser = createParser(format);
      const referer = padded('https://spam.example/', 8000);
      const agent = padded('Mozilla/5.0 ', 8000);
      const record = parsed(parser, clf({ referer, agent, xff: format === 'nginx-main' ? '-' : undefined }));
      assert.equal(record.referer, referer.slice(0, MAX), format);
      assert.equal(record.userAgent, agent.slice(0, MAX), format);
      assert.deepEqual(
        parser.fieldCuts.map((cut) => cut.field),
        ['http_referer', 'http_user_agent'],
        format,
      );
    }
  });

  it('cuts an escaped field after unescaping, and never between the halves of a surrogate pair', () => {
    const parser = createParser('combined', { maxFieldLength: 100 });
    const agent = `${'a'.repeat(99)}😀${'b'.repeat(20)}`;
    assert.equal(parsed(parser, clf({ agent })).userAgent, 'a'.repeat(99));
    const escaped = `\\x22${'c'.repeat(150)}`;
    assert.equal(parsed(parser, clf({ agent: escaped })).userAgent, `"${'c'.repeat(99)}`);
  });

  it('keeps a request line padded in its query: method, path and protocol as sent, the query cut', () => {
    const parser = createParser('combined');
    const query = `id=1${'&a=AAAAAAAA'.repeat(600)}`;
    const record = parsed(parser, clf({ request: `GET /search?${query} HTTP/1.1` }));
    assert.equal(record.method, 'GET');
    assert.equal(record.path, '/search');
    assert.equal(record.protocol, 'HTTP/1.1');
    assert.ok(record.query !== null);
    // `GET /search?<query> HTTP/1.1` fits maxFieldLength: the query's middle went, its ends stay.
    assert.equal(4 + record.path.length + 1 + record.query.length + 9, MAX);
    const head = record.query.length >> 1;
    assert.equal(
      record.query,
      query.slice(0, head) + query.slice(query.length - (record.query.length - head)),
    );
    assert.deepEqual(parser.fieldCuts, [{ field: 'request', length: 4 + 8 + query.length + 9 }]);
  });

  it('keeps a request line padded in its path: the path cut, the query dropped', () => {
    const parser = createParser('combined');
    const path = `/wp-content/${'../'.repeat(2000)}etc/passwd`;
    const record = parsed(parser, clf({ request: `POST ${path}?x=1 HTTP/2.0` }));
    assert.equal(record.method, 'POST');
    assert.equal(record.protocol, 'HTTP/2.0');
    const room = MAX - 5 - 9;
    assert.equal(record.path, path.slice(0, room >> 1) + path.slice(path.length - (room - (room >> 1))));
    assert.ok(record.path.endsWith('../etc/passwd'), 'the probe at the end of a padded path stays');
    assert.equal(record.query, null);
    // A field that is not a request line (binary noise) is cut as logged.
    const noise = 'Z'.repeat(5000);
    const probe = parsed(parser, clf({ request: noise }));
    assert.equal(probe.method, '');
    assert.equal(probe.path, noise.slice(0, MAX >> 1) + noise.slice(noise.length - (MAX - (MAX >> 1))));
  });

  it('keeps what a probe padded in front is: the end of the path, an injection after a padded query', () => {
    const parser = createParser('combined');
    const hidden = parsed(parser, clf({ request: `GET /${'A'.repeat(4100)}/../.env HTTP/1.1` }));
    assert.ok(hidden.path.endsWith('/../.env'), hidden.path.slice(-20));
    const injected = parsed(
      parser,
      clf({ request: `GET /item?pad=${'A'.repeat(4100)}&id=1%27%20UNION%20SELECT%20password HTTP/1.1` }),
    );
    assert.ok(injected.query?.endsWith('&id=1%27%20UNION%20SELECT%20password'), injected.query?.slice(-40));
    // Padding on both sides of an injection: the padded parameters are cut, the injection stays.
    const between = parsed(
      parser,
      clf({
        request: `GET /item?a=${'A'.repeat(2500)}&id=1%27%20UNION%20SELECT%20password&b=${'B'.repeat(2500)} HTTP/1.1`,
      }),
    );
    assert.ok(between.query?.includes('&id=1%27%20UNION%20SELECT%20password&'), between.query?.slice(0, 40));
    assert.ok(4 + between.path.length + 1 + between.query!.length + 9 <= MAX);
    // A method is a word: a padded one is cut, and the request still has room for its path.
    const method = parsed(parser, clf({ request: `${'M'.repeat(5000)} /x HTTP/1.1` }));
    assert.ok(method.method.length <= MAX >> 4, `${method.method.length}`);
    assert.equal(method.path, '/x');
  });

  it('keeps the rightmost X-Forwarded-For hops: the client behind trusted proxies resolves as from the whole header', () => {
    const trusted = ['10.0.0.0/8'];
    const parser = createParser('nginx-main', { trustedProxies: trusted });
    const set = new CidrSet(trusted);
    for (const xff of [
      // padding written by the client, then the client our balancer saw
      `${'192.0.2.1, '.repeat(600)}198.51.100.66`,
      // and a second proxy of ours
      `${'192.0.2.1, '.repeat(600)}198.51.100.66, 10.0.0.7`,
      // padding that holds no address at all
      `${'x'.repeat(6000)}, 198.51.100.66`,
      // IPv6 hops: a cut inside one could leave a valid shorter address (db8::1 of 2001:db8::1)
      `${'2001:db8::1, '.repeat(500)}2001:db8:beef::66`,
    ]) {
      const record = parsed(parser, clf({ peer: '10.0.0.5', xff }));
      assert.equal(record.clientAddress, resolveClientAddress('10.0.0.5', xff, set), xff.slice(-40));
      assert.notEqual(record.clientAddress, '10.0.0.5');
      assert.deepEqual(parser.fieldCuts, [{ field: 'http_x_forwarded_for', length: xff.length }]);
    }
  });

  it('never attributes a padded X-Forwarded-For to the address the client wrote on its left', () => {
    const parser = createParser('nginx-main', { trustedProxies: ['10.0.0.0/8'] });
    // The client names a victim, pads, and our balancer appends the client's own address.
    const own = parsed(
      parser,
      clf({ peer: '10.0.0.5', xff: `203.0.113.99, ${'x'.repeat(6000)}, 198.51.100.66` }),
    );
    assert.equal(own.clientAddress, '198.51.100.66');
    // Only our proxies' hops within the kept part: one of ours, never the victim left of them.
    const ours = parsed(
      parser,
      clf({ peer: '10.0.0.5', xff: `203.0.113.99, ${'10.0.0.1, '.repeat(500)}10.0.0.2` }),
    );
    assert.equal(ours.clientAddress, '10.0.0.1');
    // From an untrusted peer, its header is ignored as ever.
    const direct = parsed(
      parser,
      clf({ peer: '198.51.100.7', xff: `${'203.0.113.99, '.repeat(400)}203.0.113.99` }),
    );
    assert.equal(direct.clientAddress, '198.51.100.7');
  });

  it('cuts X-Forwarded-For at a hop boundary: every hop kept is whole', () => {
    const xff = Array.from({ length: 400 }, (_, i) => `2001:db8::${(i + 1).toString(16)}`).join(', ');
    for (let max = 64; max < 200; max++) {
      const kept = keepRightmostHops(xff, max)!;
      assert.ok(kept.length <= max && xff.endsWith(kept), `${max}: ${kept}`);
      assert.ok(xff.startsWith(kept, xff.length - kept.length));
      const hops = xff.split(', ');
      for (const hop of kept.split(', ')) assert.ok(hops.includes(hop), `${max}: partial hop ${hop}`);
      assert.equal(xff.charAt(xff.length - kept.length - 2), ',', `${max}: starts right after a comma`);
    }
    assert.equal(keepRightmostHops(`${'y'.repeat(100)}`, 64), null, 'no whole hop fits');
  });

  it('cuts any nginx log_format variable, and counts it under its variable name', () => {
    const parser = createParser(
      `nginx:$remote_addr [$time_local] "$request_method $request_uri $server_protocol" $status "$http_user_agent" "$http_cookie" "$http_x_forwarded_for"`,
      { trustedProxies: ['10.0.0.0/8'] },
    );
    const agent = padded('Nikto/2.5.0 ', 6000);
    const uri = `/cgi-bin/${'%2e%2e/'.repeat(900)}`;
    const cookie = 'c'.repeat(7000);
    const xff = `${'192.0.2.1, '.repeat(600)}198.51.100.66`;
    const line = `10.0.0.5 [${time}] "GET ${uri} HTTP/1.1" 404 "${agent}" "${cookie}" "${xff}"`;
    const record = parsed(parser, line);
    assert.equal(record.userAgent, agent.slice(0, MAX));
    assert.equal(record.method, 'GET');
    assert.equal(record.protocol, 'HTTP/1.1');
    assert.equal(record.path, uri.slice(0, MAX - 4 - 9));
    assert.equal(record.status, 404);
    assert.equal(record.clientAddress, '198.51.100.66');
    assert.deepEqual(parser.fieldCuts, [
      { field: 'request_uri', length: uri.length },
      { field: 'http_user_agent', length: agent.length },
      { field: 'http_cookie', length: cookie.length },
      { field: 'http_x_forwarded_for', length: xff.length },
    ]);
    // A $request padded in its query, as combined does it.
    const combinedFormat = createParser(
      `nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`,
    );
    const padded$request = parsed(combinedFormat, clf({ request: `GET /a?${'b'.repeat(5000)} HTTP/1.1` }));
    assert.equal(padded$request.path, '/a');
    assert.equal(padded$request.query, 'b'.repeat(MAX - 4 - 3 - 9));
    assert.deepEqual(combinedFormat.fieldCuts, [{ field: 'request', length: 5016 }]);
  });

  it('cuts Cloudflare string fields and RequestHeaders values, the XFF keeping its rightmost hops', () => {
    const parser = createParser('cloudflare', { trustedProxies: ['10.0.0.0/8'] });
    const agent = padded('python-requests/2.31 ', 5000);
    const xff = `${'192.0.2.1, '.repeat(600)}198.51.100.66`;
    const uri = `/search?${'q'.repeat(6000)}`;
    const record = parsed(
      parser,
      JSON.stringify({
        ClientIP: '10.0.0.5',
        ClientRequestMethod: 'GET',
        ClientRequestURI: uri,
        ClientRequestProtocol: 'HTTP/2',
        ClientRequestUserAgent: agent,
        ClientRequestReferer: 'r'.repeat(4097),
        EdgeStartTimestamp: '2026-11-28T14:00:00Z',
        EdgeResponseStatus: 200,
        RequestHeaders: { 'accept-language': 'de'.repeat(3000), 'x-forwarded-for': xff },
      }),
    );
    assert.equal(record.userAgent, agent.slice(0, MAX));
    assert.equal(record.referer, 'r'.repeat(MAX));
    assert.equal(record.acceptLanguage, 'de'.repeat(3000).slice(0, MAX));
    assert.equal(record.path, '/search');
    assert.equal(record.query, 'q'.repeat(MAX - 4 - 7 - 1 - 7));
    assert.equal(record.clientAddress, '198.51.100.66');
    assert.deepEqual(
      parser.fieldCuts.map((cut) => cut.field),
      [
        'ClientRequestURI',
        'ClientRequestUserAgent',
        'ClientRequestReferer',
        'RequestHeaders.accept-language',
        'RequestHeaders.x-forwarded-for',
      ],
    );
  });

  it('reports the cuts of the record auto returned, while sniffing and once settled', () => {
    const parser = createParser('auto');
    const agent = 'A'.repeat(5000);
    for (let i = 0; i < 30; i++) {
      const record = parsed(parser, clf({ agent: i % 7 === 3 ? agent : UA, xff: '-' }));
      assert.deepEqual(
        parser.fieldCuts.map((cut) => cut.field),
        i % 7 === 3 ? ['http_user_agent'] : [],
        `line ${i} (${parser.format})`,
      );
      assert.equal(record.userAgent?.length, i % 7 === 3 ? MAX : UA.length);
    }
    assert.equal(parser.format, 'nginx-main');
  });

  it('cuts the longest parts of a path or query first, and the whole middle when the parts are many or short', () => {
    assert.equal(
      cutLongestParts(`/${'a'.repeat(100)}/x/${'b'.repeat(50)}`, '/', 80),
      // The longest part down to 32 characters, then the next longest for what is still over.
      `/${'a'.repeat(32)}/x/${'b'.repeat(44)}`,
    );
    const many = Array.from({ length: 100 }, (_, i) => `p${i}=${'v'.repeat(20)}`).join('&');
    assert.equal(cutLongestParts(many, '&', 200), cutMiddle(many, 200));
    const short = Array.from({ length: 20 }, (_, i) => `p${i}=${'v'.repeat(20)}`).join('&');
    assert.equal(cutLongestParts(short, '&', 100), cutMiddle(short, 100));
    for (const text of [many, short, `/${'a'.repeat(100)}/x/${'b'.repeat(50)}`])
      for (const max of [40, 80, 200])
        assert.ok(cutLongestParts(text, text.startsWith('/') ? '/' : '&', max).length <= max);
  });

  it('counts cuts by field with samples, bounded like rejections', () => {
    const parser = createParser('combined');
    const cuts = new FieldCutCounter(MAX);
    const lines = [
      clf({ agent: 'A'.repeat(5000) }),
      clf(),
      clf({ agent: 'B'.repeat(5000), referer: 'C'.repeat(4100) }),
      ...Array.from({ length: 5 }, () => clf({ agent: 'D'.repeat(4097) })),
    ];
    lines.forEach((line, i) => {
      parsed(parser, line);
      cuts.record(parser.fieldCuts, line, `access.log:${i + 1}`);
    });
    assert.equal(cuts.total, 8);
    assert.deepEqual(cuts.byField(), { http_user_agent: 7, http_referer: 1 });
    const json = cuts.toJSON();
    assert.equal(json.samples.http_user_agent!.length, 3);
    assert.deepEqual(
      { ...json.samples.http_referer![0], excerpt: undefined },
      {
        location: 'access.log:3',
        message: 'http_referer of 4100 characters is longer than maxFieldLength 4096: cut, the line kept',
        excerpt: undefined,
      },
    );
    assert.match(json.samples.http_referer![0]!.excerpt, /^198\.51\.100\.66 - - \[/);
  });

  it('still rejects a line longer than maxLineLength, now 64 KiB by default', () => {
    const parser = createParser('combined');
    const line = clf({ agent: 'A'.repeat(70_000) });
    const result = parser.parse(line);
    assert.ok(isBadInput(result) && result.reason === 'oversized-line');
    assert.ok(!isBadInput(parser.parse(clf({ agent: 'A'.repeat(60_000) }))));
  });
});
