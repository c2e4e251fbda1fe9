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
      // Node's process metrics under edgeguard_process_* / edgeguard_nodejs_*, the prefix once.
      assert.match(text, /^edgeguard_process_cpu_seconds_total\{service="test"\} /m);
      assert.match(text, /^edgeguard_nodejs_heap_size_used_bytes\{service="test"\} /m);
      assert.doesNotMatch(text, /process_process|process_nodejs/);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
    } finally {
      await health.close();
    }
  });

  it('answers HEAD like GET without the body (probes and load balancers use HEAD)', async () => {
    const metrics = new Metrics('test-head');
    metrics.counter('edgeguard_events_total', 'events processed', ['topic']).inc({ topic: 'access-logs' });
    let ready: true | string = 'waiting for partition assignment';
    const health = await startHealthServer({ port: 0, host: '127.0.0.1', metrics, ready: () => ready });
    try {
      const base = `http://127.0.0.1:${health.port}`;
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        for (const state of ['not ready', 'ready']) {
          ready = state === 'ready' ? true : 'waiting for partition assignment';
          const get = await fetch(base + path);
          const body = await get.text();
          const head = await fetch(base + path, { method: 'HEAD' });
          const what = `HEAD ${path} (${state})`;
          assert.equal(head.status, get.status, what);
          assert.equal(head.headers.get('content-type'), get.headers.get('content-type'), what);
          // The process metrics change between two scrapes: only their length's presence is checked.
          if (path === '/metrics') assert.ok(Number(head.headers.get('content-length')) > 1000, what);
          else assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(body)), what);
          assert.equal(await head.text(), '', what);
        }
      }
      assert.equal((await fetch(`${base}/readyz?verbose=1`, { method: 'HEAD' })).status, 200);
    } finally {
      await health.close();
    }
  });

  it('refuses other methods on its paths with 405 and Allow; other paths are 404 whatever the method', async () => {
    const metrics = new Metrics('test-methods');
    const health = await startHealthServer({ port: 0, host: '127.0.0.1', metrics, ready: () => true });
    try {
      const base = `http://127.0.0.1:${health.port}`;
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
          const response = await fetch(base + path, { method });
          assert.equal(response.status, 405, `${method} ${path}`);
          assert.equal(response.headers.get('allow'), 'GET, HEAD', `${method} ${path}`);
          assert.match(await response.text(), /GET or HEAD/);
        }
      }
      for (const method of ['GET', 'HEAD', 'POST', 'DELETE']) {
        for (const path of ['/', '/nope', '/healthz/', '/metrics/x']) {
          const response = await fetch(base + path, { method });
          assert.equal(response.status, 404, `${method} ${path}`);
          assert.equal(response.headers.get('allow'), null, `${method} ${path}`);
        }
      }
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

describe('counters of known label values', () => {
  it('are on /metrics at 0 before their first event, every combination', async () => {
    const metrics = new Metrics('test-zero');
    metrics.counter('edgeguard_dead_letters_total', 'dead letters', ['stage', 'reason']);
    metrics.countFromZero('edgeguard_dead_letters_total', {
      stage: ['profiler'],
      reason: ['undecodable', 'bad-header'],
    });
    metrics
      .counter('edgeguard_dead_letters_total', 'dead letters')
      .inc({ stage: 'profiler', reason: 'bad-header' });
    metrics.countFromZero('edgeguard_dead_letters_total', { stage: ['profiler'], reason: ['bad-header'] });
    const text = await metrics.text();
    assert.match(
      text,
      /edgeguard_dead_letters_total\{stage="profiler",reason="undecodable",service="test-zero"\} 0\n/,
    );
    // Starting at 0 again does not reset what was counted.
    assert.match(
      text,
      /edgeguard_dead_letters_total\{stage="profiler",reason="bad-header",service="test-zero"\} 1\n/,
    );
    assert.equal(text.match(/^edgeguard_dead_letters_total\{/gm)?.length, 2);
    assert.throws(
      () => metrics.countFromZero('edgeguard_nothing_total', { stage: ['x'] }),
      /not a registered counter/,
    );
  });
});
