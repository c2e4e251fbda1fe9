import { parseDuration } from '@edgeguard/config';
import { splitDecisionKey } from '@edgeguard/decisions';
import {
  allowEntry,
  allowKey,
  decisionTarget,
  MAX_CONTROL_DURATION_MS,
  manualDecision,
  partitionCount,
  publishAllowDelete,
  publishAllowEntry,
  publishDecisionDeletes,
  publishDecisions,
} from '@edgeguard/kafka';
import { parseIp } from '@edgeguard/netaddr';
import { TOPICS } from '@edgeguard/pipeline';
import { actionStrength, type Decision, type Verdict } from '@edgeguard/schema';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kafka, Producer } from 'kafkajs';
import { LRUCache } from 'lru-cache';
import type { Blocklist } from './blocklist.js';
import { ApiError, noQuery } from './errors.js';
import { type RequestsAnswer, readClientRequests } from './explain-requests.js';

const target = {
  ip: { type: 'string', maxLength: 64 },
  range: { type: 'string', maxLength: 64 },
  fingerprint: { type: 'string', maxLength: 256 },
} as const;
/** The largest cursor Redis' HSCAN takes (unsigned 64-bit). */
const MAX_CURSOR = 2n ** 64n - 1n;
/**
 * Explain's requests are clients' paths, query strings (tokens, e-mail addresses) and user agents:
 * only an admin key reads them. Bouncer keys sit on every edge node and need the verdict only.
 */
const REQUESTS_NEED_ADMIN =
  "the client's requests are shown to admin keys only (they hold paths, query strings and user agents)";
const durationText = {
  type: 'string',
  minLength: 1,
  maxLength: 32,
  description: 'e.g. 90s, 15m, 4h, 1h30m, 7d',
} as const;

function durationMs(text: string, field: string): number {
  const ms = parseDuration(text, field, { unitRequired: true });
  if (!(ms >= 1)) throw new ApiError(400, 'bad-duration', `${field}: must be positive, got '${text}'`);
  // The control topic's limit (packages/kafka control.ts), refused here with the code of every
  // other bad duration rather than the control validator's `bad-manual-decision`.
  if (ms > MAX_CONTROL_DURATION_MS)
    throw new ApiError(400, 'bad-duration', `${field}: at most 366 days (8784h), got '${text}'`);
  return ms;
}

