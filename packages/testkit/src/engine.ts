/**
 * The scheduler: a priority queue of actors (each knows when its next request starts and produces
 * it lazily), feeding a small reorder buffer that releases lines in log order. Memory is bounded by
 * the number of concurrently active actors plus the requests still in flight, never by the number
 * of lines, so a million-line scenario streams in constant space.
 *
 * Log order: nginx writes a line when the request ends, and lines from many workers interleave, so
 * real logs are slightly out of time order. Each event is released at its logged time plus a random
 * delay in [0, jitterMs): a line is never more than jitterMs older than one written before it.
 */
import type { EdgeCacheModel, Served } from './edge-cache.js';
import { type ClientLabel, ROLE_TRAITS, type Role } from './labels.js';
import { Rng } from './rng.js';

/** One client and its running tally: the ground-truth label, filled in as its lines are released. */
export class ClientRecord {
  firstSeen = Number.POSITIVE_INFINITY;
  requests = 0;
  constructor(
    readonly ip: string,
    readonly role: Role,
  ) {}

  toLabel(): ClientLabel {
    const traits = ROLE_TRAITS[this.role];
    return {
      ip: this.ip,
      role: this.role,
      bot: traits.bot,
      protected: traits.protected,
      firstSeen: this.firstSeen,
      requests: this.requests,
    };
  }
}

/** Every client address, so that a label exists for each address in the output and no two roles share one. */
export class ClientRegistry {
  /**
   * One entry per client address. This is the ground truth itself (the labels), so it grows with
   * the number of clients a scenario has, never with its number of lines.
   */
  private readonly clients = new Map<string, ClientRecord>();

  register(ip: string, role: Role): ClientRecord {
    const existing = this.clients.get(ip);
    if (existing) {
      if (existing.role !== role)
        throw new Error(`testkit: ${ip} registered as both ${existing.role} and ${role}`);
      return existing;
    }
    const record = new ClientRecord(ip, role);
    this.clients.set(ip, record);
    return record;
  }

