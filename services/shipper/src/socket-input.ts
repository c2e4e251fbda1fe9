import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { type AddressInfo, createServer, isIPv6, type Server, type Socket } from 'node:net';
import { endianness } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LineBatch } from '@edgeguard/logformat';
import { CidrSet, type Ipv4Address, parseIp } from '@edgeguard/netaddr';
import { BadInput } from '@edgeguard/schema';
import type { Logger, Metrics } from '@edgeguard/telemetry';
import { SyslogStreamFramer, syslogLine } from './syslog.js';

/** Where `run shipper --listen` receives: syslog over UDP (what nginx sends), or over TCP. */
export interface ListenAddress {
  transport: 'udp' | 'tcp';
  /** An IP address or a host name (IPv6 without brackets). */
  host: string;
  /** 0 takes a free port (the `listening` log line names it). */
  port: number;
}

const LISTEN_SHAPE = 'udp://HOST:PORT or tcp://HOST:PORT (e.g. udp://0.0.0.0:5514, tcp://[::]:5514)';

/** Reads `udp://HOST:PORT` or `tcp://HOST:PORT`; a BadInput (`bad-usage`) naming `flag` otherwise. */
export function parseListenAddress(text: string, flag = '--listen'): ListenAddress {
  const bad = (why: string) =>
    new BadInput('bad-usage', `${flag} ${JSON.stringify(text)}: ${why}`, undefined, flag);
  const match = /^(udp|tcp):\/\/(\[[^\]]*\]|[^\s/:[\]@?#]+):([^/?#]*)\/?$/.exec(text);
  if (!match) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) && !/^(udp|tcp):\/\//.test(text))
      throw bad(`only udp:// and tcp:// are received, as ${LISTEN_SHAPE}`);
    throw bad(`expected ${LISTEN_SHAPE}`);
  }
  const [, transport, bracketed, portText] = match;
  if (!/^\d{1,5}$/.test(portText!) || Number(portText) > 65535)
    throw bad(`the port must be a number from 0 to 65535, not ${JSON.stringify(portText)}`);
  const host = bracketed!.startsWith('[') ? bracketed!.slice(1, -1) : bracketed!;
  if (bracketed!.startsWith('[') && !isIPv6(host)) throw bad(`${bracketed} is not an IPv6 address`);
  return { transport: transport as 'udp' | 'tcp', host, port: Number(portText) };
}

/** `udp://0.0.0.0:5514`, `tcp://[::1]:5514`: how an address is named in logs and rejects. */
export function formatListenAddress(address: ListenAddress): string {
  const host = isIPv6(address.host) ? `[${address.host}]` : address.host;
  return `${address.transport}://${host}:${address.port}`;
}

export interface SocketInputOptions {
  address: ListenAddress;
  /**
   * Peers that may send, as CIDRs; absent or empty: anyone who reaches the port. A datagram (UDP)
   * or connection (TCP) from another peer is refused: dropped or closed at once, counted
   * (`edgeguard_shipper_socket_refused_total{reason="not-allowed"}`) and logged.
   */
  allow?: readonly string[];
  /**
   * TCP: connections open at once at most (default 64, at most 10,000); one more is closed at
   * once, counted (`reason="too-many-connections"`) and logged. Each holds at most one message
   * being framed (≤ maxMessageBytes) and one read (≤ 64 KiB).
   */
  maxConnections?: number;
  /**
   * Bytes of received messages waiting for the producer at most (default 16 MiB). When full, UDP
   * datagrams are dropped and counted (`edgeguard_shipper_socket_dropped_total{reason="queue-full"}`),
   * TCP connections are paused (no longer read: the senders' buffers fill and they wait) until
   * it is half empty.
   */
  queueBytes?: number;
}

export const DEFAULT_MAX_CONNECTIONS = 64;
export const DEFAULT_QUEUE_BYTES = 16 * 1024 * 1024;
/** Lines handed to the producer at once at most (the rest wait in the queue for the next batch). */
const BATCH_LINES = 2000;
/** A trouble that repeats (drops, refusals) is logged at most this often (ms), with its totals. */
const WARN_EVERY_MS = 10_000;

/**
 * queue-full: the queue to the broker was full; kernel-buffer: the kernel's receive buffer was
 * (datagrams that arrived while the shipper was busy, read from /proc/net/udp on Linux).
 */
