import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { BadInput } from '@edgeguard/schema';
import type { Logger, Metrics } from '@edgeguard/telemetry';
import Fastify, {
  errorCodes,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type HookHandlerDoneFunction,
  LogController,
  type RequestPayload,
  type RouteOptions,
} from 'fastify';
import type { Cluster, Redis } from 'ioredis';
import type { Kafka, Producer } from 'kafkajs';
import type { Authenticator } from './auth.js';
import type { Blocklist } from './blocklist.js';
import { registerCrowdsecRoutes } from './crowdsec.js';
import { dashboardErrorHeaders, registerDashboardRoutes } from './dashboard.js';
import { ApiError, type ErrorBody } from './errors.js';
import type { ChangeFeed } from './feed.js';
import type { ApiKeyRecord, Scope } from './keys.js';
import { registerNativeRoutes } from './native.js';
import { OpenApiCollector } from './openapi.js';
import { registerOperatorRoutes } from './operator.js';
import type { CachePolicyState } from './policies.js';
import type { RedisHealth } from './redis-health.js';
import { RequestMetrics } from './request-metrics.js';
import type { SseHub } from './sse.js';
import type { Tombstones } from './tombstones.js';

/** Request body limit: the largest body (a manual decision) is well under 1 KiB. */
export const BODY_LIMIT = 16 * 1024;
/** URL limit (path + query): longer is answered 414. */
export const URL_LIMIT = 4096;
/** A request (headers and body) not received within this long is answered 408. */
export const REQUEST_TIMEOUT_MS = 30_000;

declare module 'fastify/types/schema.js' {
  /** Documentation fields, read by the OpenAPI collector (fastify ignores them). */
  interface FastifySchema {
    summary?: string;
    tags?: string[];
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route: `public`, `bouncer` (any key) or `admin`. */
    scope?: 'public' | Scope;
    /**
     * false for routes answered without Redis (from memory, or writes produced to Kafka): they are
     * not refused while Redis does not answer. Default true.
     */
    redis?: boolean;
  }
  interface FastifyRequest {
    apiKey: ApiKeyRecord;
  }
}

export interface ApiDeps {
  logger: Logger;
  metrics: Metrics;
  auth: Authenticator;
  blocklist: Blocklist;
  feed: ChangeFeed;
  hub: SseHub;
  policies: CachePolicyState;
  /** The connected producer; throws ApiError 503 while Kafka is not connected. */
  producer: () => Producer;
  /** For explain's requests (read from `access-logs`); without it explain skips them. */
  kafka?: Kafka;
  prefix: string;
  redis: Redis | Cluster;
  cursorsKey: string;
  /** Tombstones of deleted decisions, for the CrowdSec stream's full sets (recorded by a TombstoneRecorder). */
  tombstones: Tombstones;
  /**
   * Whether Redis answers: routes that need it are refused 503 `redis-unavailable` at once while it
   * does not, and Redis errors of the kind "did not answer" are answered so (without: neither).
   */
  redisHealth?: RedisHealth;
  /** 408 for a request not received within this long (default REQUEST_TIMEOUT_MS; tests shorten it). */
  requestTimeoutMs?: number;
  /** true, or why the process is not ready. */
  ready: () => true | string;
  version?: string;
}

function errorCode(error: FastifyError): string {
  switch (error.statusCode) {
    case 413:
      return 'body-too-large';
    case 414:
      return 'url-too-long';
    case 415:
      return 'unsupported-media-type';
    case 404:
      return 'not-found';
    default:
      return 'bad-request';
  }
}

/**
 * Errors node's HTTP parser meets before any route runs (headers too large, a request that is not
 * HTTP, a client too slow to send its headers), answered in the API's error shape. Fastify's
 * default writes `{"error": "<status text>", "message", "statusCode"}` instead.
 */
