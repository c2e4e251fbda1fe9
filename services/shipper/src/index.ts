import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { type EdgeguardConfig, trustedProxiesWarning } from '@edgeguard/config';
import {
  AccessLogProducer,
  connectAdmin,
  createKafka,
  createProducer,
  type KafkaEnvironment,
  kafkaEnvironment,
  Shutdown,
  STOPPED_WHILE_STARTING,
  startupTimeoutMs,
  topicPartitions,
} from '@edgeguard/kafka';
import {
  ClockJumpCounter,
  ClockJumpGuard,
  correctRecordTime,
  createParser,
  damageRejection,
  FIELD_CUT,
  type FieldCut,
  FieldCutCounter,
  followLogFile,
  type InputDamage,
  type LineBatch,
  openLogSource,
  REJECT_REASONS,
  splitLines,
  startClockGuard,
} from '@edgeguard/logformat';
import { TOPICS } from '@edgeguard/pipeline';
import { BadInput, RejectCounter } from '@edgeguard/schema';
import { createLogger, Metrics, startHealthServer } from '@edgeguard/telemetry';
import { only, readLineChunks } from './chunks.js';
import { type ChunkResult, ParsePool } from './parse-pool.js';
import { readPosition, savePosition } from './position-file.js';
import { formatListenAddress, SocketInput, type SocketInputOptions } from './socket-input.js';

export { alignToLines, readLineChunks } from './chunks.js';
export { readPosition, type SavedPosition, savePosition } from './position-file.js';
export {
  formatListenAddress,
  type ListenAddress,
  parseListenAddress,
  SocketInput,
  type SocketInputOptions,
} from './socket-input.js';
export { SyslogStreamFramer, syslogLine } from './syslog.js';

export interface ShipOptions {
  /** A file (plain or gzip), or `-` for stdin; ignored with `listen`. */
  input: string;
  /**
   * Receive syslog messages (or bare lines) on a UDP or TCP socket instead of reading `input`,
   * until `signal` aborts: then everything received is shipped before it resolves (see
   * SocketInput). Rejects are located `udp://HOST:PORT:N`, N counting messages from the start.
   */
  listen?: SocketInputOptions;
  /** With `listen`: called once the socket is bound, with the port bound (useful with port 0). */
  onListening?: (address: { port: number }) => void;
  config: EdgeguardConfig;
  /**
   * Log level when `LOG_LEVEL` is unset (default `info`). `edgeguard ship` prints its own summary
   * and passes `warn`; the `run shipper` service logs at `info`.
   */
  defaultLogLevel?: string;
  /** Keep following the file (rotation and truncation handled) instead of exiting at its end. */
  follow?: boolean;
  /** With `follow`: start at the beginning of the file instead of its end. */
  fromStart?: boolean;
  /**
   * With `follow`: where the position acknowledged by the broker is saved (at most every
   * `positionSaveMs` and at stop) and read back at start, so a restart resumes there — lines
   * written while the shipper was down are shipped, across a rotation too. Overrides `fromStart`
   * once a position is saved. Without it, a restart starts at the file's end.
   */
  positionFile?: string;
  /** How often (ms) the position is saved at most (default 1000). */
  positionSaveMs?: number;
  /** Replay at most this many lines per second (0 or absent: as fast as the broker takes them). */
  rate?: number;
  environment?: KafkaEnvironment;
  /**
   * Stops the shipment: the lines read so far are shipped (a followed file's position saved), then
   * it resolves. An abort while still starting (connecting to a broker that may not answer) logs
   * `stopped while starting: closing what is connected, then exiting` (with `signal`, when the
   * abort's reason is a signal's name), closes what was opened and resolves with nothing shipped.
   */
  signal?: AbortSignal;
  /**
   * With `signal`: how long (ms) the stop may take once `signal` aborts a running shipment (the
   * lines read or received are still shipped first). Past it — the broker unreachable, so they
   * can never be acknowledged — the shipper logs (fatal) how many lines were not shipped, closes
   * what it opened without waiting for the broker, and rejects with that message. `run shipper`
   * passes EDGEGUARD_STOP_TIMEOUT_MS; absent: the stop waits for the broker however long it takes.
   */
  stopTimeoutMs?: number;
  /** Called about once a second with progress. */
  onProgress?: (progress: ShipProgress) => void;
  /** Serve /healthz, /readyz, /metrics on this port (the long-running `run shipper`). */
  healthPort?: number;
  /**
   * Worker threads that parse and Avro-encode (the main thread reads and produces). Default:
   * EDGEGUARD_SHIP_WORKERS, else one per available core (at most 8; none on one core). 0 parses in
   * the main thread; a followed
   * file (`follow`) always does (it arrives a few lines at a time).
   */
  workers?: number;
  /** Bytes per chunk handed to a worker (default 1 MiB). */
  chunkBytes?: number;
}

