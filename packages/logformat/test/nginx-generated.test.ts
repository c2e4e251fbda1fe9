import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AccessLog, BadInput, isBadInput } from '@edgeguard/schema';
import {
  type CompiledLogFormat,
  compileNginxLogFormat,
  createParser,
  type LineParser,
  NginxFormatParser,
  secondsListToMs,
} from '../src/index.js';

// The line reader of an nginx: format is JavaScript generated per format (generateLineReader in
// nginx-format.ts). These cases reach the parts of the generator the usual formats do not.

function parsed(parser: LineParser, line: string): AccessLog {
  const result = parser.parse(line);
  if (isBadInput(result)) assert.fail(`expected a record, got ${result.reason}: ${result.message}`);
  return result;
}

function rejected(parser: LineParser, line: string): BadInput {
  const result = parser.parse(line);
  if (!isBadInput(result)) assert.fail(`expected a rejection, got ${JSON.stringify(result)}`);
  return result;
}

const TIME = '21/Jan/2024:09:30:12 +0000';
const EPOCH = Date.UTC(2024, 0, 21, 9, 30, 12);

/** Set by any code a hostile format managed to run. */
const pwned = () => (globalThis as { pwned?: unknown }).pwned;

describe('nginx log_format: a hostile format string is text, never code', () => {
  // Quotes of every kind, backticks, dollar-brace, a newline, comment ends, a backslash, U+2028: each
  // a way out of a string literal or a comment in generated source, each only a literal here.
  const $ = '$';
  const literalText =
    `"); globalThis.pwned = 1; (" '); globalThis.pwned = 2; (' \`); globalThis.pwned = 3; (\` ` +
    `${$}{globalThis.pwned=4} */ globalThis.pwned = 5; /*\n\\u0027\u2028 `;
  const hostile = `$remote_addr ${literalText}[$time_local] "$request" $status ${$}{x} ${$}{');globalThis.pwned=6;//} end`;

  it('compiles it into literals and variables as nginx reads it', () => {
    const compiled = compileNginxLogFormat(hostile);
    assert.deepEqual(
      compiled.steps.map((step) => [step.name, step.terminator]),
      [
        ['remote_addr', ` ${literalText}[`],
        ['time_local', '] "'],
        ['request', '" '],
        ['status', ' '],
        ['x', ` ${$}{');globalThis.pwned=6;//} end`],
      ],
    );
  });

  it('parses lines that hold those literals, and runs none of them', () => {
    const parser = createParser(`nginx:${hostile}`);
    const record = parsed(
      parser,
      `192.0.2.1 ${literalText}[${TIME}] "GET /a HTTP/1.1" 200 anything ${$}{');globalThis.pwned=6;//} end`,
    );
    assert.equal(record.peerAddress, '192.0.2.1');
    assert.equal(record.time, EPOCH);
    assert.equal(record.path, '/a');
    assert.equal(record.status, 200);
    assert.equal(pwned(), undefined);
  });

  it('refuses lines without them exactly as the step loop did (reason, variable, column)', () => {
    const parser = createParser(`nginx:${hostile}`);
    const mismatch = rejected(parser, `192.0.2.1 "); globalThis.pwned = 1; [${TIME}] "GET / HTTP/1.1" 200 x`);
    assert.equal(mismatch.reason, 'format-mismatch');
    assert.equal(mismatch.field, 'remote_addr');
    assert.match(mismatch.message, /around \$remote_addr \(column 1: "192\.0\.2\.1 \\"\); global"\)$/);
    const cut = rejected(parser, `192.0.2.1 ${literalText}[${TIME}] "GET / HTTP/1.1" 200 x ${$}{');`);
    assert.equal(cut.reason, 'truncated');
    assert.equal(cut.field, 'x');
    assert.equal(pwned(), undefined);
  });

  it('refuses a format whose ${ is never closed, as before', () => {
    assert.throws(
      () => createParser(`nginx:$remote_addr [$time_local] "$request" $status \`${$}{`),
      (error: unknown) =>
        error instanceof BadInput &&
        error.reason === 'bad-log-format' &&
        /is never closed/.test(error.message),
    );
  });

  it('refuses a compiled format whose variable name is not [A-Za-z0-9_]+, before generating anything', () => {
    const compiled = compileNginxLogFormat('$remote_addr [$time_local] "$request" $status $x');
    const evil: CompiledLogFormat = {
      ...compiled,
      steps: compiled.steps.map((step) =>
        step.name === 'x' ? { ...step, name: 'x", globalThis.pwned = 7, "' } : step,
      ),
    };
    assert.throws(
      () => new NginxFormatParser(evil),
      (error: unknown) =>
        error instanceof BadInput && error.reason === 'bad-log-format' && /variable name/.test(error.message),
    );
    assert.equal(pwned(), undefined);
  });
});

describe('nginx log_format: generated readers of unusual formats', () => {
  it('reads variables one character apart, and refuses two that touch', () => {
    const parser = createParser('nginx:$remote_addr|$status|[$time_local]|"$request"|$body_bytes_sent');
    const record = parsed(parser, `192.0.2.1|404|[${TIME}]|"GET /x?y HTTP/1.1"|5`);
    assert.deepEqual([record.status, record.path, record.query, record.bytes], [404, '/x', 'y', 5]);
    assert.throws(() => createParser('nginx:$remote_addr$status [$time_local] "$request"'), /touch/);
  });

  it('checks a literal prefix, and ignores what follows the last literal', () => {
    const parser = createParser('nginx:access: [$time_local] $remote_addr "$request" $status)');
    assert.equal(parsed(parser, `access: [${TIME}] 192.0.2.1 "GET / HTTP/1.1" 200)`).status, 200);
    // Text after the last literal was never read, by the step loop either.
    assert.equal(parsed(parser, `access: [${TIME}] 192.0.2.1 "GET / HTTP/1.1" 200) more`).status, 200);
    const prefix = rejected(parser, `access [${TIME}] 192.0.2.1 "GET / HTTP/1.1" 200)`);
    assert.equal(prefix.reason, 'format-mismatch');
    assert.equal(prefix.field, 'time_local', 'a wrong prefix is reported at the first variable');
    assert.match(prefix.message, /column 1:/);
    const suffix = rejected(parser, `access: [${TIME}] 192.0.2.1 "GET / HTTP/1.1" 200`);
    assert.equal(suffix.reason, 'truncated');
    assert.equal(suffix.field, 'status');
  });

  it('checks literals longer than the ones written out char by char (prefix, after a quoted value)', () => {
    const parser = createParser(
      'nginx:<<< a long literal prefix >>> $remote_addr "$request" is what was asked at [$time_local] $status',
    );
    const line = `<<< a long literal prefix >>> 192.0.2.1 "GET /q HTTP/1.1" is what was asked at [${TIME}] 200`;
    const record = parsed(parser, line);
    assert.deepEqual([record.path, record.time, record.status], ['/q', EPOCH, 200]);
    const prefix = rejected(parser, line.replace('prefix', 'prefiX'));
    assert.equal(prefix.reason, 'format-mismatch');
    assert.equal(prefix.field, 'remote_addr');
    const after = rejected(parser, line.replace('was asked', 'was sent'));
    assert.equal(after.reason, 'format-mismatch');
    assert.equal(after.field, 'request');
    assert.match(after.message, /column 57: "\\" is what was sent a"\)$/);
  });

  it('tells a separator that never comes (truncated) from one that a later field shows (mismatch)', () => {
    const parser = createParser('nginx:$remote_addr - [$time_local] "$request" $status');
    const truncated = rejected(parser, '192.0.2.1');
    assert.equal(truncated.reason, 'truncated');
    assert.equal(truncated.field, 'remote_addr');
    const mismatch = rejected(parser, `192.0.2.1 [${TIME}] "GET / HTTP/1.1" 200`);
    assert.equal(mismatch.reason, 'format-mismatch');
    assert.equal(mismatch.field, 'remote_addr');
  });

  it('reads past $http_NAME headers and unknown variables, keeping the mapped ones', () => {
    const parser = createParser(
      'nginx:$remote_addr $http_x_custom [$time_local] "$request" $status $connection "$http_user_agent" $pipe',
    );
    const record = parsed(parser, `192.0.2.1 whatever [${TIME}] "GET / HTTP/1.1" 200 7 "curl/8" p`);
    assert.equal(record.userAgent, 'curl/8');
    assert.equal(record.status, 200);
  });

  it('reads $request_time and $upstream_response_time in place as secondsListToMs reads their text', () => {
    const parser = createParser(
      'nginx:$remote_addr [$time_local] "$request" $status $request_time "$upstream_response_time"',
    );
    const values = [
      '0.004',
      '12',
      '0',
      '00.5',
      '123456789012345',
      '0.000001',
      '0.0000005',
      '86400',
      '86400.001',
      '5.',
      '.5',
      '1e3',
      '0x10',
      '-',
      '0.010,0.020',
      '1.2.3',
    ];
    for (const value of values) {
      const record = parsed(parser, `192.0.2.1 [${TIME}] "GET / HTTP/1.1" 200 ${value} "${value}"`);
      assert.equal(record.edgeDurationMs, secondsListToMs(value), value);
      assert.equal(record.originDurationMs, secondsListToMs(value), value);
    }
    const empty = parsed(parser, `192.0.2.1 [${TIME}] "GET / HTTP/1.1" 200 0.1 ""`);
    assert.equal(empty.originDurationMs, null);
  });

  it('remembers the last address only for lines with the same address text', () => {
    const parser = createParser('nginx:$remote_addr [$time_local] "$request" $status');
    const line = (address: string) => `${address} [${TIME}] "GET / HTTP/1.1" 200`;
    assert.equal(parsed(parser, line('10.0.0.1')).peerAddress, '10.0.0.1');
    assert.equal(parsed(parser, line('10.0.0.1')).peerAddress, '10.0.0.1');
    assert.equal(parsed(parser, line('10.0.0.2')).peerAddress, '10.0.0.2');
    assert.equal(parsed(parser, line('2001:DB8::1')).peerAddress, '2001:db8::1');
    assert.equal(rejected(parser, line('10.0.0.x')).reason, 'bad-address');
    assert.equal(parsed(parser, line('10.0.0.2')).peerAddress, '10.0.0.2');
  });

  it('keeps the time it read while finding the end of $remote_user', () => {
    const parser = createParser('nginx:$remote_addr - $remote_user [$time_local] "$request" $status');
    const record = parsed(parser, `192.0.2.1 - a [b [${TIME}] "GET / HTTP/1.1" 200`);
    assert.equal(record.time, EPOCH);
    const next = parsed(parser, `192.0.2.1 - - [22/Jan/2024:09:30:12 +0100] "GET / HTTP/1.1" 200`);
    assert.equal(next.time, EPOCH + 86_400_000 - 3_600_000);
  });
});