const DROP_REASONS = ['queue-full', 'kernel-buffer'] as const;
/**
 * The UDP receive buffer asked for (SO_RCVBUF): room for bursts that arrive while the shipper
 * parses and produces. Linux caps it at net.core.rmem_max (often 208 KiB; the `listening` line
 * says what was granted).
 */
const UDP_RECEIVE_BUFFER = 8 * 1024 * 1024;
/** At a stop, reading goes on until nothing arrived for this long (ms)… */
const STOP_QUIET_MS = 50;
/** …but at most this long (ms): senders that go on sending do not hold the stop up. */
const STOP_DRAIN_MS = 2_000;
/** How often (ms) the kernel's drop count of the UDP socket is read. */
const KERNEL_DROPS_EVERY_MS = 5_000;
/**
 * TCP keepalive on every connection, first probe after this long idle (ms): a sender whose host
 * vanished without closing (power cut, network gone) sends no FIN, and the shipper never writes,
 * so without probes its connection held one of --max-connections for ever — enough of them and
 * every sender is refused. Linux then probes every 75 s, 9 times (net.ipv4.tcp_keepalive_intvl,
 * tcp_keepalive_probes): such a connection is closed about 12 minutes after its last byte. A live
 * sender that stays idle answers the probes and keeps its connection.
 */
const TCP_KEEPALIVE_MS = 60_000;
const REFUSE_REASONS = ['not-allowed', 'too-many-connections'] as const;
type RefuseReason = (typeof REFUSE_REASONS)[number];

/**
 * The shipper's socket input: receives syslog messages (or bare lines) on UDP or TCP, takes the
 * access-log line out of each (syslogLine: the header stripped; a message that is not
 * syslog-framed is taken whole, as a bare line) and queues it, bounded, for `batches()`. UDP has
 * no way to slow a sender down, so a full queue drops datagrams — counted and logged, never
 * silently; TCP pauses the connections instead, so nothing it accepted is dropped.
 *
 * `close()` reads what the kernel already holds for the socket, then stops receiving (the port is
 * released, TCP connections closed: a message a peer had not finished is handed on as it is);
 * `batches()` then yields what is still queued and ends, so everything received is shipped before
 * the shipper exits.
 */
export class SocketInput {
  /** Where it listens: the port bound once started (the one chosen when 0 was asked). */
  address: ListenAddress;
  /** Messages received and queued, by framing: a syslog header stripped, or a bare line. */
  readonly received = { syslog: 0, bare: 0 };
  readonly dropped: Record<(typeof DROP_REASONS)[number], number> = { 'queue-full': 0, 'kernel-buffer': 0 };
  readonly refused: Record<RefuseReason, number> = { 'not-allowed': 0, 'too-many-connections': 0 };

  private readonly allow: CidrSet | null;
  private readonly allowed: readonly string[];
  private readonly maxConnections: number;
  private readonly queueBytes: number;
  private readonly lines: string[] = [];
  private readonly sizes: number[] = [];
  private queuedBytes = 0;
  private wake: (() => void) | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private udp: UdpSocket | null = null;
  private kernelDropsTimer: NodeJS.Timeout | null = null;
  private tcp: Server | null = null;
  private readonly connections = new Map<Socket, SyslogStreamFramer>();
  private paused = false;
  /** Datagrams and TCP reads so far: whether anything arrived lately (untilQuiet). */
  private arrivals = 0;
  private readonly lastWarned = new Map<string, number>();
  private readonly metrics: ReturnType<typeof socketMetrics>;

  constructor(
    options: SocketInputOptions,
    /** Longest message kept, bytes: a longer one is cut (the parser then rejects it as `oversized-line`). */
    private readonly maxMessageBytes: number,
    private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.address = options.address;
    this.allowed = options.allow ?? [];
    this.allow = this.allowed.length > 0 ? new CidrSet(this.allowed) : null;
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.queueBytes = options.queueBytes ?? DEFAULT_QUEUE_BYTES;
    this.metrics = socketMetrics(metrics);
  }

  /** Lines received and waiting for `batches()` to hand them out. */
  get queued(): number {
    return this.lines.length;
  }

  /** Binds the socket; resolves with the address bound (the port chosen when 0 was asked). */
  async start(): Promise<ListenAddress> {
    const { host, port } = this.address;
    const bound =
      this.address.transport === 'udp' ? await this.startUdp(host, port) : await this.startTcp(host, port);
    const address = { ...this.address, port: bound.port };
    this.address = address;
    this.logger.info(
      {
        listen: formatListenAddress(address),
        allow: this.allow ? this.allowed : 'anyone who reaches the port',
        queueBytes: this.queueBytes,
        ...(address.transport === 'tcp'
          ? { maxConnections: this.maxConnections }
          : { receiveBufferBytes: this.udp?.getRecvBufferSize() }),
      },
      'listening',
    );
    return address;
  }

