// `edgeguard run shipper --listen` through the real broker: nginx-style syslog datagrams over UDP
// and lines over TCP become records on access-logs (header stripped, client, path, status), bad
// and oversized messages are counted rather than crash it, a stop ships what was received, and a
// bad address is refused before anything starts.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { bin, edgeguard, eventually, freePort, uniquePrefix } from './support/services.js';
import { cuttableBroker, readFollowed, waitFor } from './support/shipper.js';

const work = mkdtempSync(join(tmpdir(), 'eg-shipper-socket-'));
// Lines of 1 KiB at most: a message over 4 KiB is cut and rejected as oversized-line.
const config = join(work, 'config.json');
writeFileSync(config, JSON.stringify({ input: { format: 'combined', maxLineLength: 1024 } }));

function freshTopics(name: string): string {
  const prefix = uniquePrefix(name);
  const ensure = edgeguard(['topics', 'ensure', '--partitions', '2'], { EDGEGUARD_TOPIC_PREFIX: prefix });
  assert.equal(ensure.code, 0, ensure.stderr);
  return prefix;
}

const line = (i: number, status = 200) =>
  `198.51.100.${i % 200} - - [29/Nov/2026:19:20:${String(i % 60).padStart(2, '0')} +0000] "GET /s/${i} HTTP/1.1" ${status} 512 "-" "curl/8.5.0"`;