/**
 * The default number of parse workers: EDGEGUARD_SHIP_WORKERS, else one per available core, at
 * most 8, and none on a single core. Not cores − 1: the main thread mostly waits for the broker
 * and copies bytes, and on 2 vCPUs 2 workers shipped faster than 1 in every same-run A/B
 * (docs/BENCHMARKS.md).
 */
export function defaultShipWorkers(env: NodeJS.ProcessEnv = process.env): number {
  const configured = env.EDGEGUARD_SHIP_WORKERS;
  if (configured !== undefined && configured !== '') {
    const n = Number(configured);
    if (!Number.isInteger(n) || n < 0 || n > 64)
      throw new BadInput(
        'bad-config',
        `EDGEGUARD_SHIP_WORKERS must be a whole number from 0 to 64, not ${JSON.stringify(configured)}`,
        'EDGEGUARD_SHIP_WORKERS',
      );
    return n;
  }
  const cores = availableParallelism();
  return cores < 2 ? 0 : Math.min(cores, 8);
}

export interface ShipProgress {
  lines: number;
  produced: number;
  rejected: number;
  linesPerSecond: number;
}

export interface ShipResult extends ShipProgress {
  rejects: RejectCounter;
  /** Fields longer than `input.maxFieldLength`, cut (their lines were shipped), by field. */
  fieldCuts: FieldCutCounter;
  /** Records dated more than `input.maxClockJumpMs` ahead of the lines before them, shipped at those lines' time. */
  clockJumps: ClockJumpCounter;
  /** Event time of the newest record shipped (the end-of-input marker carries it). */
  lastEventTime: number | null;
  /**
   * Why the input ended early, as its `bad-gzip` rejection says it (a truncated or corrupt gzip:
   * every whole line before the damage was shipped and the end-of-input marker sent); null when
   * read to its end.
   */
  cutShort: string | null;
}

/**
 * The shipper: reads an access log (file, gzip, stdin, or a followed file), parses it with the same
 * parsers and trusted-proxy rules as `replay`, and produces AccessLogs to `access-logs` keyed by
 * client address, in Avro batches. A one-shot run ends with an end-of-input marker on every
 * partition and resolves once the broker acknowledged everything. Bad lines are counted, never sent.
 * A damaged gzip ends the input where it breaks off, as `replay` reads it: the lines before are
 * shipped, the damage is one `bad-gzip` rejection and `cutShort` says where.
 */