  private startUdp(host: string, port: number): Promise<AddressInfo> {
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    this.udp = socket;
    socket.on('message', (message, peer) => this.onDatagram(message, peer.address));
    return new Promise((resolve, reject) => {
      socket.once('error', (error) => reject(listenError(error, this.address)));
      socket.bind(port, host, () => {
        socket.removeAllListeners('error');
        socket.on('error', (error) => this.logger.error({ err: error }, 'the UDP socket failed'));
        try {
          socket.setRecvBufferSize(UDP_RECEIVE_BUFFER);
        } catch {
          // Refused: the kernel's default stays (the listening line says which).
        }
        const bound = socket.address();
        this.kernelDropsTimer = setInterval(() => void this.countKernelDrops(bound), KERNEL_DROPS_EVERY_MS);
        this.kernelDropsTimer.unref();
        resolve(bound);
      });
    });
  }

  /**
   * Datagrams the kernel dropped because the socket's receive buffer was full, from the `drops`
   * column of /proc/net/udp and /proc/net/udp6 (Linux; elsewhere nothing is counted). Without it
   * a burst the shipper could not read in time would be lost without a word.
   */
  private async countKernelDrops(bound: AddressInfo): Promise<void> {
    // The socket's own row: its address and port (another socket may have the port on another
    // address — a second shipper, a local syslog daemon — and its drops are not ours).
    const local = procNetUdpAddress(bound);
    let drops = 0;
    const table = await readFile(bound.family === 'IPv6' ? '/proc/net/udp6' : '/proc/net/udp', 'utf8').catch(
      () => '',
    );
    for (const row of table.split('\n').slice(1)) {
      const columns = row.trim().split(/\s+/);
      if (columns[1] === local) drops += Number(columns[columns.length - 1]) || 0;
    }
    const added = drops - this.dropped['kernel-buffer'];
    if (added <= 0) return;
    this.dropped['kernel-buffer'] = drops;
    this.metrics.dropped.inc({ reason: 'kernel-buffer' }, added);
    this.warn(
      'kernel-buffer',
      { dropped: drops, receiveBufferBytes: this.udp?.getRecvBufferSize() },
      'UDP datagrams dropped by the kernel: they arrived faster than the shipper read them and its receive buffer was full (raise net.core.rmem_max for bursts; a steady excess needs a second shipper); counted in edgeguard_shipper_socket_dropped_total',
    );
  }

  private startTcp(host: string, port: number): Promise<AddressInfo> {
    const server = createServer((socket) => this.onConnection(socket));
    this.tcp = server;
    // Node closes a connection beyond maxConnections at once and says so with 'drop'.
    server.maxConnections = this.maxConnections;
    server.on('drop', (data) => this.refuse('too-many-connections', data?.remoteAddress));
    return new Promise((resolve, reject) => {
      server.once('error', (error) => reject(listenError(error, this.address)));
      server.listen(port, host, () => {
        server.removeAllListeners('error');
        server.on('error', (error) => this.logger.error({ err: error }, 'the TCP listener failed'));
        resolve(server.address() as AddressInfo);
      });
    });
  }

  private onDatagram(message: Buffer, peer: string): void {
    if (this.closed) return;
    this.arrivals++;
    if (this.allow && !this.allow.has(peer)) {
      this.refuse('not-allowed', peer);
      return;
    }
    if (this.queuedBytes + message.length > this.queueBytes) {
      this.dropped['queue-full']++;
      this.metrics.dropped.inc({ reason: 'queue-full' });
      this.warn(
        'queue-full',
        { queueBytes: this.queueBytes, dropped: this.dropped['queue-full'] },
        'UDP datagrams dropped: the queue to the broker is full (the broker is slower than the senders, or unreachable); counted in edgeguard_shipper_socket_dropped_total',
      );
      return;
    }
    this.enqueue(message);
  }