/** `run shipper --listen <listen>` started; resolves once it listens, with the port it bound. */
async function startShipper(
  listen: string,
  prefix: string,
  args: string[] = [],
  more: { nodeArgs?: string[]; env?: Record<string, string> } = {},
) {
  const healthPort = await freePort();
  const child = spawn(
    process.execPath,
    [...(more.nodeArgs ?? []), bin, 'run', 'shipper', '--listen', listen, '--config', config, ...args],
    {
      env: {
        ...process.env,
        LOG_LEVEL: 'info',
        EDGEGUARD_TOPIC_PREFIX: prefix,
        EDGEGUARD_HEALTH_PORT: String(healthPort),
        ...more.env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const output = { stderr: '' };
  child.stderr!.on('data', (d) => {
    output.stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await waitFor(() => output.stderr.includes('"msg":"listening"') || child.exitCode !== null, 'listening');
  const listening = output.stderr.split('\n').find((l) => l.includes('"msg":"listening"'));
  assert.ok(listening, output.stderr);
  const port = Number(/:(\d+)$/.exec(JSON.parse(listening).listen)![1]);
  const metrics = async () => (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
  return { child, output, exited, port, metrics };
}

const metric = (text: string, name: string, label = '') =>
  Number(new RegExp(`^${name}\\{${label}[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);

async function stop(child: ChildProcess, exited: Promise<number | null>): Promise<number | null> {
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

describe('run shipper --listen over the real broker', { timeout: 180_000 }, () => {
  it('ships nginx syslog datagrams over UDP, header stripped; garbage and oversized ones counted, not fatal', async () => {
    const prefix = freshTopics('shipper-udp');
    const seen = readFollowed(prefix);
    const shipper = await startShipper('udp://127.0.0.1:0', prefix);
    try {
      const udp = createSocket('udp4');
      const send = (message: string) =>
        new Promise<void>((resolve, reject) =>
          udp.send(message, shipper.port, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
        );
      // As nginx sends them: access_log syslog:server=…:PORT combined; then with nohostname,tag=edge.
      await send(`<190>Nov 29 19:20:01 web-1 nginx: ${line(1)}`);
      await send(`<190>Nov 29 19:20:01 web-1 nginx: ${line(2, 404)}`);
      await send(`<188>Nov  9 19:20:01 edge: ${line(3, 503)}`);
      await send(line(4)); // no syslog header: the bare line
      await send('<190>Nov 29 19:20:01 web-1 nginx: this is not an access log line');
      await send('\u0000\u0001 garbage datagram');
      await send(`<190>Nov 29 19:20:01 web-1 nginx: ${line(5)} ${'x'.repeat(6000)}`); // > 4 × 1024 bytes
      await send(`<190>Nov 29 19:20:02 web-1 nginx: ${line(6)}`); // still running after all that
      udp.close();
      await waitFor(() => seen.records.length >= 5, 'the good lines shipped');
      const shipped = seen.records
        .map((r) => ({ client: r.clientAddress, path: r.path, status: r.status }))
        .sort((a, b) => a.path.localeCompare(b.path));
      assert.deepEqual(shipped, [
        { client: '198.51.100.1', path: '/s/1', status: 200 },
        { client: '198.51.100.2', path: '/s/2', status: 404 },
        { client: '198.51.100.3', path: '/s/3', status: 503 },
        { client: '198.51.100.4', path: '/s/4', status: 200 },
        { client: '198.51.100.6', path: '/s/6', status: 200 },
      ]);
      const text = await shipper.metrics();
      assert.equal(metric(text, 'edgeguard_shipper_socket_messages_total', 'framing="syslog"'), 6);
      assert.equal(metric(text, 'edgeguard_shipper_socket_messages_total', 'framing="bare"'), 2);
      assert.equal(metric(text, 'edgeguard_shipper_rejected_total', 'reason="oversized-line"'), 1);
      assert.equal(metric(text, 'edgeguard_shipper_rejected_total', 'reason="binary"'), 1);
      assert.equal(metric(text, 'edgeguard_shipper_socket_dropped_total', 'reason="queue-full"'), 0);
    } finally {
      assert.equal(await stop(shipper.child, shipper.exited), 0, shipper.output.stderr);
      await seen.stop();
    }
    const summary = JSON.parse(shipper.output.stderr.split('\n').find((l) => l.includes('"msg":"shipped"'))!);
    assert.equal(summary.lines, 8);
    assert.equal(summary.produced, 5);
    assert.equal(summary.rejected, 3, JSON.stringify(summary.rejectedByReason));
    assert.deepEqual(summary.received, { syslog: 6, bare: 2 });
  });

  it('ships lines over TCP (newline-framed and octet-counted, from several connections); SIGTERM ships every line received first', async () => {
    const prefix = freshTopics('shipper-tcp');
    const seen = readFollowed(prefix);
    const shipper = await startShipper('tcp://127.0.0.1:0', prefix);
    const total = 6000;
    const connections: Socket[] = [];
    try {
      for (let c = 0; c < 3; c++) {
        const socket = connect(shipper.port, '127.0.0.1');
        await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
        connections.push(socket);
      }
      const frames: string[][] = [[], [], []];
      for (let i = 0; i < total; i++) {
        const c = i % 3;
        if (c === 0)
          frames[0]!.push(`${line(i)}\n`); // bare lines, one a line
        else if (c === 1) frames[1]!.push(`<190>Nov 29 19:20:01 web-1 nginx: ${line(i)}\r\n`);
        else {
          const message = `<190>Nov 29 19:20:01 nginx: ${line(i)}`; // octet-counted (RFC 6587)
          frames[2]!.push(`${Buffer.byteLength(message)} ${message}`);
        }
      }
      for (const [c, socket] of connections.entries()) socket.write(frames[c]!.join(''));
      // Received (queued) is not yet shipped: the stop must ship what is still queued.
      for (const deadline = Date.now() + 30_000; ; ) {
        const text = await shipper.metrics();
        const received =
          metric(text, 'edgeguard_shipper_socket_messages_total', 'framing="syslog"') +
          metric(text, 'edgeguard_shipper_socket_messages_total', 'framing="bare"');
        if (received >= total) break;
        assert.ok(Date.now() < deadline, `${received} of ${total} lines received`);
        await sleep(10);
      }
    } catch (error) {
      shipper.child.kill('SIGKILL');
      throw error;
    }
    const code = await stop(shipper.child, shipper.exited);
    for (const socket of connections) socket.destroy();
    assert.equal(code, 0, shipper.output.stderr);
    try {
      await waitFor(() => seen.records.length >= total, 'every line on the topic');
    } finally {
      await seen.stop();
    }
    const numbers = seen.records.map((r) => Number(r.path.slice('/s/'.length))).sort((a, b) => a - b);
    assert.deepEqual(
      numbers,
      Array.from({ length: total }, (_, i) => i),
      'every line, once',
    );
    assert.ok(seen.records.every((r) => r.status === 200 && r.clientAddress.startsWith('198.51.100.')));
    const stopped = shipper.output.stderr.split('\n').find((l) => l.includes('stopped listening'));
    assert.ok(stopped, shipper.output.stderr);
    assert.deepEqual(JSON.parse(stopped).received, { syslog: (total / 3) * 2, bare: total / 3 });
  });

  it('--format and --trusted-proxies override the config file, as for ship', async () => {
    // The config says combined, no trusted proxy: nginx-main lines from a proxy, read with the
    // flags, are the client behind it (its X-Forwarded-For); read as combined they would be rejected.
    const prefix = freshTopics('shipflags-format');
    const seen = readFollowed(prefix);
    const shipper = await startShipper('udp://127.0.0.1:0', prefix, [
      '--format',
      'nginx-main',
      '--trusted-proxies',
      '10.0.0.0/8',
    ]);
    try {
      const udp = createSocket('udp4');
      for (let i = 1; i <= 3; i++)
        await new Promise<void>((resolve, reject) =>
          udp.send(
            `<190>Nov 29 19:20:01 web-1 nginx: 10.1.2.3 - - [29/Nov/2026:19:20:0${i} +0000] "GET /x/${i} HTTP/1.1" 200 512 "-" "curl/8.5.0" "198.51.100.${70 + i}"`,
            shipper.port,
            '127.0.0.1',
            (error) => (error ? reject(error) : resolve()),
          ),
        );
      udp.close();
      await waitFor(() => seen.records.length >= 3, 'the three lines shipped');
      assert.deepEqual(seen.records.map((r) => `${r.clientAddress} ${r.path}`).sort(), [
        '198.51.100.71 /x/1',
        '198.51.100.72 /x/2',
        '198.51.100.73 /x/3',
      ]);
    } finally {
      assert.equal(await stop(shipper.child, shipper.exited), 0, shipper.output.stderr);
      await seen.stop();
    }
  });

  for (const transport of ['udp', 'tcp'] as const)
    it(`a stop with the broker gone (${transport}): exits 1 within EDGEGUARD_STOP_TIMEOUT_MS, saying how many lines were not shipped`, async () => {
      // It waited for the broker for ever (kafkajs retries an idempotent producer's send without
      // end): SIGTERM left it running, and only SIGKILL ended it.
      const prefix = freshTopics(`shipflags-stop-${transport}`);
      const seen = readFollowed(prefix);
      const broker = await cuttableBroker();
      const stopTimeoutMs = 4_000;
      const shipper = await startShipper(`${transport}://127.0.0.1:0`, prefix, [], {
        nodeArgs: ['--import', broker.hook],
        env: { EDGEGUARD_STOP_TIMEOUT_MS: String(stopTimeoutMs) },
      });
      const tcp =
        transport === 'tcp' ? connect(shipper.port, '127.0.0.1').on('error', () => undefined) : null;
      const udp = createSocket('udp4');
      const send = async (from: number, to: number) => {
        for (let i = from; i < to; i++)
          if (tcp) tcp.write(`${line(i)}\n`);
          else
            await new Promise<void>((resolve, reject) =>
              udp.send(line(i), shipper.port, '127.0.0.1', (error) => (error ? reject(error) : resolve())),
            );
      };
      const received = async () => {
        const text = await shipper.metrics();
        return metric(text, 'edgeguard_shipper_socket_messages_total', 'framing="bare"');
      };
      let signalled = 0;
      try {
        await send(0, 10);
        await waitFor(() => seen.records.length >= 10, 'the first 10 lines shipped');
        broker.cut();
        await send(10, 30);
        for (const deadline = Date.now() + 30_000; (await received()) < 30; await sleep(20))
          assert.ok(Date.now() < deadline, `${await received()} of 30 lines received`);
        signalled = Date.now();
        shipper.child.kill('SIGTERM');
        const timer = setTimeout(() => shipper.child.kill('SIGKILL'), stopTimeoutMs + 20_000);
        const code = await shipper.exited;
        clearTimeout(timer);
        const ms = Date.now() - signalled;
        assert.equal(code, 1, shipper.output.stderr);
        // The bound, plus the CLI's exit (the process's own start is long past).
        assert.ok(ms < stopTimeoutMs + 3_000, `exited ${ms} ms after SIGTERM`);
        assert.ok(ms >= stopTimeoutMs - 100, `exited ${ms} ms after SIGTERM, before the bound`);
      } finally {
        tcp?.destroy();
        udp.close();
        if (shipper.child.exitCode === null) shipper.child.kill('SIGKILL');
        await seen.stop();
      }
      const lines = shipper.output.stderr.split('\n');
      const fatal = lines.filter((l) => l.includes('"msg":"stop timed out'));
      assert.equal(fatal.length, 1, shipper.output.stderr);
      const logged = JSON.parse(fatal[0]!);
      assert.equal(logged.level, 60);
      assert.equal(logged.notShipped, 20);
      assert.equal(
        logged.msg,
        `stop timed out after ${stopTimeoutMs} ms (EDGEGUARD_STOP_TIMEOUT_MS; Kafka unreachable?): 20 lines received were not shipped`,
      );
      // The CLI's one line, no stack trace.
      assert.ok(lines.includes(`edgeguard run: ${logged.msg}`), shipper.output.stderr);
      assert.doesNotMatch(shipper.output.stderr, /\n\s+at /);
      assert.equal(seen.records.length, 10);
    });

  // A real nginx when there is one (infra/ensure-packages.sh installs it): what it sends, not what we think it does.
  const nginx = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find((p) =>
    existsSync(p),
  );
  it('ships what a real nginx sends with access_log syslog:server=… (with the hostname, and nohostname)', {
    skip: !nginx && 'nginx is not installed (bash infra/ensure-packages.sh installs it)',
  }, async () => {
    const prefix = freshTopics('shipper-nginx');
    const seen = readFollowed(prefix);
    const shipper = await startShipper('udp://127.0.0.1:0', prefix);
    const dir = mkdtempSync(join(work, 'nginx-'));
    const httpPort = await freePort();
    const server = `127.0.0.1:${shipper.port}`;
    writeFileSync(
      join(dir, 'nginx.conf'),
      `worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log; daemon off;
      events { worker_connections 64; }
      http {
        client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
        access_log syslog:server=${server} combined;
        access_log syslog:server=${server},nohostname,tag=edge_1,facility=local0,severity=notice combined;
        server { listen 127.0.0.1:${httpPort}; location / { return 200 "ok"; } location /missing { return 404; } }
      }`,
    );
    const proxy = spawn(nginx!, ['-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
    try {
      await eventually(
        'nginx answering',
        async () =>
          (await fetch(`http://127.0.0.1:${httpPort}/page?x=1`).catch(() => null))?.ok ? true : undefined,
        30_000,
      );
      await fetch(`http://127.0.0.1:${httpPort}/missing`);
      await waitFor(() => seen.records.length >= 4, 'both requests, logged twice each');
      const shipped = seen.records.map((r) => `${r.clientAddress} ${r.path} ${r.status}`).sort();
      assert.deepEqual(shipped, [
        '127.0.0.1 /missing 404',
        '127.0.0.1 /missing 404',
        '127.0.0.1 /page 200',
        '127.0.0.1 /page 200',
      ]);
      const text = await shipper.metrics();
      assert.equal(metric(text, 'edgeguard_shipper_socket_messages_total', 'framing="syslog"'), 4);
      assert.equal(metric(text, 'edgeguard_shipper_lines_total'), 4);
    } finally {
      proxy.kill('SIGQUIT');
      assert.equal(await stop(shipper.child, shipper.exited), 0, shipper.output.stderr);
      await seen.stop();
    }
  });

  it('refuses a bad --listen before starting: exit 2 naming it', () => {
    const env = { EDGEGUARD_TOPIC_PREFIX: uniquePrefix('shipper-listen-bad') };
    for (const [args, why] of [
      [
        ['--listen', 'udp://0.0.0.0:99999'],
        /--listen "udp:\/\/0\.0\.0\.0:99999": the port must be a number from 0 to 65535/,
      ],
      [
        ['--listen', '0.0.0.0:5514'],
        /--listen "0\.0\.0\.0:5514": expected udp:\/\/HOST:PORT or tcp:\/\/HOST:PORT/,
      ],
      [['--listen', 'udp://0.0.0.0:5514', '--follow', 'x.log'], /one of --follow FILE and --listen/],
      [[], /one of --follow FILE and --listen/],
      [
        ['--listen', 'udp://0.0.0.0:5514', '--position-file', 'p'],
        /--position-file and --from-start are for --follow/,
      ],
      [
        ['--follow', 'x.log', '--allow', '10.0.0.0/8'],
        /--allow, --max-connections and --queue-mib are for --listen/,
      ],
      [['--listen', 'tcp://0.0.0.0:5514', '--allow', '10.0.0.0/40'], /--allow: /],
    ] as const) {
      const run = edgeguard(['run', 'shipper', ...args], env);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, why);
    }
    const other = edgeguard(['run', 'decider', '--listen', 'udp://0.0.0.0:5514'], env);
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderr, /--listen is for the shipper/);
  });
});
