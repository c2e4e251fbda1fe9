// Starting edgeguard's own processes for integration tests: the real `edgeguard` bin, real Kafka,
// real Redis. Every test run gets its own topic prefix, so runs never see each other's data.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const bin = new URL('../../../packages/cli/bin/edgeguard.js', import.meta.url).pathname;

export function uniquePrefix(name: string): string {
  return `egtest.${name}.${Date.now().toString(36)}${randomBytes(3).toString('hex')}.`;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs an edgeguard command to completion (killed after `timeoutMs`: `code` null, `signal` set). */
export function edgeguard(args: string[], env: NodeJS.ProcessEnv, input?: string, timeoutMs?: number) {
  const run = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    input,
    maxBuffer: 256 * 1024 * 1024,
    timeout: timeoutMs,
  });
  return { code: run.status, signal: run.signal, stdout: run.stdout, stderr: run.stderr };
}

export interface RunningService {
  name: string;
  child: ChildProcess;
  healthPort: number;
  output: () => string;
}

/** Starts `edgeguard run <name>` and waits until its /readyz says ready (partitions assigned). */
export async function startService(
  name: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<RunningService> {
  const healthPort = await freePort();
  const child = spawn(process.execPath, [bin, 'run', name], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env, EDGEGUARD_HEALTH_PORT: String(healthPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = process.env.EGTEST_LOGDIR ? 5_000_000 : 20_000;
  child.stdout?.on('data', (d) => {
    log = (log + d).slice(-keep);
  });
  child.stderr?.on('data', (d) => {
    log = (log + d).slice(-keep);
  });
  const service = { name, child, healthPort, output: () => log };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${log}`);
    const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return service;
    await sleep(200);
  }
  child.kill('SIGKILL');
  throw new Error(`${name} not ready within ${timeoutMs} ms:\n${log}`);
}

/** Graceful stop (SIGTERM: finish, checkpoint, commit), or SIGKILL for crash tests. */
export async function stopService(
  service: RunningService,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  if (service.child.exitCode !== null) return service.child.exitCode;
  const exited = new Promise<number | null>((resolve) => service.child.once('exit', (code) => resolve(code)));
  service.child.kill(signal);
  return exited;
}

/**
 * Reads a topic until `done(records)` holds or nothing new arrived for `idleMs` after it
 * stopped changing; returns the decoded records (as `edgeguard tail` prints them).
 */
export function tail(topic: string, env: NodeJS.ProcessEnv, idleSeconds = 3): Record<string, unknown>[] {
  const run = edgeguard(
    ['tail', '--topic', topic, '--from-beginning', '--idle-exit', String(idleSeconds)],
    env,
  );
  if (run.code !== 0) throw new Error(`tail ${topic} failed: ${run.stderr}`);
  return run.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Polls until `check()` returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(500);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
