// Helpers for the API integration tests: a real `edgeguard run api` process, keys made with the
// real `edgeguard keys` command, decisions written with the real store, SSE read with fetch.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { DecisionStore } from '@edgeguard/decisions';
import type { Decision } from '@edgeguard/schema';
import { Redis } from 'ioredis';
import { bin, edgeguard, freePort } from './services.js';

export interface RunningApi {
  url: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** Starts `edgeguard run api` on a free loopback port and waits for /readyz. */
export async function startApi(env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<RunningApi> {
  const port = await freePort();
  const child = spawn(process.execPath, [bin, 'run', 'api'], {
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      ...env,
      EDGEGUARD_API_PORT: String(port),
      EDGEGUARD_API_HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (d) => {
    log = (log + d).slice(-50_000);
  });
  child.stderr?.on('data', (d) => {
    log = (log + d).slice(-50_000);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`api exited with ${child.exitCode}:\n${log}`);
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { url, child, output: () => log, stop };
    await sleep(200);
  }
  child.kill('SIGKILL');
  throw new Error(`api not ready within ${timeoutMs} ms:\n${log}`);
}

/** `edgeguard keys create`; returns the printed key. */
export function createKey(env: NodeJS.ProcessEnv, name: string, scope: 'bouncer' | 'admin'): string {
  const run = edgeguard(['keys', 'create', '--scope', scope, '--name', name], env);
  assert.equal(run.code, 0, run.stderr);
  const key = run.stdout.trim();
  assert.match(key, /^eg_[A-Za-z0-9_-]{43}$/);
  return key;
}

export function openStore(prefix: string): { store: DecisionStore; redis: Redis } {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  return { store: new DecisionStore({ redis, prefix }), redis };
}

/**
 * Deletes every Redis key this test created under its prefix (never anyone else's): the store's
 * (`bl`) and the API's (`api`), or only those named.
 */
export async function dropPrefix(redis: Redis, prefix: string, parts = ['bl', 'api']): Promise<void> {
  for (const tag of parts.map((part) => `{${prefix}${part}}`)) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${tag}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  }
}

let version = 1;
export function decision(
  scope: 'ip' | 'range' | 'fingerprint',
  value: string,
  overrides: Partial<Decision> = {},
): Decision {
  const now = Date.now();
  return {
    key: `${scope === 'fingerprint' ? 'fp' : scope}:${value}`,
    scope,
    value,
    action: 'block',
    reason: 'scanner',
    signals: [{ name: 'probes', value: 12, threshold: 5 }],
    score: 0.9,
    decidedAt: now,
    expiresAt: now + 3_600_000,
    origin: 'auto',
    version: version++,
    ...overrides,
  };
}

export interface SseEvent {
  event: string;
  id?: string;
  data: unknown;
  at: number;
}

/** An open SSE stream: events as they arrive (with arrival time). */
export function openEvents(url: string, headers: Record<string, string>) {
  const abort = new AbortController();
  const events: SseEvent[] = [];
  let status = 0;
  const done = (async () => {
    const response = await fetch(url, { headers, signal: abort.signal });
    status = response.status;
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        const event: Partial<SseEvent> = { at: Date.now() };
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event.event = line.slice(7);
          else if (line.startsWith('id: ')) event.id = line.slice(4);
          else if (line.startsWith('data: ')) event.data = JSON.parse(line.slice(6));
        }
        if (event.event) events.push(event as SseEvent);
      }
    }
  })().catch((error: Error) => {
    if (error.name !== 'AbortError') throw error;
  });
  return {
    events,
    status: () => status,
    close: () => abort.abort(),
    done,
    async waitFor(predicate: (events: SseEvent[]) => boolean, timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(events)) {
        if (Date.now() > deadline) throw new Error(`SSE: timed out; got ${JSON.stringify(events)}`);
        await sleep(5);
      }
    },
  };
}