  private onConnection(socket: Socket): void {
    const peer = socket.remoteAddress ?? '';
    if (this.closed || (this.allow && !this.allow.has(peer))) {
      if (!this.closed) this.refuse('not-allowed', peer);
      socket.destroy();
      return;
    }
    socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
    const framer = new SyslogStreamFramer(this.maxMessageBytes, (message) => this.enqueue(message));
    this.connections.set(socket, framer);
    this.metrics.connections.set(this.connections.size);
    if (this.paused) socket.pause();
    socket.on('data', (chunk: Buffer) => {
      this.arrivals++;
      framer.push(chunk);
    });
    socket.on('error', (error) => this.logger.debug({ err: error, peer }, 'a TCP sender failed'));
    socket.on('close', () => {
      // The peer is gone (or we closed it at stop): what it sent last is a message too.
      framer.end();
      this.connections.delete(socket);
      this.metrics.connections.set(this.connections.size);
    });
  }

  /** One message received: its line queued (TCP: the connections paused once the queue is full). */
  private enqueue(message: Buffer): void {
    let end = Math.min(message.length, this.maxMessageBytes);
    // Senders that end each message with a newline (LF or CR LF): not part of the line.
    if (end > 0 && message[end - 1] === 0x0a) end--;
    if (end > 0 && message[end - 1] === 0x0d) end--;
    const text = message.toString('utf8', 0, end);
    const line = syslogLine(text);
    if (line === null) this.received.bare++;
    else this.received.syslog++;
    this.metrics.received.inc({ framing: line === null ? 'bare' : 'syslog' });
    this.lines.push(line ?? text);
    this.sizes.push(message.length);
    this.queuedBytes += message.length;
    this.metrics.queued.set(this.queuedBytes);
    if (this.tcp && !this.paused && this.queuedBytes >= this.queueBytes) {
      this.paused = true;
      this.metrics.paused.set(1);
      for (const socket of this.connections.keys()) socket.pause();
      this.logger.info(
        { queueBytes: this.queueBytes, connections: this.connections.size },
        'the queue to the broker is full: TCP senders paused until it is half empty',
      );
    }
    this.wake?.();
  }

  private refuse(reason: RefuseReason, peer: string | undefined): void {
    this.refused[reason]++;
    this.metrics.refused.inc({ reason });
    this.warn(
      reason,
      { reason, peer, refused: this.refused[reason] },
      reason === 'not-allowed'
        ? 'refused a sender not in the allowlist (--allow); counted in edgeguard_shipper_socket_refused_total'
        : `refused a TCP connection: ${this.maxConnections} are open (--max-connections); counted in edgeguard_shipper_socket_refused_total`,
    );
  }

