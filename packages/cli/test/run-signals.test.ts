// `edgeguard run <service>` stopped while the CLI still loads the service's modules (about a
// second): it died by the signal (exit 143/130) and no line said why. Now one log line, exit 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';

const bin = new URL('../bin/edgeguard.js', import.meta.url).pathname;

// Preloaded into the CLI: says on stdout, once the code that added the first SIGTERM listener has
// run on, that the CLI listens, so the signal is sent right after (and never before: Node's default
// would kill it).
const hook = `data:text/javascript,${encodeURIComponent(
  "import { writeSync } from 'node:fs'; process.on('newListener', (e) => { if (e === 'SIGTERM') setImmediate(() => writeSync(1, 'listening\\n')); });",
)}`;

/** `edgeguard run ...args`, signalled as soon as it listens for SIGTERM; its exit and stderr. */
async function signalWhileLoading(signal: NodeJS.Signals, args: string[]) {
  const child = spawn(process.execPath, ['--import', hook, bin, 'run', ...args], {
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      // Nothing answers there: a service that got as far as connecting would log its attempts.
      KAFKA_BROKERS: '127.0.0.1:1',
      REDIS_URL: 'redis://127.0.0.1:1',
      EDGEGUARD_HEALTH_PORT: '0',
      EDGEGUARD_API_PORT: '0',
      EDGEGUARD_TOPIC_PREFIX: 'sig-cli-test.',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let signalled = 0;
  child.stdout.once('data', () => {
    signalled = Date.now();
    child.kill(signal);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const { code, signal: killedBy } = await exited;
  clearTimeout(timer);
  return { code, killedBy, stderr, ms: Date.now() - signalled, signalled: signalled > 0 };
}

describe('edgeguard run: a stop signal while the CLI still loads', { timeout: 90_000 }, () => {
  for (const [signal, service, args] of [
    ['SIGTERM', 'profiler', ['profiler']],
    ['SIGINT', 'decider', ['decider']],
    ['SIGTERM', 'api', ['api']],
    ['SIGTERM', 'shipper', ['shipper', '--follow', '/nonexistent/access.log']],
  ] as const) {
    it(`${signal} to run ${service}: one line saying so, exit 0, nothing connected`, async () => {
      const result = await signalWhileLoading(signal, [...args]);
      assert.ok(result.signalled, `never listened for SIGTERM: ${result.stderr}`);
      assert.equal(result.killedBy, null, result.stderr);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(result.ms < 5_000, `exited ${result.ms} ms after ${signal}`);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      const line = JSON.parse(lines[0]!) as Record<string, unknown>;
      assert.equal(line.msg, 'stopped while starting: nothing connected yet, exiting');
      assert.equal(line.signal, signal);
      assert.equal(line.service, service);
      assert.equal(line.level, 30);
    });
  }
});
