import { Readable } from 'node:stream';
import type { Change } from '@edgeguard/decisions';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Blocklist } from './blocklist.js';
import { ApiError, noQuery } from './errors.js';
import type { ChangeFeed } from './feed.js';
import { Follower, type Page } from './follower.js';
import type { CachePolicyState, PolicyChange } from './policies.js';
import type { SseConnection, SseHub } from './sse.js';

/**
 * Request header (value `1`) asking `/api/blocklist` for the snapshot's end line
 * `{"end":true,"lines":N}` (docs/API.md). A header, not a query parameter: an older API refuses
 * unknown query parameters but ignores the header, so a new agent works against it too.
 */
export const SNAPSHOT_TRAILER_HEADER = 'edgeguard-snapshot-trailer';

/** A blocklist change as the native API sends it: decision adds and deletes only. */
function isBlocklistChange(change: Change): boolean {
  return change.op === 'add' || change.op === 'del';
}

/** One SSE client following a versioned log from its Last-Event-ID. */
class StreamFollower<C extends { version: number }> extends Follower<C> {
  constructor(
    private readonly connection: SseConnection,
    since: number,
    changesSince: (version: number, limit: number) => Promise<Page<C>>,
    private readonly send: (change: C) => boolean,
    private readonly resyncData: () => Promise<unknown>,
  ) {
    super(since, changesSince);
    connection.whenClosed(() => {
      this.closed = true;
    });
  }

  protected apply(change: C, live: boolean): undefined | Promise<void> {
    if (!this.send(change)) return undefined;
    return this.connection.event('change', change.version, change, live);
  }

  /** The client must snapshot: tell it, then end the stream (it reconnects from the snapshot's version). */
  protected async resync(): Promise<void> {
    const data = await this.resyncData();
    this.connection.event('resync', null, data, true);
    this.connection.close();
  }

  protected failed(): void {
    this.connection.close();
  }
}

const sinceSchema = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

/**
 * The later of `since` and `Last-Event-ID`; 400 on a malformed header. An EventSource reconnecting
 * keeps its URL's `since` and sends the id of the last event it got: that one must win, or every
 * reconnect replays from where the stream first began.
 */
function sinceOf(request: FastifyRequest<{ Querystring: { since?: number } }>): number | undefined {
  const since = request.query.since;
  const header = request.headers['last-event-id'];
  if (header === undefined || header === '') return since;
  if (typeof header !== 'string' || !/^\d{1,16}$/.test(header)) {
    throw new ApiError(
      400,
      'bad-last-event-id',
      `Last-Event-ID: expected a version (a whole number), got ${JSON.stringify(header)}`,
    );
  }
  return Math.max(since ?? 0, Number(header));
}

/**
 * If-None-Match as RFC 9110 compares it: a list of tags, weakly (a proxy that compresses the body
 * sends `W/"E-V"` on), or `*`.
 */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || (trimmed.startsWith('W/') ? trimmed.slice(2) : trimmed) === etag;
  });
}

