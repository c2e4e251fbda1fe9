// Fine-grained waiting for the edge tests: `eventually` (services.ts) polls every 500 ms, too coarse
// to time a push that takes milliseconds.
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `check` every 2 ms until it holds; returns the ms waited, or fails after `timeoutMs`. */
export async function waitUntil(what: string, check: () => boolean, timeoutMs = 20_000): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
  return Date.now() - started;
}
