// The shipper's socket input over real loopback sockets: lines out of syslog datagrams and TCP
// streams, a bounded queue (UDP drops counted, TCP senders paused), refused peers counted, a
// stop that still hands out everything received; and --listen addresses checked (the other flags:
// packages/cli/test/listen-flags.test.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pbkdf2 } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { BadInput } from '@edgeguard/schema';
import { createLogger, Metrics } from '@edgeguard/telemetry';
import { type ListenAddress, parseListenAddress, SocketInput } from '../src/index.js';

const pbkdf2Async = promisify(pbkdf2);

const line = (i: number) =>
  `192.0.2.${i % 250} - - [29/Nov/2026:19:20:01 +0000] "GET /s/${i} HTTP/1.1" 200 512 "-" "curl/8.5.0"`;

async function started(
  transport: 'udp' | 'tcp',
  options: { queueBytes?: number; allow?: string[]; maxConnections?: number; maxMessageBytes?: number } = {},
) {
  const metrics = new Metrics('shipper');
  const input = new SocketInput(
    { address: { transport, host: '127.0.0.1', port: 0 }, ...options },
    options.maxMessageBytes ?? 4096,
    createLogger('shipper', {}, 'silent'),
    metrics,
  );
  const address = await input.start();
  return { input, address, metrics };
}

