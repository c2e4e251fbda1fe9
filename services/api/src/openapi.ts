import type { FastifyInstance, RouteOptions } from 'fastify';

interface RouteDoc {
  methods: string[];
  url: string;
  scope: string;
  schema: Record<string, unknown>;
}

const ERROR = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ERROR } },
});

/**
 * Collects every route as it is registered (method, URL, scope, JSON schemas) so /openapi.json is
 * generated from the same schemas that validate requests: a route cannot be missing from it.
 */
export class OpenApiCollector {
  private readonly routes: RouteDoc[] = [];

  attach(app: FastifyInstance): void {
    app.addHook('onRoute', (route: RouteOptions) => {
      const methods = (Array.isArray(route.method) ? route.method : [route.method]).map(String);
      const config = (route.config ?? {}) as { scope?: string };
      this.routes.push({
        methods,
        url: route.url,
        scope: config.scope ?? 'public',
        schema: (route.schema ?? {}) as Record<string, unknown>,
      });
    });
  }

  document(version: string): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const route of this.routes) {
      const query = route.schema.querystring as
        | { properties?: Record<string, Record<string, unknown>>; required?: string[] }
        | undefined;
      const parameters = Object.entries(query?.properties ?? {}).map(([name, schema]) => {
        const { description, ...rest } = schema;
        return {
          name,
          in: 'query',
          required: query?.required?.includes(name) ?? false,
          ...(description ? { description } : {}),
          schema: rest,
        };
      });
      const secured = route.scope !== 'public';
      const operation: Record<string, unknown> = {
        summary: route.schema.summary ?? route.url,
        tags: route.schema.tags ?? ['service'],
        ...(secured
          ? { security: [{ apiKey: [] }, { bearer: [] }], 'x-scope': route.scope }
          : { security: [] }),
        ...(parameters.length ? { parameters } : {}),
        ...(route.schema.body
          ? {
              requestBody: { required: true, content: { 'application/json': { schema: route.schema.body } } },
            }
          : {}),
        responses: {
          '200': { description: 'OK (shapes in docs/API.md)' },
          ...(route.methods.includes('POST') ||
          route.methods.includes('PATCH') ||
          route.methods.includes('DELETE')
            ? { '202': { description: 'Accepted: produced to Kafka' } }
            : {}),
          '400': errorResponse('Malformed request'),
          ...(route.schema.body
            ? {
                '413': errorResponse('Body larger than 16 KiB'),
                '415': errorResponse(
                  'Body not application/json (text/plain included), or compressed (Content-Encoding other than identity)',
                ),
              }
            : {}),
          ...(secured
            ? {
                '401': errorResponse('Missing, unknown or revoked key'),
                '403': errorResponse('The key’s scope does not allow this'),
                '429': errorResponse(
                  route.url.endsWith('/events')
                    ? 'Rate limit of the key exceeded, or the key holds EDGEGUARD_API_MAX_STREAMS_PER_KEY event streams (too-many-streams-for-key); Retry-After says when to retry'
                    : 'Rate limit of the key exceeded (Retry-After says when to retry)',
                ),
              }
            : {}),
          ...(route.url.endsWith('/events')
            ? { '503': errorResponse('The process serves EDGEGUARD_API_MAX_STREAMS event streams already') }
            : {}),
        },
      };
      paths[route.url] ??= {};
      const path = paths[route.url]!;
      for (const method of route.methods) path[method.toLowerCase()] = operation;
    }
    return {
      openapi: '3.1.0',
      info: {
        title: 'edgeguard API',
        version,
        description:
          'CrowdSec bouncer protocol under /v1, native blocklist / cache-policy / operator API under /api. See docs/API.md.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
        schemas: {
          Error: {
            type: 'object',
            required: ['error', 'message'],
            properties: { error: { type: 'string' }, message: { type: 'string' } },
          },
        },
      },
      paths,
    };
  }
}