export function registerNativeRoutes(
  app: FastifyInstance,
  deps: { blocklist: Blocklist; feed: ChangeFeed; hub: SseHub; policies: CachePolicyState },
): void {
  const { blocklist, feed, hub, policies } = deps;

  /** Opens an event stream following a versioned log from `since` / Last-Event-ID. */
  async function follow<C extends { version: number }>(
    request: FastifyRequest<{ Querystring: { since?: number } }>,
    reply: FastifyReply,
    stream: string,
    source: {
      changesSince: (version: number, limit: number) => Promise<Page<C>>;
      send: (change: C) => boolean;
      resyncData: () => Promise<unknown>;
      subscribe: (listener: (changes: readonly C[]) => void) => () => void;
    },
  ): Promise<void> {
    const since = sinceOf(request) ?? 0;
    // HEAD (server.ts adds it to every GET route): the stream's status and headers, no stream held.
    if (request.method === 'HEAD') {
      hub.checkRoom(request.apiKey.name);
      reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .send();
      return;
    }
    const connection = hub.open(reply.raw, stream, request.apiKey.name);
    reply.hijack();
    const follower = new StreamFollower<C>(
      connection,
      since,
      source.changesSince,
      source.send,
      source.resyncData,
    );
    connection.whenClosed(source.subscribe(follower.onChanges));
    await follower.catchUp();
  }

  app.get(
    '/api/blocklist',
    {
      config: { scope: 'bouncer' },
      schema: {
        summary:
          'Blocklist snapshot as NDJSON: a header line {version, epoch, count}, one Decision per line, and with the request header Edgeguard-Snapshot-Trailer: 1 an end line {end: true, lines}',
        tags: ['blocklist'],
        querystring: noQuery,
      },
    },
    async (request, reply) => {
      const state = await blocklist.state();
      const etag = `"${state.epoch}-${state.version}"`;
      reply.header('etag', etag).header('cache-control', 'no-cache');
      if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send();
      // HEAD: the ETag without the scan (fastify's own HEAD would read the whole store to drop it).
      if (request.method === 'HEAD') return reply.type('application/x-ndjson').send();
      // `count` is the active decisions when the snapshot starts: decisions added, removed or
      // expiring while the pages are scanned make the lines sent differ from it. A client that
      // asks for it (SNAPSHOT_TRAILER_HEADER) gets a last line with the exact number of decision
      // lines sent; a body without it was cut short. Without the header the body is as before.
      const trailer = request.headers[SNAPSHOT_TRAILER_HEADER] === '1';
      const count = await blocklist.activeCount();
      async function* body(): AsyncGenerator<string> {
        yield `${JSON.stringify(trailer ? { ...state, count, trailer: true } : { ...state, count })}\n`;
        let lines = 0;
        for await (const page of blocklist.store.pages({ count: 1000 })) {
          if (page.decisions.length === 0) continue;
          lines += page.decisions.length;
          yield `${page.decisions.map((d) => JSON.stringify(d)).join('\n')}\n`;
        }
        if (trailer) yield `${JSON.stringify({ end: true, lines })}\n`;
      }
      return reply.type('application/x-ndjson').send(Readable.from(body(), { highWaterMark: 2 }));
    },
  );

  app.get(
    '/api/blocklist/changes',
    {
      config: { scope: 'bouncer' },
      schema: {
        summary: 'Blocklist changes after a version; resync=true means take a snapshot',
        tags: ['blocklist'],
        querystring: {
          type: 'object',
          required: ['since'],
          additionalProperties: false,
          properties: {
            since: sinceSchema,
            limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 },
          },
        },
      },
    },
    async (request: FastifyRequest<{ Querystring: { since: number; limit: number } }>) => {
      const page = await blocklist.store.changesSince(request.query.since, request.query.limit);
      return { version: page.version, resync: page.resync, changes: page.changes.filter(isBlocklistChange) };
    },
  );

  app.get(
    '/api/blocklist/events',
    {
      config: { scope: 'bouncer' },
      schema: {
        summary: 'Blocklist changes pushed as Server-Sent Events (event: change, id: version; event: resync)',
        tags: ['blocklist'],
        querystring: { type: 'object', additionalProperties: false, properties: { since: sinceSchema } },
      },
    },
    (request: FastifyRequest<{ Querystring: { since?: number } }>, reply: FastifyReply) =>
      follow<Change>(request, reply, 'blocklist', {
        changesSince: (version, limit) => blocklist.store.changesSince(version, limit),
        send: isBlocklistChange,
        resyncData: () => blocklist.state(),
        subscribe: (listener) => feed.subscribe(listener as (changes: readonly Change[]) => void),
      }),
  );

  app.get(
    '/api/cache-policies',
    {
      config: { scope: 'bouncer', redis: false },
      schema: {
        summary: 'Every current cache policy with the version they are at',
        tags: ['cache-policies'],
        querystring: noQuery,
      },
    },
    async () => ({ version: policies.version, policies: [...policies.policies.values()] }),
  );

  app.get(
    '/api/cache-policies/changes',
    {
      config: { scope: 'bouncer', redis: false },
      schema: {
        summary:
          'Cache-policy changes after a version (version = topic offset + 1); resync=true: take a snapshot',
        tags: ['cache-policies'],
        querystring: {
          type: 'object',
          required: ['since'],
          additionalProperties: false,
          properties: {
            since: sinceSchema,
            limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 },
          },
        },
      },
    },
    async (request: FastifyRequest<{ Querystring: { since: number; limit: number } }>) =>
      policies.changesSince(request.query.since, request.query.limit),
  );

  app.get(
    '/api/cache-policies/events',
    {
      config: { scope: 'bouncer', redis: false },
      schema: {
        summary: 'Cache-policy changes pushed as Server-Sent Events',
        tags: ['cache-policies'],
        querystring: { type: 'object', additionalProperties: false, properties: { since: sinceSchema } },
      },
    },
    (request: FastifyRequest<{ Querystring: { since?: number } }>, reply: FastifyReply) =>
      follow<PolicyChange>(request, reply, 'cache-policies', {
        changesSince: async (version, limit) => policies.changesSince(version, limit),
        send: () => true,
        resyncData: async () => ({ version: policies.version }),
        subscribe: (listener) => policies.subscribe(listener),
      }),
  );
}