function clientErrorBody(error: NodeJS.ErrnoException): { status: number; body: ErrorBody } {
  if (error.code === 'HPE_HEADER_OVERFLOW')
    return {
      status: 431,
      body: {
        error: 'headers-too-large',
        message: `the request's headers are larger than ${maxHeaderSize} bytes (${maxHeaderSize / 1024} KiB)`,
      },
    };
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return {
      status: 408,
      body: { error: 'request-timeout', message: 'the request was not received in time' },
    };
  return { status: 400, body: { error: 'bad-request', message: 'the request is not valid HTTP/1.1' } };
}

/**
 * fastify's message names the part and field (`querystring/since must be integer`); added: the
 * name of an unknown field, the values an enum allows, and a query parameter given more than once
 * (else "must be integer").
 */
function validationMessage(error: FastifyError, query: unknown): string {
  const first = error.validation?.[0];
  const unknown = first?.params?.additionalProperty;
  if (typeof unknown === 'string') return `${error.message}: ${JSON.stringify(unknown)}`;
  const allowed = first?.params?.allowedValues;
  if (Array.isArray(allowed)) return `${error.message}: ${allowed.join(', ')}`;
  if (error.validationContext === 'querystring' && first?.instancePath) {
    const name = first.instancePath.split('/')[1] ?? '';
    const value = (query as Record<string, unknown> | undefined)?.[name];
    if (Array.isArray(value)) return `querystring/${name}: given ${value.length} times, expected once`;
  }
  return error.message;
}

/** Refuses a request at once (503 `redis-unavailable`) while Redis counts as not answering. */
function redisCheck(health: RedisHealth) {
  return (_request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    try {
      health.check();
    } catch (error) {
      done(error as Error);
      return;
    }
    done();
  };
}

/** A route's own hooks of one kind as a list (fastify takes one function or an array). */
function hookList<T>(hooks: T | T[] | undefined): T[] {
  if (hooks === undefined) return [];
  return Array.isArray(hooks) ? hooks : [hooks];
}

/**
 * A preParsing hook refusing a compressed body with 415 (RFC 9110 §15.5.16: a content coding the
 * server does not take). Nothing decodes it, so the JSON parser met gzip bytes and answered 400
 * "Body is not valid JSON", which points at the JSON rather than at the coding.
 */
function identityBody(
  request: FastifyRequest,
  _reply: FastifyReply,
  payload: RequestPayload,
  done: (error?: Error | null, payload?: RequestPayload) => void,
): void {
  const coding = request.headers['content-encoding'];
  if (coding === undefined || coding.trim().toLowerCase() === 'identity' || coding.trim() === '') {
    done(null, payload);
    return;
  }
  done(
    new ApiError(
      415,
      'unsupported-media-type',
      `content-encoding ${JSON.stringify(coding)} is not accepted: send the JSON body uncompressed`,
      { 'accept-encoding': 'identity' },
    ),
  );
}

/** The JSON type of a value, as JSON Schema names it. */
function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/**
 * A preValidation hook refusing body fields of another JSON type than their schema's. The schema
 * validator coerces types, which query strings need (every value there is text), but in a JSON
 * body it took `"force": "true"` as true, `"reason": 1` as "1" and `"cidr": ["x"]` as "x".
 */
function strictBodyTypes(schema: unknown) {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  return (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
    const body = request.body;
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
      for (const [name, value] of Object.entries(body)) {
        const expected = Object.hasOwn(properties, name) ? properties[name]!.type : undefined;
        if (typeof expected !== 'string') continue;
        const actual = jsonTypeOf(value);
        if (actual === expected || (expected === 'number' && actual === 'integer')) continue;
        done(new ApiError(400, 'bad-request', `body/${name} must be ${expected}, got ${actual}`));
        return;
      }
    }
    done();
  };
}

/**
 * A JSON body parsed with a clear refusal of the keys that reach an object's prototype:
 * `__proto__`, and `constructor` holding `prototype` (fastify's parser refused them as "Body is not
 * valid JSON", which they are). JSON.parse itself makes them own data properties (no pollution).
 */