  /** Logs a repeating trouble the first time, then at most every WARN_EVERY_MS with its totals. */
  private warn(key: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - (this.lastWarned.get(key) ?? -Infinity) < WARN_EVERY_MS) return;
    this.lastWarned.set(key, now);
    this.logger.warn({ listen: formatListenAddress(this.address), ...fields }, message);
  }

  /** The queued lines, a batch at a time, as they arrive; ends once closed and drained. */
  async *batches(): AsyncGenerator<LineBatch> {
    for (;;) {
      if (this.lines.length === 0) {
        if (this.closed) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = null;
        continue;
      }
      const n = Math.min(this.lines.length, BATCH_LINES);
      const batch: LineBatch = this.lines.splice(0, n);
      for (const size of this.sizes.splice(0, n)) this.queuedBytes -= size;
      this.metrics.queued.set(this.queuedBytes);
      if (this.paused && this.queuedBytes <= this.queueBytes / 2) {
        this.paused = false;
        this.metrics.paused.set(0);
        for (const socket of this.connections.keys()) socket.resume();
      }
      yield batch;
    }
  }

  /**
   * Reads on until nothing arrived for STOP_QUIET_MS (at most STOP_DRAIN_MS, and not while TCP
   * senders are paused): datagrams and bytes the kernel holds were sent before the stop, and
   * closing the socket would discard them. The check runs after an I/O poll (setImmediate), so a
   * thread busy shipping does not mistake its own delay for quiet.
   */
  private async untilQuiet(): Promise<void> {
    const deadline = Date.now() + STOP_DRAIN_MS;
    for (;;) {
      const before = this.arrivals;
      await sleep(STOP_QUIET_MS);
      await new Promise((resolve) => setImmediate(resolve));
      if (this.arrivals === before || this.paused || Date.now() >= deadline) return;
    }
  }

  /**
   * Stops receiving: what the kernel already holds is read (untilQuiet), then the port is
   * released and TCP connections are closed (a message a sender had not finished is queued as it
   * is). What is queued is still yielded by `batches()`, which then ends.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // No new connections; what was sent before the stop is read first.
      const tcp = this.tcp;
      const tcpClosed = tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : null;
      await this.untilQuiet();
      const udp = this.udp;
      if (udp) {
        // Datagrams that arrive while the last count is read are still queued (closed is not
        // set yet): once the socket is closed, none can.
        if (this.kernelDropsTimer) clearInterval(this.kernelDropsTimer);
        await this.countKernelDrops(udp.address());
        await new Promise<void>((resolve) => udp.close(() => resolve()));
      }
      this.closed = true;
      if (tcpClosed) {
        for (const [socket, framer] of this.connections) {
          // A paused connection still holds what was read before the pause (bytes the kernel
          // acknowledged to the sender): framed too, not discarded unseen. read() hands each
          // chunk to the 'data' listener, which frames it.
          while (socket.read() !== null);
          framer.end(); // before the socket's 'close', which may come after the server's
          socket.destroy();
        }
        await tcpClosed;
      }
      this.logger.info(
        {
          listen: formatListenAddress(this.address),
          received: this.received,
          dropped: this.dropped,
          refused: this.refused,
          queued: this.lines.length,
        },
        'stopped listening: shipping what was received',
      );
      this.wake?.();
    })();
    return this.closing;
  }
}

function socketMetrics(metrics: Metrics) {
  const received = metrics.counter(
    'edgeguard_shipper_socket_messages_total',
    'messages received on --listen and queued, by framing: syslog (header stripped) or bare (taken whole)',
    ['framing'],
  );
  metrics.countFromZero('edgeguard_shipper_socket_messages_total', { framing: ['syslog', 'bare'] });
  const dropped = metrics.counter(
    'edgeguard_shipper_socket_dropped_total',
    'UDP datagrams dropped on --listen, by reason (queue-full: the queue to the broker was full; kernel-buffer: the socket receive buffer was)',
    ['reason'],
  );
  metrics.countFromZero('edgeguard_shipper_socket_dropped_total', { reason: DROP_REASONS });
  const refused = metrics.counter(
    'edgeguard_shipper_socket_refused_total',
    'datagrams (UDP) or connections (TCP) refused on --listen, by reason',
    ['reason'],
  );
  metrics.countFromZero('edgeguard_shipper_socket_refused_total', { reason: REFUSE_REASONS });
  return {
    received,
    dropped,
    refused,
    queued: metrics.gauge(
      'edgeguard_shipper_socket_queued_bytes',
      'bytes received on --listen waiting for the broker',
    ),
    connections: metrics.gauge('edgeguard_shipper_socket_connections', 'TCP connections open on --listen'),
    paused: metrics.gauge(
      'edgeguard_shipper_socket_paused',
      '1 while TCP senders on --listen are paused because the queue to the broker is full',
    ),
  };
}

/**
 * How /proc/net/udp (udp6 for an IPv6 socket) names a local address: each 32-bit word of the
 * address as the host's integer in hex, then `:` and the port (`0100007F:14CA` is 127.0.0.1:5322 on
 * a little-endian host); `udp_seq_show`/`udp6_sock_seq_show` in the kernel's net/ipv4/udp.c and
 * net/ipv6/datagram.c.
 */
function procNetUdpAddress(bound: Pick<AddressInfo, 'address' | 'family' | 'port'>): string {
  const ip = parseIp(bound.address);
  if (!ip) throw new Error(`not an address: ${bound.address}`);
  const words =
    bound.family === 'IPv6'
      ? ip.version === 6
        ? ip.words
        : [0, 0, 0xffff, ip.value]
      : [(ip as Ipv4Address).value];
  const little = endianness() === 'LE';
  const hex = (word: number) =>
    (little
      ? (((word & 0xff) << 24) | ((word & 0xff00) << 8) | ((word >>> 8) & 0xff00) | (word >>> 24)) >>> 0
      : word
    )
      .toString(16)
      .toUpperCase()
      .padStart(8, '0');
  return `${words.map(hex).join('')}:${bound.port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** EADDRINUSE and the like, naming the address and the flag. */
function listenError(error: NodeJS.ErrnoException, address: ListenAddress): Error {
  const why = error.code === 'EADDRINUSE' ? 'the port is in use' : error.message;
  return new Error(`cannot listen on ${formatListenAddress(address)} (--listen): ${why}`);
}