async function sendDatagrams(address: ListenAddress, messages: (string | Buffer)[]): Promise<void> {
  const socket = createSocket('udp4');
  for (const message of messages)
    await new Promise<void>((resolve, reject) =>
      socket.send(message, address.port, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
    );
  socket.close();
}

async function tcpConnect(address: ListenAddress): Promise<Socket> {
  const socket = connect(address.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Everything `batches()` yields until it ends. */
async function drain(input: SocketInput): Promise<string[]> {
  const lines: string[] = [];
  for await (const batch of input.batches()) lines.push(...batch);
  return lines;
}

const metric = (text: string, name: string, label: string) =>
  Number(new RegExp(`^${name}\\{${label}[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1]);

describe('socket input', () => {
  it('takes the line out of each syslog datagram, and a datagram without a header whole', async () => {
    const { input, address, metrics } = await started('udp');
    await sendDatagrams(address, [
      `<190>Nov 29 19:20:01 web-1 nginx: ${line(1)}`,
      `<190>Nov  9 19:20:01 nginx: ${line(2)}\n`,
      line(3),
      'garbage \u0000 datagram',
    ]);
    await waitFor(() => input.received.syslog + input.received.bare === 4, 'the datagrams');
    await input.close();
    assert.deepEqual(await drain(input), [line(1), line(2), line(3), 'garbage \u0000 datagram']);
    const text = await metrics.text();
    assert.equal(metric(text, 'edgeguard_shipper_socket_messages_total', 'framing="syslog"'), 2);
    assert.equal(metric(text, 'edgeguard_shipper_socket_messages_total', 'framing="bare"'), 2);
  });

  it('cuts a datagram longer than the longest message kept', async () => {
    const { input, address } = await started('udp', { maxMessageBytes: 1024 });
    await sendDatagrams(address, [`<190>Nov 29 19:20:01 web-1 nginx: ${line(1)} ${'x'.repeat(8000)}`]);
    await waitFor(() => input.received.syslog === 1, 'the datagram');
    await input.close();
    const [cut] = await drain(input);
    assert.ok(cut!.startsWith(line(1)));
    assert.equal(cut!.length, 1024 - '<190>Nov 29 19:20:01 web-1 nginx: '.length);
  });

  it('drops UDP datagrams once the queue is full, and counts them', async () => {
    const message = `<190>Nov 29 19:20:01 web-1 nginx: ${line(1)}`; // 131 bytes
    const { input, address, metrics } = await started('udp', { queueBytes: 1000 });
    await sendDatagrams(
      address,
      Array.from({ length: 20 }, () => message),
    );
    await waitFor(() => input.received.syslog + input.dropped['queue-full'] === 20, 'the datagrams');
    assert.equal(input.received.syslog, Math.floor(1000 / Buffer.byteLength(message)));
    assert.equal(input.dropped['queue-full'], 20 - input.received.syslog);
    const text = await metrics.text();
    assert.equal(
      metric(text, 'edgeguard_shipper_socket_dropped_total', 'reason="queue-full"'),
      input.dropped['queue-full'],
    );
    await input.close();
    assert.equal((await drain(input)).length, input.received.syslog, 'what was queued is handed out');
  });

  it('counts the datagrams the kernel dropped while the shipper was busy (Linux)', {
    skip: !existsSync('/proc/net/udp') && 'no /proc/net/udp',
  }, async () => {
    const { input, address, metrics } = await started('udp', { queueBytes: 1 << 30 });
    // The sender runs while this thread is blocked (spawnSync): far more than the receive buffer
    // holds arrives before anything is read.
    const sent = 40_000;
    const sender = `const s = require('node:dgram').createSocket('udp4'); const m = Buffer.alloc(1000, 'x');
      let n = 0; const next = () => { if (n === ${sent}) return s.close(); n++; s.send(m, ${address.port}, '127.0.0.1', next); }; next();`;
    const run = spawnSync(process.execPath, ['-e', sender]);
    assert.equal(run.status, 0, String(run.stderr));
    await waitFor(() => input.received.bare > 0, 'what the buffer held');
    // The buffer is read empty once nothing more arrives for a while.
    for (let before = -1; before !== input.received.bare; ) {
      before = input.received.bare;
      await sleep(100);
    }
    await input.close(); // reads the kernel's count once more
    assert.ok(input.dropped['kernel-buffer'] > 0, 'the kernel dropped some');
    assert.equal(
      input.received.bare + input.dropped['kernel-buffer'],
      sent,
      'every datagram received or counted',
    );
    const text = await metrics.text();
    assert.equal(
      metric(text, 'edgeguard_shipper_socket_dropped_total', 'reason="kernel-buffer"'),
      input.dropped['kernel-buffer'],
    );
  });

  it("does not count the kernel's drops of another socket on the same port, another address (Linux)", {
    skip: !existsSync('/proc/net/udp') && 'no /proc/net/udp',
  }, async () => {
    // A second shipper or a local syslog daemon may have the port on another address: its
    // socket's drops are listed under the same port in /proc/net/udp, and are not ours.
    const { input, address } = await started('udp', { queueBytes: 1 << 30 });
    const other = createSocket('udp4');
    await new Promise<void>((resolve) => other.bind(address.port, '127.0.0.2', resolve));
    other.setRecvBufferSize(4096);
    const sender = `const s = require('node:dgram').createSocket('udp4'); const m = Buffer.alloc(1000, 'x');
      let n = 0; const next = () => { if (n === 5000) return s.close(); n++; s.send(m, ${address.port}, '127.0.0.2', next); }; next();`;
    const run = spawnSync(process.execPath, ['-e', sender]);
    assert.equal(run.status, 0, String(run.stderr));
    const row = readFileSync('/proc/net/udp', 'utf8')
      .split('\n')
      .map((r) => r.trim().split(/\s+/))
      .find((c) => c[1] === `0200007F:${address.port.toString(16).toUpperCase().padStart(4, '0')}`);
    await input.close(); // reads the kernel's count
    other.close();
    assert.ok(Number(row?.at(-1)) > 0, `the other socket dropped some: ${row?.join(' ')}`);
    assert.equal(input.dropped['kernel-buffer'], 0);
    assert.equal(input.received.bare, 0);
  });

  it('refuses datagrams and connections from peers not in the allowlist, and counts them', async () => {
    for (const transport of ['udp', 'tcp'] as const) {
      const { input, address, metrics } = await started(transport, {
        allow: ['192.0.2.0/24', '2001:db8::/32'],
      });
      if (transport === 'udp') await sendDatagrams(address, [line(1), line(2)]);
      else {
        const socket = await tcpConnect(address);
        socket.write(`${line(1)}\n`);
        await new Promise((resolve) => socket.once('close', resolve));
      }
      const refused = transport === 'udp' ? 2 : 1;
      await waitFor(() => input.refused['not-allowed'] === refused, `${transport} refusals`);
      const text = await metrics.text();
      assert.equal(metric(text, 'edgeguard_shipper_socket_refused_total', 'reason="not-allowed"'), refused);
      await input.close();
      assert.deepEqual(await drain(input), [], `${transport}: nothing queued`);
    }
    const { input, address } = await started('udp', { allow: ['127.0.0.0/8'] });
    await sendDatagrams(address, [line(1)]);
    await waitFor(() => input.received.bare === 1, 'an allowed datagram');
    await input.close();
  });

  it('frames TCP streams from several connections, newline-framed and octet-counted', async () => {
    const { input, address, metrics } = await started('tcp');
    const a = await tcpConnect(address);
    const b = await tcpConnect(address);
    const syslog = `<190>Nov 29 19:20:01 web-1 nginx: ${line(2)}`;
    a.write(`${line(1)}\n${syslog.length} ${syslog}`);
    b.write(`<190>Nov 29 19:20:01 nginx: ${line(3)}\r\n${line(4)}`); // the last one ends with the connection
    await waitFor(() => input.received.syslog + input.received.bare === 3, 'the framed messages');
    assert.match(await metrics.text(), /edgeguard_shipper_socket_connections\{[^}]*\} 2\n/);
    b.end();
    await waitFor(() => input.received.syslog + input.received.bare === 4, 'the line the stream ended with');
    await input.close();
    assert.deepEqual((await drain(input)).sort(), [line(1), line(2), line(3), line(4)].sort());
    a.destroy();
  });

  it('pauses TCP senders while the queue is full, drops nothing, and resumes as it empties', async () => {
    const { input, address, metrics } = await started('tcp', { queueBytes: 64 * 1024 });
    const socket = await tcpConnect(address);
    const total = 40_000; // ~4 MiB: far more than the queue and the kernel's buffers hold
    let written = 0;
    const writeAll = (async () => {
      for (; written < total; written++)
        if (!socket.write(`${line(written)}\n`))
          await new Promise((resolve) => socket.once('drain', resolve));
    })();
    await waitFor(() => input.received.bare > 0, 'the first lines');
    await sleep(300); // the sender runs into the pause
    const text = await metrics.text();
    assert.match(text, /edgeguard_shipper_socket_paused\{[^}]*\} 1\n/);
    // At most the queue and one read of 64 KiB: the rest waits in the kernel's buffers and at the sender.
    const queued = metric(text, 'edgeguard_shipper_socket_queued_bytes', 'service');
    assert.ok(queued <= 128 * 1024, `${queued} bytes queued`);
    const received = input.received.bare;
    assert.ok(received < total / 4, `${received} of ${total} lines received while paused`);
    await sleep(200);
    assert.equal(input.received.bare, received, 'nothing is read while paused');
    const lines: string[] = [];
    const draining = (async () => {
      for await (const batch of input.batches()) lines.push(...batch);
    })();
    await writeAll;
    socket.end();
    await waitFor(() => lines.length === total, 'every line');
    await input.close();
    await draining;
    assert.deepEqual(
      lines,
      Array.from({ length: total }, (_, i) => line(i)),
      'every line, once, in order',
    );
    assert.equal(input.dropped['queue-full'], 0);
  });

  it('at a stop while TCP senders are paused, hands out every line already read off the socket', async () => {
    // Paused, a connection still holds what Node read before the pause (up to a read of 64 KiB,
    // bytes the kernel acknowledged to the sender): a stop must frame it, not discard it unseen.
    const { input, address } = await started('tcp', { queueBytes: 16 * 1024 });
    const client = await tcpConnect(address);
    const sent = Array.from({ length: 20_000 }, (_, i) => `${line(i)}\n`).join('');
    client.write(sent);
    client.on('error', () => undefined);
    const paused = () => (input as unknown as { paused: boolean }).paused;
    await waitFor(paused, 'the pause');
    const [server] = (input as unknown as { connections: Map<Socket, unknown> }).connections.keys();
    await sleep(100); // the paused stream fills its buffer
    const buffered = server!.readableLength;
    await input.close();
    const lines = await drain(input);
    client.destroy();
    const read = sent.slice(0, server!.bytesRead);
    const whole = read.split('\n').length - 1;
    const expected = read.endsWith('\n') ? whole : whole + 1; // a cut last line is handed on as it is
    assert.ok(buffered > 0, 'the paused connection held bytes already read');
    assert.equal(
      lines.length,
      expected,
      `lines of the ${server!.bytesRead} bytes read (${buffered} held at the pause)`,
    );
    assert.deepEqual(
      lines.slice(0, whole),
      Array.from({ length: whole }, (_, i) => line(i)),
    );
  });

  it('refuses a TCP connection beyond --max-connections, and counts it', async () => {
    const { input, address } = await started('tcp', { maxConnections: 1 });
    const first = await tcpConnect(address);
    await waitFor(
      () => (input as unknown as { connections: Map<unknown, unknown> }).connections.size === 1,
      'one',
    );
    const second = connect(address.port, '127.0.0.1');
    second.on('error', () => undefined);
    await new Promise((resolve) => second.once('close', resolve));
    await waitFor(() => input.refused['too-many-connections'] === 1, 'the refusal');
    first.write(`${line(1)}\n`);
    await waitFor(() => input.received.bare === 1, 'the first connection still served');
    first.destroy();
    await input.close();
  });

  it('keeps TCP keepalive on each connection, so a sender whose host vanished frees its slot (Linux)', {
    skip: !existsSync('/proc/net/tcp') && 'no /proc/net/tcp',
  }, async () => {
    // A peer gone without a FIN is only found by probing: the kernel's keepalive timer must run
    // on the accepted socket (/proc/net/tcp's `tr` column is 2 for it; 0 is no timer at all).
    const { input, address } = await started('tcp');
    const client = await tcpConnect(address);
    await waitFor(
      () => (input as unknown as { connections: Map<unknown, unknown> }).connections.size === 1,
      'the connection',
    );
    const hex = (port: number) => `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
    const row = readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .map((r) => r.trim().split(/\s+/))
      .find((c) => c[1]?.endsWith(hex(address.port)) && c[2]?.endsWith(hex(client.localPort!)));
    client.destroy();
    await input.close();
    assert.ok(row, 'the accepted socket in /proc/net/tcp');
    assert.equal(row[5]!.split(':')[0], '02', `the keepalive timer runs: ${row.join(' ')}`);
  });

  it('at close, first reads the datagrams the kernel already holds', async () => {
    const { input, address } = await started('udp');
    // Sent while this thread is blocked (spawnSync): all of them wait in the kernel's buffer.
    const sent = 2000;
    const sender = `const s = require('node:dgram').createSocket('udp4');
      let n = 0; const next = () => { if (n === ${sent}) return s.close(); s.send('line ' + n++, ${address.port}, '127.0.0.1', next); }; next();`;
    const run = spawnSync(process.execPath, ['-e', sender]);
    assert.equal(run.status, 0, String(run.stderr));
    await input.close(); // at once: nothing was read yet
    const lines = await drain(input);
    assert.equal(input.dropped['kernel-buffer'], 0);
    assert.deepEqual(
      lines,
      Array.from({ length: sent }, (_, i) => `line ${i}`),
    );
  });

  it('at close, queues the datagrams that arrive while it reads the last kernel count', async () => {
    // Between the end of the read-on and the socket's close the kernel's drop count is read
    // (/proc/net/udp, on libuv's thread pool): datagrams arriving meanwhile were received and
    // then discarded unqueued and uncounted. The pool is kept busy so that read waits for them.
    const { input, address } = await started('udp');
    let pool = false;
    const busy = Array.from({ length: 16 }, () => pbkdf2Async('x', 'y', 400_000, 32, 'sha256'));
    void Promise.all(busy).then(() => {
      pool = true;
    });
    const closing = input.close();
    await sleep(300); // the read-on ends after 50 ms without a datagram
    await sendDatagrams(address, [line(1), line(2), line(3)]);
    assert.equal(pool, false, 'the pool was still busy: the count was still waiting');
    await sleep(50); // they reach the socket while the count is still waiting for the pool
    await Promise.all(busy);
    await closing;
    assert.deepEqual(await drain(input), [line(1), line(2), line(3)]);
  });

  it('at close, hands out everything received, then ends', async () => {
    const { input, address } = await started('tcp');
    const socket = await tcpConnect(address);
    socket.write(Array.from({ length: 5000 }, (_, i) => `${line(i)}\n`).join(''));
    socket.write('a line cut short by the stop');
    await waitFor(() => input.received.bare === 5000, 'the lines');
    await input.close(); // reads the unfinished line's bytes first, if they were still on their way
    const lines = await drain(input);
    assert.equal(lines.length, 5001);
    assert.equal(lines[5000], 'a line cut short by the stop');
    socket.destroy();
  });
});

describe('--listen and its options', () => {
  it('reads udp:// and tcp:// addresses, IPv6 in brackets', () => {
    assert.deepEqual(parseListenAddress('udp://0.0.0.0:5514'), {
      transport: 'udp',
      host: '0.0.0.0',
      port: 5514,
    });
    assert.deepEqual(parseListenAddress('tcp://[::]:514'), { transport: 'tcp', host: '::', port: 514 });
    assert.deepEqual(parseListenAddress('udp://localhost:0'), {
      transport: 'udp',
      host: 'localhost',
      port: 0,
    });
  });

  it('refuses a bad address or port, naming the flag and what was expected', () => {
    for (const [text, why] of [
      [
        'udp://0.0.0.0:70000',
        /--listen "udp:\/\/0\.0\.0\.0:70000": the port must be a number from 0 to 65535/,
      ],
      ['udp://0.0.0.0', /expected udp:\/\/HOST:PORT or tcp:\/\/HOST:PORT/],
      ['0.0.0.0:5514', /expected udp:\/\/HOST:PORT/],
      ['http://0.0.0.0:5514', /only udp:\/\/ and tcp:\/\/ are received/],
      ['udp://[nope]:5514', /\[nope\] is not an IPv6 address/],
      ['udp://0.0.0.0:55x', /the port must be a number/],
    ] as const)
      assert.throws(
        () => parseListenAddress(text),
        (error: unknown) =>
          error instanceof BadInput && error.reason === 'bad-usage' && why.test(error.message),
        text,
      );
  });

  it('says which address cannot be listened on', async () => {
    const { input, address } = await started('tcp');
    const metrics = new Metrics('shipper');
    const second = new SocketInput({ address }, 4096, createLogger('shipper', {}, 'silent'), metrics);
    await assert.rejects(
      second.start(),
      /cannot listen on tcp:\/\/127\.0\.0\.1:\d+ \(--listen\): the port is in use/,
    );
    await input.close();
    await second.close();
  });
});