function parseJsonBody(
  _request: FastifyRequest,
  body: string,
  done: (error: Error | null, body?: unknown) => void,
) {
  if (body.length === 0) {
    done(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY());
    return;
  }
  let forbidden: string | null = null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body, function (this: unknown, key: string, value: unknown) {
      if (key === '__proto__') forbidden ??= '__proto__';
      else if (
        key === 'constructor' &&
        value !== null &&
        typeof value === 'object' &&
        Object.hasOwn(value, 'prototype')
      )
        forbidden ??= 'constructor.prototype';
      return value;
    });
  } catch {
    done(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY());
    return;
  }
  if (forbidden !== null) {
    done(
      new ApiError(
        400,
        'bad-request',
        `body: the key ${JSON.stringify(forbidden)} is not accepted (it would reach an object's prototype in JavaScript)`,
      ),
    );
    return;
  }
  done(null, parsed);
}

/** A query parameter's number as the API takes it: plain decimal digits. */
const PLAIN_DIGITS = /^[0-9]+$/;

/**
 * A preValidation hook refusing integer query parameters that are not plain decimal digits. The
 * schema validator's coercion took `since=` as 0, `1e3` as 1000, `0x10` as 16 and `12.0` as 12.
 * A parameter given twice is left to the schema (its message says so).
 */
function strictQueryNumbers(names: string[]) {
  return (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
    const query = request.query as Record<string, unknown>;
    for (const name of names) {
      const value = query[name];
      if (typeof value !== 'string' || PLAIN_DIGITS.test(value)) continue;
      done(
        new ApiError(
          400,
          'bad-request',
          `querystring/${name} must be integer (plain decimal digits), got ${JSON.stringify(value)}`,
        ),
      );
      return;
    }
    done();
  };
}

