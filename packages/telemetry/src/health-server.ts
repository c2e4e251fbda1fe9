import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

export interface HealthOptions {
  port: number;
  host?: string;
  metrics: Metrics;
  /** Liveness: the process is not wedged (default: always true while it serves). */
  live?: () => boolean;
  /** Readiness: connected and assigned; a reason string when not ready. */
  ready: () => true | string;
}

/** The server's paths; anything else is 404 whatever the method. */
const ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * `/healthz` (liveness), `/readyz` (readiness, 503 with the reason when not ready) and `/metrics`
 * (Prometheus). Three fixed routes need no framework. GET and HEAD (the same status and headers,
 * `content-length` included, without the body: RFC 9110 §9.3.2) answer; another method on them is
 * 405 with `Allow: GET, HEAD`; any other path is 404.
 */
export async function startHealthServer(
  options: HealthOptions,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    // Node sends no body for HEAD (res.end's data is dropped); the length says what GET would send.
    const send = (status: number, contentType: string, body: string, headers: Record<string, string> = {}) =>
      res
        .writeHead(status, {
          'content-type': contentType,
          'content-length': Buffer.byteLength(body),
          ...headers,
        })
        .end(body);
    if (!ROUTES.has(path)) {
      send(404, 'text/plain', 'not found\n');
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain', 'method not allowed: GET or HEAD\n', { allow: 'GET, HEAD' });
    } else if (path === '/healthz') {
      const ok = options.live ? options.live() : true;
      send(ok ? 200 : 503, 'text/plain', ok ? 'ok\n' : 'not live\n');
    } else if (path === '/readyz') {
      const ready = options.ready();
      send(ready === true ? 200 : 503, 'text/plain', ready === true ? 'ready\n' : `${ready}\n`);
    } else {
      options.metrics.text().then(
        (text) => send(200, options.metrics.registry.contentType, text),
        (error: Error) => send(500, 'text/plain', `${error.message}\n`),
      );
    }
  });
  const host = options.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    // "listen EADDRINUSE: address already in use 0.0.0.0:9464" named neither what listens nor
    // the variable that moves it (two services on one host need one port each).
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.message.replace(/^listen [A-Z]+: /, '').replace(/ \S+:\d+$/, '');
      reject(
        Object.assign(
          new Error(
            `cannot serve /healthz, /readyz and /metrics on ${host}:${options.port} (EDGEGUARD_HEALTH_PORT): ${why}${error.code ? ` (${error.code})` : ''}`,
          ),
          { code: error.code },
        ),
      );
    });
    server.listen(options.port, host, resolve);
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
