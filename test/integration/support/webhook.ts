// A real HTTP server standing in for an alert webhook (Slack, Mattermost, a pager's endpoint): it
// records every request and answers with the statuses it is told, 200 once they are used up.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface WebhookRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  status: number;
}

export class WebhookServer {
  readonly requests: WebhookRequest[] = [];
  /** Statuses of the next answers, in order. */
  readonly statuses: number[] = [];
  private server: Server | null = null;

  /** Listens on `port` (0: any free one); resolves to the port. */
  async listen(port = 0): Promise<number> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const status = this.statuses.shift() ?? 200;
        this.requests.push({
          path: req.url ?? '',
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
          status,
        });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  }

  /** The bodies of the requests answered 200. */
  delivered(): Record<string, unknown>[] {
    return this.requests.filter((r) => r.status === 200).map((r) => r.body);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
