// The access-log line inside a syslog message as nginx and syslog relays send it, and a TCP stream
// cut into messages (RFC 6587: newline-framed or octet-counted), bounded in memory.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SyslogStreamFramer, syslogLine } from '../src/index.js';

const LINE = '192.0.2.10 - - [29/Nov/2026:19:20:01 +0000] "GET /a?b=c:d HTTP/1.1" 200 512 "-" "curl/8.5.0"';

describe('syslogLine', () => {
  it('strips the header nginx writes: with the hostname, without it (nohostname), any tag', () => {
    // access_log syslog:server=…  (facility local7, severity info: PRI 190; tag nginx)
    assert.equal(syslogLine(`<190>Nov 29 19:20:01 web-1 nginx: ${LINE}`), LINE);
    // day of month padded with a space, nohostname
    assert.equal(syslogLine(`<190>Nov  9 19:20:01 nginx: ${LINE}`), LINE);
    assert.equal(syslogLine(`<14>Jan  1 00:00:00 edge_cache: ${LINE}`), LINE);
    assert.equal(syslogLine(`<0>Dec 31 23:59:59 host.example nginx[1234]: ${LINE}`), LINE);
  });

  it('reads the headers syslog relays rewrite it to: RFC 3339 timestamps, RFC 5424', () => {
    assert.equal(syslogLine(`<190>2026-11-29T19:20:01.123+01:00 web-1 nginx: ${LINE}`), LINE);
    assert.equal(syslogLine(`<190>1 2026-11-29T19:20:01Z web-1 nginx 1234 - - ${LINE}`), LINE);
    assert.equal(
      syslogLine(`<190>1 2026-11-29T19:20:01Z web-1 nginx - access [meta a="x\\]y"][b c="d"] \ufeff${LINE}`),
      LINE,
    );
    assert.equal(syslogLine('<190>1 2026-11-29T19:20:01Z web-1 nginx - - -'), '');
  });

  it('says a message is not syslog-framed rather than guess (the caller takes it whole)', () => {
    for (const message of [
      LINE,
      '',
      '<190>',
      '<190>not a timestamp at all',
      `<1000>Nov 29 19:20:01 web-1 nginx: ${LINE}`,
      `<192>Nov 29 19:20:01 web-1 nginx: ${LINE}`,
      `<>Nov 29 19:20:01 web-1 nginx: ${LINE}`,
      `<190>Nov 29 19:20:01 web-1 ${LINE}`, // no tag: its header would be read as the line's fields
      `<190>Foo 29 19:20:01 web-1 nginx: ${LINE}`,
      `<190>Nov 29 1:20:01 web-1 nginx: ${LINE}`,
      `<190>1 2026-11-29T19:20:01Z web-1 nginx - - [unclosed ${LINE}`,
    ])
      assert.equal(syslogLine(message), null, message);
  });
});

/** Messages the framer makes of `chunks`, as text; `end` ends the stream after them. */
function frame(chunks: (string | Buffer)[], maxBytes = 1024, end = false): string[] {
  const messages: string[] = [];
  const framer = new SyslogStreamFramer(maxBytes, (m) => messages.push(m.toString('latin1')));
  for (const chunk of chunks) framer.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
  if (end) framer.end();
  return messages;
}

describe('SyslogStreamFramer', () => {
  it('cuts newline-framed messages wherever the chunks break, CR LF too', () => {
    const stream = `<190>Nov 29 19:20:01 nginx: one\n${LINE}\r\n<190>Nov 29 19:20:02 nginx: three\n`;
    const expected = ['<190>Nov 29 19:20:01 nginx: one', `${LINE}\r`, '<190>Nov 29 19:20:02 nginx: three'];
    assert.deepEqual(frame([stream]), expected);
    for (let cut = 1; cut < stream.length; cut += 7)
      assert.deepEqual(frame([stream.slice(0, cut), stream.slice(cut)]), expected, `cut at ${cut}`);
    assert.deepEqual(frame([...stream]), expected, 'a byte at a time');
  });

  it('reads octet-counted frames (RFC 6587 3.4.1), mixed with newline-framed ones', () => {
    const a = '<190>Nov 29 19:20:01 nginx: a line\nwith a newline inside';
    const b = '<190>Nov 29 19:20:02 nginx: b';
    const stream = `${a.length} ${a}${b.length} ${b}${LINE}\n`;
    const expected = [a, b, LINE];
    assert.deepEqual(frame([stream]), expected);
    assert.deepEqual(frame([...stream]), expected, 'a byte at a time');
    assert.deepEqual(frame(['2', '0 <190>Nov 29 1']), [], 'waits for the whole frame');
  });

  it('cuts a message longer than maxBytes, skips its rest as it arrives, and goes on', () => {
    const long = `${LINE} ${'x'.repeat(5000)}`;
    const counted = `<190>Nov 29 19:20:01 nginx: ${'y'.repeat(5000)}`;
    const stream = `${long}\nafter\n${counted.length} ${counted}after 2\n`;
    const chunks: string[] = [];
    for (let i = 0; i < stream.length; i += 100) chunks.push(stream.slice(i, i + 100));
    const messages = frame(chunks, 1024);
    assert.deepEqual(messages, [long.slice(0, 1024), 'after', counted.slice(0, 1024), 'after 2']);
  });

  it('copies a message that arrives a byte at a time a bounded number of times, not once per read', () => {
    // A sender dribbling a 16 KiB message one byte per read: copying all held so far at each
    // read is 16,384²/2 bytes (quadratic: 256 KiB that way took 15 s of the only thread).
    // Counted as bytes copied by the Buffer calls a framer can copy with, not as time.
    const size = 16 * 1024;
    const line = `<190>Nov 29 19:20:01 nginx: ${'z'.repeat(size)}`;
    let copied = 0;
    const { concat, from } = Buffer;
    const copy = Buffer.prototype.copy;
    Buffer.concat = (list: readonly Uint8Array[], length?: number) => {
      const out = concat(list, length);
      copied += out.length;
      return out;
    };
    Buffer.from = ((...args: Parameters<typeof from>) => {
      const out = from(...args);
      copied += out.length;
      return out;
    }) as typeof from;
    Buffer.prototype.copy = function (this: Buffer, ...args: Parameters<Buffer['copy']>) {
      const n = copy.apply(this, args);
      copied += n;
      return n;
    };
    let messages: string[];
    const bytes = [Buffer.from(`${line}\n${line.length} ${line}`)].flatMap((b) =>
      Array.from(b, (_, i) => b.subarray(i, i + 1)),
    );
    copied = 0;
    try {
      messages = frame(bytes, 64 * 1024);
    } finally {
      Buffer.concat = concat;
      Buffer.from = from;
      Buffer.prototype.copy = copy;
    }
    assert.deepEqual(messages, [line, line]);
    assert.ok(copied <= 8 * 2 * line.length, `${copied} bytes copied for 2 messages of ${line.length}`);
  });

  it('hands on what a stream ended with, without its newline or cut short', () => {
    assert.deepEqual(frame([`one\n${LINE}`], 1024, true), ['one', LINE]);
    const counted = '<190>Nov 29 19:20:02 nginx: b';
    assert.deepEqual(frame([`${counted.length} ${counted.slice(0, 20)}`], 1024, true), [
      counted.slice(0, 20),
    ]);
    assert.deepEqual(frame(['x'.repeat(3000)], 1024, true), ['x'.repeat(1024)], 'the cut, once');
  });
});
