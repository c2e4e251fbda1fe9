import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadInput, isBadInput } from '@edgeguard/schema';
import {
  createParser,
  FORMAT_NAMES,
  logsClientBehindProxies,
  SNIFF_LINES,
  SNIFF_MAX_LINES,
  sniffFormat,
} from '../src/index.js';

/** An nginx error-log line: what a concatenated or mis-rotated access log can start with. */
const errorLine = (i: number) =>
  `2024/01/21 09:29:${String(i % 60).padStart(2, '0')} [error] 31#31: *${i} open() "/usr/share/nginx/html/x" failed (2: No such file or directory)`;

const combined = (i: number) =>
  `198.51.100.${i % 250} - - [21/Jan/2024:09:30:${String(i % 60).padStart(2, '0')} +0000] "GET /p/${i} HTTP/1.1" 200 ${i} "-" "bot/${i}"`;
const common = (i: number) =>
  `198.51.100.${i % 250} - - [21/Jan/2024:09:30:12 +0000] "GET /p/${i} HTTP/1.1" 200 -`;
const logpush = (i: number) =>
  JSON.stringify({
    ClientIP: `198.51.100.${i}`,
    ClientRequestMethod: 'GET',
    ClientRequestURI: `/p/${i}`,
    EdgeStartTimestamp: 1705829412 + i,
    EdgeResponseStatus: 200,
  });

describe('sniffFormat', () => {
  it('recognises combined, nginx-main, apache common and Cloudflare JSON from their first lines', () => {
    const lines = (make: (i: number) => string) => Array.from({ length: 30 }, (_, i) => make(i));
    assert.equal(sniffFormat(lines(combined)), 'combined');
    assert.equal(sniffFormat(lines((i) => `${combined(i)} "-"`)), 'nginx-main');
    assert.equal(sniffFormat(lines(common)), 'apache');
    assert.equal(sniffFormat(lines(logpush)), 'cloudflare');
  });

  it('goes by the majority, skipping blank lines, so one odd first line does not decide', () => {
    const errorLine = '2021/12/01 13:53:33 [error] 31#31: *46 open() "/x" failed';
    assert.equal(sniffFormat(['', errorLine, combined(1), '', combined(2), combined(3)]), 'combined');
  });

  it('picks apache, which reads both shapes, when common and combined lines are mixed', () => {
    assert.equal(sniffFormat([common(0), combined(1), combined(2), combined(3)]), 'apache');
  });

  it('reads past leading lines no format reads: 25 error-log lines do not decide an nginx-main log', () => {
    const lines = [
      ...Array.from({ length: SNIFF_LINES + 5 }, (_, i) => errorLine(i)),
      ...Array.from({ length: 30 }, (_, i) => `${combined(i)} "203.0.113.${i}"`),
    ];
    assert.equal(sniffFormat(lines), 'nginx-main');
  });

  it('stops after SNIFF_MAX_LINES lines when none parses, and falls back to combined', () => {
    const junk = Array.from({ length: SNIFF_MAX_LINES }, (_, i) => errorLine(i));
    assert.equal(
      sniffFormat([...junk, `${combined(1)} "-"`]),
      'combined',
      'the line after the bound is not read',
    );
  });

  it('falls back to combined when nothing parses or there are no lines', () => {
    assert.equal(sniffFormat([]), 'combined');
    assert.equal(sniffFormat(['hello', 'world']), 'combined');
  });
});