export async function ship(options: ShipOptions): Promise<ShipResult> {
  const environment = options.environment ?? kafkaEnvironment();
  const logger = createLogger('shipper', {}, options.defaultLogLevel);
  const metrics = new Metrics('shipper');
  const linesCounter = metrics.counter('edgeguard_shipper_lines_total', 'log lines read');
  const rejectedCounter = metrics.counter('edgeguard_shipper_rejected_total', 'log lines rejected', [
    'reason',
  ]);
  // Every parser rejects with one of these (packages/logformat): their series start at 0.
  metrics.countFromZero('edgeguard_shipper_rejected_total', { reason: Object.values(REJECT_REASONS) });
  // A followed file or a socket arrives a few lines at a time: parsed in this thread.
  const live = options.follow === true || options.listen !== undefined;
  const workers = live ? 0 : (options.workers ?? defaultShipWorkers());
  // Workers start loading now, while we connect.
  const pool = workers > 0 ? new ParsePool(workers) : null;
  const kafka = createKafka({ brokers: environment.brokers, clientId: 'edgeguard-shipper', logger });
  // The start goes through `shutdown`, as a stage service's does: an abort meanwhile (SIGTERM while
  // the broker does not answer) ends it at once, closes what it opened and resolves with nothing
  // shipped. Before, the abort was looked at only once lines flowed: `run shipper` ignored SIGTERM
  // until EDGEGUARD_STARTUP_TIMEOUT_MS, then exited 1.
  const shutdown = new Shutdown();
  if (pool) shutdown.opened(() => pool.close());
  const stoppedWhileStarting = new Promise<null>((resolve) => {
    const onAbort = () => {
      if (!shutdown.starting) return;
      const reason: unknown = options.signal?.reason;
      logger.info(typeof reason === 'string' ? { signal: reason } : {}, STOPPED_WHILE_STARTING);
      shutdown.stop().then(
        () => resolve(null),
        (error: Error) => {
          logger.warn({ error: error.message }, 'closing what was connected failed');
          resolve(null);
        },
      );
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
  const admin = kafka.admin();
  // kafkajs goes on retrying a broker that never answered after disconnect(), for about two
  // minutes: whoever calls ship() exits rather than wait for that (the CLI does).
  const abandonAdmin = () => void admin.disconnect().catch(() => undefined);
  const start = async () => {
    await shutdown.step(connectAdmin(admin, environment.brokers, startupTimeoutMs()), abandonAdmin);
    const partitions = (
      await shutdown.step(
        topicPartitions(admin, environment.topicPrefix, [TOPICS.accessLogs]).finally(() =>
          admin.disconnect(),
        ),
      )
    )[TOPICS.accessLogs]!;
    const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
    shutdown.opened(() => producer.disconnect());
    await shutdown.step(producer.connect(), () => void producer.disconnect().catch(() => undefined));
    const health =
      options.healthPort !== undefined
        ? await shutdown.step(startHealthServer({ port: options.healthPort, metrics, ready: () => true }))
        : null;
    if (health) shutdown.opened(() => health.close());
    const socket = options.listen
      ? new SocketInput(options.listen, 4 * options.config.input.maxLineLength, logger, metrics)
      : null;
    if (socket) {
      shutdown.opened(() => socket.close());
      const bound = await shutdown.step(socket.start(), () => void socket.close());
      options.onListening?.(bound);
    }
    shutdown.running();
    return { partitions, producer, health, socket };
  };
  const opened = await Promise.race([start(), stoppedWhileStarting]).catch(async (error: Error) => {
    abandonAdmin();
    await shutdown.stop().catch(() => undefined);
    throw error;
  });
  if (opened === null)
    return {
      lines: 0,
      produced: 0,
      rejected: 0,
      linesPerSecond: 0,
      rejects: new RejectCounter(),
      fieldCuts: new FieldCutCounter(options.config.input.maxFieldLength),
      clockJumps: new ClockJumpCounter(),
      lastEventTime: null,
      cutShort: null,
    };
  const { partitions, producer, health, socket } = opened;
  const out = new AccessLogProducer({ producer, prefix: environment.topicPrefix, partitions });
  const { config } = options;
  const input = socket ? formatListenAddress(socket.address) : options.input;
  // A stop closes the socket; what it received is still shipped (its batches end once drained).
  if (socket) {
    if (options.signal?.aborted) void socket.close();
    else options.signal?.addEventListener('abort', () => void socket.close(), { once: true });
  }
  const parser = createParser(config.input.format, {
    trustedProxies: config.input.trustedProxies,
    maxLineLength: config.input.maxLineLength,
    maxFieldLength: config.input.maxFieldLength,
  });
  const maxLineBytes = 4 * config.input.maxLineLength;

  const rejects = new RejectCounter();
  const fieldCuts = new FieldCutCounter(config.input.maxFieldLength);
  const fieldCutsCounter = metrics.counter(
    'edgeguard_shipper_fields_cut_total',
    'fields longer than input.maxFieldLength, cut (the line is shipped)',
    ['field'],
  );
  /** Fields whose cut was logged (a handful: field names come from the format, not the input). */
  const fieldCutsLogged = new Set<string>();
  /** Counts one shipped line's cut fields; says so in the log the first time a field is cut. */
  const countFieldCuts = (cuts: readonly FieldCut[], line: string, lineNumber: number): void => {
    fieldCuts.record(cuts, line, `${input}:${lineNumber}`);
    for (const cut of cuts) {
      fieldCutsCounter.inc({ field: cut.field });
      if (fieldCutsLogged.has(cut.field) || fieldCutsLogged.size >= 64) continue;
      fieldCutsLogged.add(cut.field);
      logger.warn(
        { reason: FIELD_CUT, field: cut.field, ...fieldCuts.samplesOf(cut.field)[0] },
        'a field longer than input.maxFieldLength was cut and its line shipped (counted in edgeguard_shipper_fields_cut_total; this is said once per field)',
      );
    }
  };
  let cutShort = null as BadInput | null; // set inside the shipment below
  /** Counted once, after the last whole line shipped, so that its line number follows theirs. */
  const countDamage = (damage: InputDamage | null): BadInput | null => {
    if (!damage) return null;
    const bad = damageRejection(input, lines, damage);
    rejects.record(bad, damage.brokenLine);
    rejectedCounter.inc({ reason: bad.reason });
    // The line the cut broke off is a line read and rejected, as replay counts it.
    lines++;
    return bad;
  };
  // One shipment, one source: its lines come in the order one server's clock wrote them (a
  // followed file's rotations included), so one guard keeps a lone forward-dated line from moving
  // event time for every consumer downstream. Its newest time is the newest record shipped.
  const clockGuard = new ClockJumpGuard(config.input.maxClockJumpMs);
  const clockJumps = new ClockJumpCounter();
  const clockJumpsCounter = metrics.counter(
    'edgeguard_shipper_clock_jumps_total',
    'records dated too far ahead of the lines before them, shipped at the newest time before them',
  );
  const started = Date.now();
  let lines = 0;
  let lastProgress = started;
  const progress = (): ShipProgress => ({
    lines,
    produced: out.produced,
    rejected: rejects.total,
    linesPerSecond: Math.round(lines / Math.max((Date.now() - started) / 1000, 0.001)),
  });
  /** Parses and produces lines in this thread (line numbers continue from `lines`). */
  const shipLines = async (batch: LineBatch): Promise<void> => {
    startClockGuard(clockGuard, parser, batch);
    const plain = batch.plain === true;
    const jumpsBefore = clockJumps.total;
    for (const line of batch) {
      lines++;
      if (line.length === 0) continue;
      const record = parser.parse(line, undefined, plain);
      if (record instanceof BadInput) {
        rejects.record(record, line, `${input}:${lines}`);
        rejectedCounter.inc({ reason: record.reason });
        continue;
      }
      if (parser.fieldCuts.length > 0) countFieldCuts(parser.fieldCuts, line, lines);
      correctRecordTime(clockGuard, clockJumps, record, input, lines);
      const wait = out.add(record);
      if (wait) await wait;
    }
    linesCounter.inc(batch.length);
    if (clockJumps.total > jumpsBefore) clockJumpsCounter.inc(clockJumps.total - jumpsBefore);
  };
  /**
   * What a worker made of a chunk, produced in chunk order. The guard runs here, over the chunk's
   * times in input order, since it needs every record before them; in the rare chunk where it
   * corrects a time, the worker's envelopes (encoded with the logged times) are dropped and the
   * chunk is parsed again in this thread from the guard's state before it: what is shipped is
   * always exactly a direct parse plus the guard.
   */
  const shipParsed = async (result: ChunkResult): Promise<void> => {
    const times = result.times;
    // As shipLines does (a chunk's times are its parsed lines' times, in order).
    clockGuard.start(times);
    const before = clockGuard.snapshot();
    for (let i = 0; i < times.length; i++) {
      if (clockGuard.correct(times[i]!) === times[i]) continue;
      clockGuard.restore(before);
      for await (const batch of splitLines(
        only(Buffer.from(result.chunk, 0, result.chunkLength)),
        maxLineBytes,
      ))
        await shipLines(batch);
      return;
    }
    for (const reject of result.rejects) {
      const bad = new BadInput(reject.reason, reject.message, reject.field);
      rejects.record(bad, reject.line, `${input}:${lines + reject.index + 1}`);
      rejectedCounter.inc({ reason: reject.reason });
    }
    for (const cut of result.fieldCuts) countFieldCuts(cut.cuts, cut.line, lines + cut.index + 1);
    lines += result.lines;
    linesCounter.inc(result.lines);
    const m = result.messages;
    for (let i = 0; i < m.length; i += 5) {
      const value = Buffer.from(result.values, m[i + 1]!, m[i + 2]!);
      const wait = out.addEncoded(m[i]!, value, m[i + 3]!, m[i + 4]!);
      if (wait) await wait;
    }
  };
  /** Stops the followed file's periodic position saving (set when following with a position file). */
  let stopSaving = (): void => undefined;
  let formatChecked = false;
  /** After each batch or chunk: pacing (--rate), progress, and once the format is known, its check. */
  const paced = async (): Promise<void> => {
    if (!formatChecked && parser.format !== 'auto') {
      formatChecked = true;
      const warning = trustedProxiesWarning(config, parser.format);
      if (warning !== null) logger.warn({ format: parser.format }, warning);
    }
    if (options.rate && options.rate > 0) {
      // Pace by wall clock: lines so far should have taken lines/rate seconds.
      const ahead = (lines / options.rate) * 1000 - (Date.now() - started);
      if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
    }
    if (Date.now() - lastProgress >= 1000) {
      lastProgress = Date.now();
      options.onProgress?.(progress());
    }
  };

  /**
   * Lines taken from a live input (a followed file, a socket) whose shipment the broker has not
   * acknowledged yet: the batch being parsed and produced (reset once its flush is acknowledged).
   */
  let unacknowledged = 0;
  const shipment = (async () => {
    try {
      if (pool) {
        const chunks = readLineChunks(input, { maxLineBytes, chunkBytes: options.chunkBytes });
        pool.start({
          format: config.input.format,
          parser: {
            trustedProxies: config.input.trustedProxies,
            maxLineLength: config.input.maxLineLength,
            maxFieldLength: config.input.maxFieldLength,
          },
          partitions,
          batchRecords: out.batchRecords,
          maxMessageBytes: out.maxSendBytes / 2,
          maxLineBytes,
        });
        await shipChunks(chunks, pool);
        cutShort = countDamage(chunks.damage);
        await out.end(clockGuard.newest ?? 0);
      } else {
        const source = live ? null : openLogSource(input, { maxLineLength: config.input.maxLineLength });
        const follower = options.follow ? await startFollowing() : null;
        const batches = source ? source.batches() : follower ? follower.batches : socket!.batches();
        for await (const batch of batches) {
          // Live: the machine's clock is a reference too, so the first lines after a quiet spell
          // (more than maxClockJumpMs without traffic) are not held at the time before it, where
          // consumers already past it would drop them as late; only lines ahead of now are.
          if (live) {
            clockGuard.advanceTo(Date.now());
            unacknowledged += batch.length;
          }
          await shipLines(batch);
          if (live) {
            await out.flush(); // ship what arrived, now
            unacknowledged = 0;
          }
          follower?.afterBatch();
          await paced();
          // A socket's batches end by themselves once closed and drained: nothing received is left.
          if (options.signal?.aborted && !socket) break;
        }
        if (source) {
          cutShort = countDamage(source.damage);
          await out.end(clockGuard.newest ?? 0);
        } else {
          await out.flush(); // live: no end of input
          await follower?.finish();
        }
      }
    } finally {
      stopSaving(); // a failed shipment must not save the position of lines it did not ship
      await pool?.close();
      await socket?.close();
      await producer.disconnect();
      await health?.close();
    }
  })();
  await boundedStop(shipment);
  const result: ShipResult = {
    ...progress(),
    rejects,
    fieldCuts,
    clockJumps,
    lastEventTime: clockGuard.newest,
    cutShort: cutShort?.message ?? null,
  };
  logger.info(
    {
      ...progress(),
      workers,
      rejectedByReason: rejects.byReason(),
      fieldsCutByField: fieldCuts.byField(),
      clockJumps: clockJumps.toJSON(),
      cutShort: result.cutShort,
      ...(socket ? { received: socket.received, dropped: socket.dropped, refused: socket.refused } : {}),
    },
    'shipped',
  );
  return result;

  /**
   * `shipment`, or, once `signal` aborted and `stopTimeoutMs` passed without it settling (a broker
   * that never acknowledges: kafkajs retries an idempotent producer's send for ever), a rejection
   * saying how many lines were not shipped, after one fatal log line saying so. What was opened is
   * closed without waiting for the broker. The followed file's position stays where the broker
   * last acknowledged, so a restart with a position file ships those lines.
   */
  async function boundedStop(shipment: Promise<void>): Promise<void> {
    const limit = options.stopTimeoutMs;
    const signal = options.signal;
    if (limit === undefined || !signal) return shipment;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      timer = setTimeout(() => onTimeout(), limit);
    };
    let onTimeout = (): void => undefined;
    const timedOut = new Promise<never>((_, reject) => {
      onTimeout = () => {
        stopSaving();
        // The socket's lines still queued were received too; a followed file's unread rest is
        // not counted (with a position file a restart reads it).
        const notShipped = unacknowledged + (socket?.queued ?? 0);
        const what = socket ? 'received' : 'read';
        const restart = socket
          ? ''
          : options.positionFile
            ? ' (the position file is before them: a restart ships them)'
            : ' (no position file: a restart does not ship them)';
        const message = `stop timed out after ${limit} ms (EDGEGUARD_STOP_TIMEOUT_MS; Kafka unreachable?): ${notShipped} ${notShipped === 1 ? 'line' : 'lines'} ${what} were not shipped${restart}`;
        logger.fatal(
          {
            stopTimeoutMs: limit,
            notShipped,
            input,
            ...(options.positionFile ? { positionFile: options.positionFile } : {}),
          },
          message,
        );
        void pool?.close();
        void socket?.close();
        void health?.close();
        void producer.disconnect().catch(() => undefined);
        reject(new Error(message));
      };
    });
    if (signal.aborted) arm();
    else signal.addEventListener('abort', arm, { once: true });
    try {
      await Promise.race([shipment, timedOut]);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', arm);
    }
  }

  /**
   * Follows the input from the saved position (if any), and saves the position once the broker
   * acknowledged the lines before it: at most every positionSaveMs, and at stop.
   */
  async function startFollowing() {
    const file = options.positionFile;
    const resumeFrom = file ? ((await readPosition(file, input)) ?? undefined) : undefined;
    const follower = followLogFile(input, {
      fromStart: options.fromStart,
      resumeFrom,
      signal: options.signal,
      maxLineLength: config.input.maxLineLength,
    });
    // A path that names nothing is waited for (a log created later, or mid-rotation), but said once:
    // a mistyped --follow otherwise ran silently, shipping nothing.
    const exists = await stat(input).then(
      () => true,
      () => false,
    );
    if (!exists) logger.warn({ input }, 'the followed file does not exist: waiting for it to appear');
    if (!file)
      logger.warn(
        { input },
        'no position file: a restart starts at the end of the file and lines written meanwhile are not shipped (--position-file)',
      );
    else if (resumeFrom)
      logger.info({ input, positionFile: file, ...resumeFrom }, 'resuming where the last run stopped');
    // Said at start, as the socket input says 'listening': without it a follower that started well
    // logged nothing at all until it stopped.
    if (!resumeFrom)
      logger.info(
        // A file that appears later is read from its start.
        { input, positionFile: file ?? null, from: options.fromStart || !exists ? 'start' : 'end' },
        'following',
      );
    let saved = '';
    let saving: Promise<void> = Promise.resolve();
    let failed = false;
    /** Saves the follower's position (batches it handed out and we shipped) if it moved. */
    const save = (taken = false): Promise<void> => {
      saving = saving.then(async () => {
        const position = follower.position(taken);
        if (!file || !position) return;
        const key = `${position.dev}:${position.ino}:${position.offset}`;
        if (key === saved) return;
        try {
          await savePosition(file, input, position);
          saved = key;
          failed = false;
        } catch (error) {
          if (!failed)
            logger.error(
              { err: error, positionFile: file },
              'cannot save the position file: a restart would start from the last one saved',
            );
          failed = true;
        }
      });
      return saving;
    };
    // The follower's position moves only once a batch was shipped and acknowledged (the loop asks
    // for the next batch after flushing), so saving it at any moment loses nothing; a crash ships
    // at most the lines of the last interval twice.
    const timer = file ? setInterval(() => void save(), options.positionSaveMs ?? 1000) : null;
    timer?.unref();
    let reported = false;
    /** After each batch shipped: says once how a resume went (known once the file is open). */
    const afterBatch = (): void => {
      if (!reported && (follower.stats.resumedFrom || follower.stats.resumeLost)) {
        reported = true;
        if (follower.stats.resumeLost)
          logger.warn(
            { input, positionFile: file },
            'the file the saved position names is gone (rotated and deleted or compressed while the shipper was down): its rest is not shipped; following the new file from its start',
          );
        else
          logger.info(
            { input, rotated: follower.stats.resumedFrom },
            'rotated while down: reading the rest of the old file first',
          );
      }
    };
    /** At a clean stop: the last save, the batch it took last included (it was shipped and acknowledged). */
    const finish = async (): Promise<void> => {
      stopSaving();
      await save(true);
    };
    stopSaving = () => {
      if (timer) clearInterval(timer);
    };
    return { batches: follower.batches, afterBatch, finish };
  }

  /**
   * Chunks of whole lines to the pool, at most 2 per worker outstanding, results produced in
   * input order. With `--format auto` the first lines are parsed here until the format is
   * settled (exactly as a single parser would see them), then the workers get the settled format.
   */
  async function shipChunks(chunks: AsyncIterable<Buffer>, workersPool: ParsePool): Promise<void> {
    const window = 2 * workersPool.size;
    const pending: Promise<ChunkResult>[] = [];
    let seq = 0;
    let sniffing = config.input.format === 'auto';
    const deliverOne = async () => {
      await shipParsed(await pending.shift()!);
      await paced();
    };
    for await (const chunk of chunks) {
      if (sniffing) {
        for await (const batch of splitLines(only(chunk), maxLineBytes)) await shipLines(batch);
        await paced();
        if (parser.format !== 'auto') {
          sniffing = false;
          workersPool.setFormat(parser.format);
        }
      } else {
        const parsed = workersPool.parse(seq++, chunk);
        parsed.catch(() => undefined); // awaited in order below; not an unhandled rejection meanwhile
        pending.push(parsed);
        if (pending.length >= window) await deliverOne();
      }
      if (options.signal?.aborted) break;
    }
    while (pending.length > 0) await deliverOne();
  }
}