/** `explain`, manual decisions and the allowlist. Writes are produced to Kafka, never to Redis. */
export function registerOperatorRoutes(
  app: FastifyInstance,
  deps: { blocklist: Blocklist; producer: () => Producer; prefix: string; kafka?: Kafka },
): void {
  const { blocklist, prefix } = deps;
  // explain's requests: at most 2 reads of access-logs at once (503 when busy), answers cached per
  // (client, decidedAt). Each covering decision gets the explained client's own requests up to the
  // time it was decided: for an address decision the requests that led to it; for a range or
  // fingerprint decision (decided on many clients together) this client's part in it.
  const requestsCache = new LRUCache<string, RequestsAnswer>({ max: 256 });
  // The decisions topic's partition count, so that a manual decision or deletion goes to the
  // partition the decider (and `edgeguard decisions`) use for its key: per-key order holds on the
  // topic and compaction, which is per partition, keeps one last record per key. Partition 0
  // always put an operator's record beside, not after, the decider's on a topic of more than one.
  // Looked up at most once a minute; a failed lookup is not kept.
  let partitions: { at: number; count: Promise<number> } | undefined;
  const decisionPartitions = (): Promise<number> => {
    const kafka = deps.kafka;
    if (!kafka) return Promise.resolve(1);
    if (partitions && Date.now() - partitions.at < 60_000) return partitions.count;
    const count = partitionCount(kafka, prefix, TOPICS.decisions).catch((error: Error) => {
      partitions = undefined;
      throw new ApiError(
        503,
        'kafka-unavailable',
        `cannot read the decisions topic's partitions: ${error.message}`,
      );
    });
    partitions = { at: Date.now(), count };
    return count;
  };
  let readsInFlight = 0;
  const requestsFor = async (
    ip: string,
    d: Decision,
  ): Promise<RequestsAnswer | { requestsError: string }> => {
    const cacheKey = `${ip}@${d.decidedAt}`;
    const cached = requestsCache.get(cacheKey);
    if (cached) return cached;
    if (!deps.kafka) return { requestsError: 'no Kafka client' };
    try {
      const answer = await readClientRequests({
        kafka: deps.kafka,
        prefix,
        ip,
        decidedAt: d.decidedAt,
      });
      requestsCache.set(cacheKey, answer);
      return answer;
    } catch (error) {
      return { requestsError: (error as Error).message };
    }
  };

  const withRequests = async (ip: string, covering: Decision[], wanted: boolean): Promise<object[]> => {
    if (!wanted || !deps.kafka || covering.length === 0) return covering;
    if (readsInFlight >= 2)
      throw new ApiError(503, 'explain-busy', 'too many explain reads at once; retry shortly');
    readsInFlight++;
    try {
      const answers = await Promise.all(covering.map((d) => requestsFor(ip, d)));
      return covering.map((d, i) => ({ ...d, ...answers[i] }));
    } finally {
      readsInFlight--;
    }
  };

  app.get(
    '/api/explain',
    {
      config: { scope: 'bouncer' },
      schema: {
        summary: 'Why an address gets its verdict: covering decisions with their signals, allowlist entries',
        tags: ['operator'],
        querystring: {
          type: 'object',
          required: ['ip'],
          additionalProperties: false,
          properties: {
            ip: target.ip,
            fingerprint: target.fingerprint,
            requests: { type: 'integer', enum: [0, 1], default: 1, description: '0 skips the requests' },
          },
        },
      },
    },
    async (
      request: FastifyRequest<{ Querystring: { ip: string; fingerprint?: string; requests?: number } }>,
    ) => {
      const address = parseIp(request.query.ip);
      if (!address)
        throw new ApiError(
          400,
          'bad-ip',
          `ip: expected an IPv4 or IPv6 address, got ${JSON.stringify(request.query.ip)}`,
        );
      const [decisions, allowEntries, byFingerprint] = await Promise.all([
        blocklist.store.lookupIp(address.text),
        blocklist.store.allowEntriesFor(address.text),
        request.query.fingerprint
          ? blocklist.store.get(`fp:${request.query.fingerprint}`)
          : Promise.resolve(null),
      ]);
      const covering: Decision[] = byFingerprint ? [...decisions, byFingerprint] : decisions;
      const strongest = covering.reduce<Decision | null>(
        (best, d) => (best === null || actionStrength(d.action) > actionStrength(best.action) ? d : best),
        null,
      );
      const verdict: Verdict = allowEntries.length > 0 || strongest === null ? 'allow' : strongest.action;
      return {
        ip: address.text,
        verdict,
        because:
          allowEntries.length > 0
            ? 'allowlisted: the allowlist always wins'
            : strongest
              ? `${strongest.key} (${strongest.origin}, ${strongest.reason})`
              : 'no decision covers this address',
        decisions:
          request.query.requests === 0
            ? covering
            : request.apiKey.scope === 'admin'
              ? await withRequests(address.text, covering, true)
              : covering.map((d) => ({ ...d, requestsError: REQUESTS_NEED_ADMIN })),
        allowlist: allowEntries,
      };
    },
  );

  app.get(
    '/api/decisions',
    {
      config: { scope: 'bouncer' },
      schema: {
        summary: 'Active decisions a page at a time (cursor from the previous page; "0" when done)',
        tags: ['operator'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            scope: { type: 'string', enum: ['ip', 'range', 'fingerprint'] },
            cursor: { type: 'string', pattern: '^[0-9]{1,20}$', default: '0' },
            limit: { type: 'integer', minimum: 1, maximum: 5000, default: 500 },
          },
        },
      },
    },
    async (
      request: FastifyRequest<{
        Querystring: { scope?: 'ip' | 'range' | 'fingerprint'; cursor: string; limit: number };
      }>,
    ) => {
      const { scope, cursor, limit } = request.query;
      // Redis cursors are unsigned 64-bit: a larger one is Redis' "invalid cursor", a client's mistake.
      if (BigInt(cursor) > MAX_CURSOR) {
        throw new ApiError(
          400,
          'bad-request',
          `querystring/cursor: expected "0" or the cursor of the previous page, got ${cursor}`,
        );
      }
      for await (const page of blocklist.store.pages({ cursor, count: limit, ...(scope ? { scope } : {}) })) {
        return { decisions: page.decisions, cursor: page.cursor };
      }
      return { decisions: [], cursor: '0' };
    },
  );

  app.post(
    '/api/decisions',
    {
      config: { scope: 'admin', redis: false },
      schema: {
        summary: 'Add a manual decision (produced to the decisions topic); 202 with the decision',
        tags: ['operator'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['action', 'duration', 'reason'],
          properties: {
            ...target,
            action: { type: 'string', enum: ['block', 'challenge', 'throttle'] },
            duration: durationText,
            reason: { type: 'string', minLength: 1, maxLength: 200 },
            force: { type: 'boolean', description: 'allow a range wider than an IPv4 /8 or an IPv6 /32' },
          },
        },
      },
    },
    async (
      request: FastifyRequest<{
        Body: {
          ip?: string;
          range?: string;
          fingerprint?: string;
          action: string;
          duration: string;
          reason: string;
          force?: boolean;
        };
      }>,
      reply,
    ) => {
      const body = request.body;
      const decision = manualDecision({ ...body, duration: durationMs(body.duration, 'duration') });
      await publishDecisions(deps.producer(), prefix, [decision], { partitions: await decisionPartitions() });
      return reply.code(202).send({ decision });
    },
  );

  app.patch(
    '/api/decisions',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Change how long a current decision applies (from now); 202 with the new manual decision',
        tags: ['operator'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['key', 'duration'],
          properties: { key: { type: 'string', minLength: 3, maxLength: 300 }, duration: durationText },
        },
      },
    },
    async (request: FastifyRequest<{ Body: { key: string; duration: string } }>, reply) => {
      // Checked as DELETE and `decisions add` check a target: `range:198.51.100.7/24` (host bits
      // set, almost surely a typo) is refused, not taken as the /24.
      const { scope, value } = splitDecisionKey(request.body.key);
      const { key } = decisionTarget({ [scope]: value });
      const current = await blocklist.store.get(key);
      if (!current)
        throw new ApiError(404, 'not-found', `no active decision ${JSON.stringify(request.body.key)}`);
      const decision = manualDecision({
        [current.scope]: current.value,
        action: current.action,
        reason: current.reason,
        duration: durationMs(request.body.duration, 'duration'),
        force: true, // extending what is in effect: a range as wide as it already is
      });
      await publishDecisions(deps.producer(), prefix, [decision], { partitions: await decisionPartitions() });
      return reply.code(202).send({ decision });
    },
  );

  app.delete(
    '/api/decisions',
    {
      config: { scope: 'admin', redis: false },
      schema: {
        summary:
          'Remove the decision on an address, range or fingerprint (a tombstone on the decisions topic)',
        tags: ['operator'],
        querystring: { type: 'object', additionalProperties: false, properties: target },
      },
    },
    async (
      request: FastifyRequest<{ Querystring: { ip?: string; range?: string; fingerprint?: string } }>,
      reply,
    ) => {
      const { key } = decisionTarget(request.query);
      await publishDecisionDeletes(deps.producer(), prefix, [key], {
        partitions: await decisionPartitions(),
      });
      return reply.code(202).send({ key });
    },
  );

  app.get(
    '/api/allowlist',
    {
      config: { scope: 'bouncer' },
      schema: { summary: 'Every current allowlist entry', tags: ['operator'], querystring: noQuery },
    },
    async () => ({ entries: await blocklist.store.listAllowlist() }),
  );

  app.post(
    '/api/allowlist',
    {
      config: { scope: 'admin', redis: false },
      schema: {
        summary: 'Add an allowlist entry (produced to the allowlist topic); 202 with the entry',
        tags: ['operator'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['cidr'],
          properties: {
            cidr: { type: 'string', minLength: 1, maxLength: 64 },
            comment: { type: 'string', maxLength: 500 },
            duration: durationText,
            force: { type: 'boolean', description: 'allow a range wider than an IPv4 /8 or an IPv6 /32' },
          },
        },
      },
    },
    async (
      request: FastifyRequest<{
        Body: { cidr: string; comment?: string; duration?: string; force?: boolean };
      }>,
      reply,
    ) => {
      const { cidr, comment, duration, force } = request.body;
      const entry = allowEntry({
        cidr,
        force,
        ...(comment !== undefined ? { comment } : {}),
        ...(duration !== undefined ? { duration: durationMs(duration, 'duration') } : {}),
      });
      await publishAllowEntry(deps.producer(), prefix, entry);
      return reply.code(202).send({ entry });
    },
  );

  app.delete(
    '/api/allowlist',
    {
      config: { scope: 'admin', redis: false },
      schema: {
        summary: 'Remove an allowlist entry (a tombstone on the allowlist topic)',
        tags: ['operator'],
        querystring: {
          type: 'object',
          required: ['cidr'],
          additionalProperties: false,
          properties: { cidr: { type: 'string', minLength: 1, maxLength: 64 } },
        },
      },
    },
    async (request: FastifyRequest<{ Querystring: { cidr: string } }>, reply) => {
      const cidr = allowKey(request.query.cidr);
      await publishAllowDelete(deps.producer(), prefix, cidr);
      return reply.code(202).send({ cidr });
    },
  );
}