/** The API's routes, hooks and error handling on a fastify instance (not listening yet). */
export async function createApiServer(deps: ApiDeps): Promise<FastifyInstance> {
  const { metrics } = deps;
  // Made after the instance (the client-error handler, given to Fastify(), counts into it).
  let rejected: ReturnType<Metrics['counter']> | undefined;
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One log line per request at 20k requests/s costs more than the request: errors are logged,
    // traffic is counted in /metrics. Nor a child logger per request (a request id binding).
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger) => logger,
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: 200 },
    requestTimeout: deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    // node checks that timeout every connectionsCheckingInterval (default 30 s: a slow client held
    // its connection up to 60 s); every second it is 30 to 31 s, as documented.
    http: { connectionsCheckingInterval: 1_000 },
    exposeHeadRoutes: false,
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket) => {
      // A reset connection has nobody to answer (https://nodejs.org/api/http.html#event-clienterror).
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const { status, body } = clientErrorBody(error);
      rejected?.inc({ reason: body.error });
      const text = JSON.stringify(body);
      if (socket.writable)
        socket.write(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${text}`,
        );
      socket.destroy(error);
    },
    // A URL fastify's router cannot decode (`/api/%ZZ`): its default answer is fastify's own shape.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const body = { error: errorCode(error), message: error.message };
      rejected?.inc({ reason: body.error });
      dashboardErrorHeaders(request, reply);
      reply
        .code(error.statusCode ?? 400)
        .type('application/json')
        .send(body);
    },
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
  });
  // Only JSON bodies: fastify's built-in text/plain parser would hand a string to the schema (a
  // 400 "must be object") where any other non-JSON type gets 415.
  app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody);
  // HEAD wherever GET (RFC 9110 §9.3.2: same status and headers, no body; node drops the body of
  // a HEAD response), before the OpenAPI collector sees the route. Not fastify's exposeHeadRoutes,
  // whose HEAD reads a streamed body to its end to drop it and would open event streams: the
  // streaming routes answer HEAD themselves (native.ts, crowdsec.ts).
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.method === 'GET') route.method = ['GET', 'HEAD'];
  });
  const openapi = new OpenApiCollector();
  openapi.attach(app);

  const requestMetrics = new RequestMetrics(
    metrics.registry,
    {
      requests: 'edgeguard_api_requests_total',
      requestsHelp: 'HTTP requests by route and status',
      latency: 'edgeguard_api_request_duration_seconds',
      latencyHelp: 'Time to the response head, by route',
    },
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
  );
  rejected = metrics.counter('edgeguard_api_rejected_total', 'Requests refused, by reason', ['reason']);

  /** The URL limit and, on a keyed route, the key: callback style, no promise when the key is cached. */
  const guard =
    (scope: 'public' | Scope) =>
    (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
      if (request.url.length > URL_LIMIT) {
        done(new ApiError(414, 'url-too-long', `the URL is longer than ${URL_LIMIT} characters`));
        return;
      }
      if (scope === 'public') {
        done();
        return;
      }
      let result: ReturnType<Authenticator['authenticate']>;
      try {
        result = deps.auth.authenticate(request.headers, scope);
      } catch (error) {
        done(error as Error);
        return;
      }
      if (result instanceof Promise) {
        result.then(
          (record) => {
            request.apiKey = record;
            done();
          },
          (error: Error) => done(error),
        );
      } else {
        request.apiKey = result;
        done();
      }
    };

  /** Counts a route's responses into its cells (made once, here, per route). */
  const counted = (route: string) => {
    const cells = requestMetrics.route(route);
    return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
      cells.record(request.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    };
  };

  // Per route, at registration: its guard and its counting hooks know the route's scope and URL
  // (a global hook would read request.routeOptions, which builds an object per call).
  app.decorateRequest('apiKey', null as unknown as ApiKeyRecord);
  /** Every method some route answers: a path without the request's method is checked for them. */
  const routeMethods = new Set<string>();
  app.addHook('onRoute', (route: RouteOptions) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method])
      routeMethods.add(method);
    const config = route.config as { scope?: 'public' | Scope; redis?: boolean } | undefined;
    const scope = config?.scope ?? 'public';
    const health = deps.redisHealth;
    const needsRedis = health !== undefined && scope !== 'public' && config?.redis !== false;
    route.onRequest = [
      ...(needsRedis ? [redisCheck(health)] : []),
      guard(scope),
      ...hookList(route.onRequest),
    ];
    route.onResponse = [...hookList(route.onResponse), counted(route.url)];
    const query = (route.schema as { querystring?: { properties?: Record<string, { type?: unknown }> } })
      ?.querystring?.properties;
    const numbers = Object.keys(query ?? {}).filter((name) =>
      ['integer', 'number'].includes(query![name]!.type as string),
    );
    if (numbers.length > 0)
      route.preValidation = [...hookList(route.preValidation), strictQueryNumbers(numbers)];
    const body = (route.schema as { body?: unknown } | undefined)?.body;
    if (body !== undefined) {
      route.preParsing = [...hookList(route.preParsing), identityBody];
      route.preValidation = [...hookList(route.preValidation), strictBodyTypes(body)];
    }
  });

  app.setErrorHandler((error: FastifyError | ApiError | BadInput, request, reply) => {
    let status: number;
    let body: { error: string; message: string };
    const redisDown =
      error instanceof ApiError || error instanceof BadInput
        ? null
        : (deps.redisHealth?.unavailable(error) ?? null);
    if (error instanceof ApiError) {
      status = error.status;
      body = { error: error.code, message: error.message };
      reply.headers(error.headers);
    } else if (error instanceof BadInput) {
      status = 400;
      body = { error: error.reason, message: error.message };
    } else if ((error as FastifyError).validation) {
      status = 400;
      body = { error: 'bad-request', message: validationMessage(error as FastifyError, request.query) };
    } else if ((error as FastifyError).statusCode && (error as FastifyError).statusCode! < 500) {
      status = (error as FastifyError).statusCode!;
      body = {
        error: errorCode(error as FastifyError),
        message:
          status === 415
            ? `content-type ${JSON.stringify(request.headers['content-type'] ?? '')} is not accepted: send application/json`
            : status === 413
              ? `the body is larger than ${BODY_LIMIT} bytes (${BODY_LIMIT / 1024} KiB), the limit of every request body`
              : error.message,
      };
    } else if (redisDown) {
      status = 503;
      body = { error: redisDown.code, message: redisDown.message };
      reply.headers(redisDown.headers);
    } else if (error.name.startsWith('KafkaJS')) {
      status = 503;
      body = { error: 'kafka-unavailable', message: `Kafka did not take the write: ${error.message}` };
      request.log.warn({ err: error }, 'write not produced');
    } else {
      status = 500;
      body = { error: 'internal', message: 'internal error (logged)' };
      request.log.error({ err: error, route: request.routeOptions.url }, 'request failed');
    }
    rejected?.inc({ reason: body.error });
    dashboardErrorHeaders(request, reply);
    reply.code(status).type('application/json').send(body);
  });

  // The 404 handler in a context of its own: the URL limit and the counting hooks for it alone.
  await app.register(async (unmatched) => {
    unmatched.addHook('onRequest', guard('public'));
    unmatched.addHook('onResponse', counted('unmatched'));
    unmatched.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0]!;
      dashboardErrorHeaders(request, reply);
      // A known path asked with another method: 405 with the methods it takes (RFC 9110 §15.5.6:
      // the Allow header is required). Looked up as the router does, so parametric routes too.
      const allowed = [...routeMethods].filter((method) => app.findRoute({ method, url: path }) !== null);
      if (allowed.length > 0) {
        rejected?.inc({ reason: 'method-not-allowed' });
        reply
          .code(405)
          .header('allow', allowed.join(', '))
          .send({
            error: 'method-not-allowed',
            message: `${request.method} is not a method of ${path}: use ${allowed.join(', ')}`,
          });
        return;
      }
      rejected?.inc({ reason: 'not-found' });
      reply.code(404).send({ error: 'not-found', message: `no route ${request.method} ${path}` });
    });
  });

  app.get(
    '/healthz',
    { config: { scope: 'public' }, schema: { summary: 'Liveness', tags: ['service'] } },
    async () => 'ok\n',
  );
  app.get(
    '/readyz',
    {
      config: { scope: 'public' },
      schema: { summary: 'Readiness (503 with the reason when not ready)', tags: ['service'] },
    },
    async (_request, reply) => {
      const ready = deps.ready();
      return reply
        .code(ready === true ? 200 : 503)
        .type('text/plain')
        .send(ready === true ? 'ready\n' : `${ready}\n`);
    },
  );
  app.get(
    '/metrics',
    {
      config: { scope: 'admin', redis: false },
      schema: { summary: 'Prometheus metrics', tags: ['service'] },
    },
    async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.text()),
  );
  app.get(
    '/openapi.json',
    { config: { scope: 'public' }, schema: { summary: 'This document', tags: ['service'] } },
    async () => openapi.document(deps.version ?? '0.1.0'),
  );

  registerCrowdsecRoutes(app, {
    blocklist: deps.blocklist,
    redis: deps.redis,
    cursors: deps.cursorsKey,
    tombstones: deps.tombstones,
    metrics,
    ...(deps.redisHealth ? { redisHealth: deps.redisHealth } : {}),
  });
  registerNativeRoutes(app, {
    blocklist: deps.blocklist,
    feed: deps.feed,
    hub: deps.hub,
    policies: deps.policies,
  });
  registerOperatorRoutes(app, {
    blocklist: deps.blocklist,
    producer: deps.producer,
    prefix: deps.prefix,
    kafka: deps.kafka,
  });
  registerDashboardRoutes(app, { blocklist: deps.blocklist });
  await app.ready();
  return app;
}
