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

/**
 * `/healthz` (liveness), `/readyz` (readiness, 503 with the reason when not ready) and `/metrics`
 * (Prometheus). Three fixed routes need no framework; anything else is 404.
 */
export async function startHealthServer(
  options: HealthOptions,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      const ok = options.live ? options.live() : true;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not live\n');
    } else if (path === '/readyz') {
      const ready = options.ready();
      res
        .writeHead(ready === true ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ready === true ? 'ready\n' : `${ready}\n`);
    } else if (path === '/metrics') {
      options.metrics
        .text()
        .then((text) =>
          res.writeHead(200, { 'content-type': options.metrics.registry.contentType }).end(text),
        )
        .catch((error: Error) => res.writeHead(500).end(error.message));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
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
