import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metrics, startHealthServer } from '../src/index.js';

describe('health and metrics endpoints', () => {
  it('answers liveness, readiness with its reason, and Prometheus metrics', async () => {
    const metrics = new Metrics('test');
    const events = metrics.counter('edgeguard_events_total', 'events processed', ['topic']);
    events.inc({ topic: 'access-logs' }, 42);
    let ready: true | string = 'waiting for partition assignment';
    const health = await startHealthServer({ port: 0, host: '127.0.0.1', metrics, ready: () => ready });
    try {
      const base = `http://127.0.0.1:${health.port}`;
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      const notReady = await fetch(`${base}/readyz`);
      assert.equal(notReady.status, 503);
      assert.match(await notReady.text(), /waiting for partition assignment/);
      ready = true;
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      const text = await (await fetch(`${base}/metrics`)).text();
      assert.match(text, /edgeguard_events_total\{topic="access-logs",service="test"\} 42/);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
      assert.equal((await fetch(`${base}/healthz`, { method: 'POST' })).status, 405);
    } finally {
      await health.close();
    }
  });

  it('names the endpoints, the address and EDGEGUARD_HEALTH_PORT when the port is taken', async () => {
    const metrics = new Metrics('test-taken');
    const first = await startHealthServer({ port: 0, host: '127.0.0.1', metrics, ready: () => true });
    try {
      await assert.rejects(
        startHealthServer({ port: first.port, host: '127.0.0.1', metrics, ready: () => true }),
        {
          code: 'EADDRINUSE',
          message: `cannot serve /healthz, /readyz and /metrics on 127.0.0.1:${first.port} (EDGEGUARD_HEALTH_PORT): address already in use (EADDRINUSE)`,
        },
      );
    } finally {
      await first.close();
    }
  });

  it('returns the same metric when asked twice by name', () => {
    const metrics = new Metrics('test2');
    assert.equal(
      metrics.gauge('edgeguard_state_entries', 'x'),
      metrics.gauge('edgeguard_state_entries', 'x'),
    );
  });
});
