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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', resolve);
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