  /** Clients with at least one line, in order of first appearance in log time. */
  labels(): ClientLabel[] {
    const seen: ClientRecord[] = [];
    for (const record of this.clients.values()) if (record.requests > 0) seen.push(record);
    seen.sort((a, b) => a.firstSeen - b.firstSeen || (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
    return seen.map((record) => record.toLabel());
  }
}

/**
 * One request as it will be logged. Fields mirror the `edge` log format. Events are pooled by the
 * engine (see {@link Simulation.request}); an event handed out by `fill` stays valid until the next
 * `fill` call.
 */
export class RequestEvent {
  /** Logged time (request end), epoch ms. */
  time = 0;
  record: ClientRecord;
  /** Real client address. */
  client: string;
  /** X-Forwarded-For the client itself sent (spoofed, or a corporate proxy's), null when none. */
  clientForwardedFor: string | null = null;
  /** Which load balancer carried it (edge format peer). */
  balancer = 0;
  method = 'GET';
  host: string;
  /** Path plus `?query`, as in the request line. */
  target = '/';
  protocol = 'HTTP/1.1';
  status = 200;
  bytes = 0;
  referer: string | null = null;
  userAgent: string | null = null;
  acceptLanguage: string | null = null;
  requestMs = 0;
  upstreamMs: number | null = null;
  cacheStatus: string | null = null;
  /** Release order key: time plus jitter. */
  emitKey = 0;
  seq = 0;

  constructor(record: ClientRecord, host: string) {
    this.record = record;
    this.client = record.ip;
    this.host = host;
  }

  /** Back to a fresh GET from `record` (pool reuse). */
  reset(record: ClientRecord, host: string): void {
    this.time = 0;
    this.record = record;
    this.client = record.ip;
    this.clientForwardedFor = null;
    this.balancer = 0;
    this.method = 'GET';
    this.host = host;
    this.target = '/';
    this.protocol = 'HTTP/1.1';
    this.status = 200;
    this.bytes = 0;
    this.referer = null;
    this.userAgent = null;
    this.acceptLanguage = null;
    this.requestMs = 0;
    this.upstreamMs = null;
    this.cacheStatus = null;
  }

  /** Take the edge's answer (status, cache status, timings, bytes). */
  serve(served: Served): void {
    this.status = served.status;
    this.cacheStatus = served.cacheStatus;
    this.upstreamMs = served.upstreamMs;
    this.requestMs = served.requestMs;
    this.bytes = served.bytes;
  }
}

export interface Simulation {
  /** Scenario window, epoch ms: requests start in [start, end). */
  readonly start: number;
  readonly end: number;
  readonly edge: EdgeCacheModel;
  /** A blank GET request from this client (recycled from released lines). */
  request(record: ClientRecord, host: string): RequestEvent;
  /**
   * Log a request that started at `startedAt`; its logged time is startedAt + requestMs. Requests
   * that started before the scenario window are dropped (actors may begin "mid-session").
   */
  emit(event: RequestEvent, startedAt: number): void;
  /** Add an actor (an arrival); it runs once its nextAt comes. */
  spawn(actor: Actor): void;
}

export abstract class Actor {
  /** Start time of this actor's next request, epoch ms; Infinity once it is done. */
  nextAt = Number.POSITIVE_INFINITY;
  /** Tie-breaker so equal start times always run in the same order. */
  serial = 0;
  /** Produce the request starting at nextAt (or spawn actors), then advance nextAt. */
  abstract step(sim: Simulation): void;
}

/**
 * Min-heap of items keyed by (time, tie), 4-ary for a shallow tree. Keys are interleaved in one
 * typed array beside the items, so sifting compares plain numbers in adjacent memory instead of
 * calling a comparator: this queue is the generator's hot path (it sees every line twice).
 */
export class TimeQueue<T> {
  private items: T[] = [];
  /** [key0, tie0, key1, tie1, ...] */
  private keys = new Float64Array(2048);
  private length = 0;

  get size(): number {
    return this.length;
  }

  /** Smallest key, Infinity when empty. */
  peekKey(): number {
    return this.length > 0 ? (this.keys[0] as number) : Number.POSITIVE_INFINITY;
  }

  peek(): T | undefined {
    return this.length > 0 ? this.items[0] : undefined;
  }

  push(item: T, key: number, tie: number): void {
    if (2 * this.length === this.keys.length) this.grow();
    const keys = this.keys;
    const items = this.items;
    let index = this.length++;
    while (index > 0) {
      const parent = (index - 1) >> 2;
      const parentKey = keys[2 * parent] as number;
      if (parentKey < key || (parentKey === key && (keys[2 * parent + 1] as number) <= tie)) break;
      keys[2 * index] = parentKey;
      keys[2 * index + 1] = keys[2 * parent + 1] as number;
      items[index] = items[parent] as T;
      index = parent;
    }
    keys[2 * index] = key;
    keys[2 * index + 1] = tie;
    items[index] = item;
  }

  pop(): T | undefined {
    if (this.length === 0) return undefined;
    const items = this.items;
    const top = items[0];
    const last = --this.length;
    const item = items[last] as T;
    items[last] = undefined as T; // let the event be collected
    if (last > 0) this.siftDown(item, this.keys[2 * last] as number, this.keys[2 * last + 1] as number, last);
    return top;
  }

  /** Replace the smallest item (cheaper than pop + push when an actor re-queues itself). */
  replaceTop(item: T, key: number, tie: number): void {
    this.siftDown(item, key, tie, this.length);
  }

  private siftDown(item: T, key: number, tie: number, length: number): void {
    const keys = this.keys;
    const items = this.items;
    let index = 0;
    for (;;) {
      const first = 4 * index + 1;
      if (first >= length) break;
      // The smallest of up to four children.
      let child = first;
      let childKey = keys[2 * first] as number;
      let childTie = keys[2 * first + 1] as number;
      const end = Math.min(first + 4, length);
      for (let other = first + 1; other < end; other++) {
        const otherKey = keys[2 * other] as number;
        if (otherKey < childKey || (otherKey === childKey && (keys[2 * other + 1] as number) < childTie)) {
          child = other;
          childKey = otherKey;
          childTie = keys[2 * other + 1] as number;
        }
      }
      if (key < childKey || (key === childKey && tie <= childTie)) break;
      keys[2 * index] = childKey;
      keys[2 * index + 1] = childTie;
      items[index] = items[child] as T;
      index = child;
    }
    keys[2 * index] = key;
    keys[2 * index + 1] = tie;
    items[index] = item;
  }

  private grow(): void {
    const keys = new Float64Array(this.keys.length * 2);
    keys.set(this.keys);
    this.keys = keys;
  }
}

export interface EngineOptions {
  start: number;
  end: number;
  jitterMs: number;
  /** Stop after this many lines (benchmarks); Infinity for the whole window. */
  maxLines: number;
  seed: number;
  edge: EdgeCacheModel;
}

export class TrafficEngine implements Simulation {
  readonly start: number;
  readonly end: number;
  readonly edge: EdgeCacheModel;
  private readonly jitterMs: number;
  private readonly maxLines: number;
  private readonly jitter: Rng;
  private readonly actors = new TimeQueue<Actor>();
  private readonly inFlight = new TimeQueue<RequestEvent>();
  private nextSerial = 0;
  /** Actors spawned while another steps: queued after it, so the stepping actor can stay on top. */
  private readonly spawned: Actor[] = [];
  private stepping = false;
  private nextSeq = 0;
  private released = 0;
  private finished = false;
  /** Events released by the previous fill, reusable once the caller has moved on. */
  private readonly handedOut: RequestEvent[] = [];
  /** Recycled events. Never larger than one batch plus the in-flight events it replaced. */
  private readonly pool: RequestEvent[] = [];

  constructor(options: EngineOptions) {
    this.start = options.start;
    this.end = options.end;
    this.edge = options.edge;
    this.jitterMs = options.jitterMs;
    this.maxLines = options.maxLines;
    this.jitter = new Rng(options.seed ^ 0x5f3759df);
  }

  spawn(actor: Actor): void {
    actor.serial = this.nextSerial++;
    if (this.stepping) this.spawned.push(actor);
    else if (actor.nextAt < this.end) this.actors.push(actor, actor.nextAt, actor.serial);
  }

  request(record: ClientRecord, host: string): RequestEvent {
    const event = this.pool.pop();
    if (event === undefined) return new RequestEvent(record, host);
    event.reset(record, host);
    return event;
  }

  emit(event: RequestEvent, startedAt: number): void {
    if (startedAt < this.start) {
      this.pool.push(event);
      return;
    }
    event.time = Math.floor(startedAt + event.requestMs); // whole ms, as labels report it
    event.emitKey = this.jitterMs > 0 ? event.time + this.jitter.float() * this.jitterMs : event.time;
    event.seq = this.nextSeq++;
    this.inFlight.push(event, event.emitKey, event.seq);
  }

  /** Lines released so far. */
  get lines(): number {
    return this.released;
  }

  /**
   * Appends up to `max` events in log order to `out`; returns false once the scenario is exhausted
   * (after which `out` may still have received the last events). The events are recycled by the
   * next call: format or copy them before calling again.
   */
  fill(out: RequestEvent[], max: number): boolean {
    const actors = this.actors;
    const inFlight = this.inFlight;
    const handedOut = this.handedOut;
    for (const event of handedOut) this.pool.push(event);
    handedOut.length = 0;
    while (!this.finished) {
      // Every future request starts at or after the earliest actor's nextAt, and is logged no
      // earlier than that, so in-flight events keyed before it can be released in order.
      const horizon = actors.peekKey();
      while (inFlight.size > 0 && inFlight.peekKey() <= horizon) {
        if (out.length >= max) return true;
        if (this.released >= this.maxLines) {
          this.finished = true;
          return false;
        }
        const event = inFlight.pop() as RequestEvent;
        const record = event.record;
        record.requests++;
        if (event.time < record.firstSeen) record.firstSeen = event.time;
        this.released++;
        out.push(event);
        handedOut.push(event);
      }
      if (this.released >= this.maxLines || horizon === Number.POSITIVE_INFINITY) {
        this.finished = true;
        return false;
      }
      const actor = actors.peek() as Actor;
      this.stepping = true;
      actor.step(this);
      this.stepping = false;
      if (actor.nextAt < this.end) actors.replaceTop(actor, actor.nextAt, actor.serial);
      else actors.pop();
      if (this.spawned.length > 0) {
        for (const child of this.spawned)
          if (child.nextAt < this.end) actors.push(child, child.nextAt, child.serial);
        this.spawned.length = 0;
      }
    }
    return false;
  }
}
