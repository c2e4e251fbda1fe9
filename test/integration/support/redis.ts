// A private redis-server for tests that make Redis stop answering (SIGSTOP, CLIENT PAUSE): the
// shared one on 6379 is never disturbed.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { eventually, freePort } from './services.js';

/** A private redis-server on a free port (no persistence), answering. Kill `server` when done. */
export async function startRedis(): Promise<{ port: number; server: ChildProcess }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'eg-redis-'));
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  await eventually(
    'the private redis-server to answer',
    async () => ((await client.ping().catch(() => '')) === 'PONG' ? true : undefined),
    20_000,
  );
  client.disconnect();
  return { port, server };
}