describe('auto format', () => {
  it('parses from the first line and settles on the sniffed format', () => {
    const parser = createParser('auto');
    assert.equal(parser.format, 'auto');
    for (let i = 0; i < SNIFF_LINES + 5; i++) {
      const result = parser.parse(`${combined(i)} "203.0.113.1"`);
      assert.ok(!isBadInput(result), `line ${i}`);
    }
    assert.equal(parser.format, 'nginx-main');
  });

  it('keeps sniffing past leading lines no format reads, then settles on what the log is', () => {
    const parser = createParser('auto', { trustedProxies: ['10.0.0.0/8'] });
    for (let i = 0; i < SNIFF_LINES + 5; i++) assert.ok(isBadInput(parser.parse(errorLine(i))));
    assert.equal(parser.format, 'auto', 'not settled on lines nothing reads');
    for (let i = 0; i < SNIFF_LINES; i++) {
      const result = parser.parse(`10.0.0.5${combined(i).slice(combined(i).indexOf(' '))} "203.0.113.9"`);
      assert.ok(!isBadInput(result), `line ${i}`);
      assert.equal(result.clientAddress, '203.0.113.9', 'the client behind the proxy, not the proxy');
    }
    assert.equal(parser.format, 'nginx-main');
  });

  it('settles on combined after SNIFF_MAX_LINES lines that no format reads', () => {
    const parser = createParser('auto');
    for (let i = 0; i < SNIFF_MAX_LINES; i++) parser.parse(errorLine(i));
    assert.equal(parser.format, 'combined');
  });

  it('reports rejections of the leading format while sniffing', () => {
    const parser = createParser('auto');
    parser.parse(combined(1));
    const result = parser.parse(combined(2).slice(0, 60), 'x.log:2');
    assert.ok(isBadInput(result));
    assert.equal(result.reason, 'truncated');
    assert.equal(result.location, 'x.log:2');
  });

  it('passes trusted proxies on to the sniffed parser', () => {
    const parser = createParser('auto', { trustedProxies: ['198.51.100.0/24'] });
    const result = parser.parse(`${combined(3)} "203.0.113.1"`);
    assert.ok(!isBadInput(result));
    assert.equal(result.clientAddress, '203.0.113.1');
  });
});

describe('createParser', () => {
  it('creates a parser for every named format', () => {
    for (const name of FORMAT_NAMES) assert.equal(createParser(name).format, name);
  });

  it('rejects an unknown format name with a BadInput naming it and listing the valid names', () => {
    assert.throws(
      () => createParser('nginx-combined'),
      (error: unknown) =>
        error instanceof BadInput &&
        error.reason === 'unknown-format' &&
        error.message.includes('"nginx-combined"') &&
        FORMAT_NAMES.every((name) => error.message.includes(name)) &&
        error.message.includes("nginx:'"),
    );
  });

  it('suggests the name for a wrong case, and nginx: for a log_format string given without it', () => {
    assert.throws(
      () => createParser('Combined'),
      /unknown log format "Combined" \(did you mean 'combined'\?\)/,
    );
    assert.throws(
      () => createParser('$remote_addr [$time_local] "$request" $status'),
      /\(a log_format string is given as nginx:'\$remote_addr \[\$time_local\] "\$request" \$status'\)/,
    );
    assert.doesNotThrow(() => createParser('nginx:$remote_addr [$time_local] "$request" $status'));
  });
});

describe('logsClientBehindProxies', () => {
  it('tells the formats whose lines carry the client behind a proxy from those that log only the peer', () => {
    assert.equal(logsClientBehindProxies('nginx-main'), true);
    assert.equal(logsClientBehindProxies('cloudflare'), true, 'ClientIP is the client');
    assert.equal(logsClientBehindProxies('combined'), false);
    assert.equal(logsClientBehindProxies('apache'), false);
    assert.equal(
      logsClientBehindProxies(
        `nginx:'$remote_addr [$time_local] "$request" $status "$http_x_forwarded_for"'`,
      ),
      true,
    );
    assert.equal(
      logsClientBehindProxies(`nginx:$remote_addr [$time_local] "$request" $status \${HTTP_X_FORWARDED_FOR}`),
      true,
      'variable names are case-insensitive, braces or not',
    );
    assert.equal(
      logsClientBehindProxies(`nginx:$remote_addr [$time_local] "$request" $status $http_x_real_ip`),
      false,
    );
    assert.equal(logsClientBehindProxies('auto'), null, 'known once sniffed');
  });
});
