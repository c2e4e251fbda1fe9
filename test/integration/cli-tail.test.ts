// `edgeguard tail`, `topics` and the other one-shot commands as an operator uses them from a shell:
// `tail | head` ends quietly, a stop or a start while the broker cannot be reached does not hang,
// and bad counts are refused up front.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { kafkaEnvironment } from '@edgeguard/kafka';
import { Kafka, logLevel } from 'kafkajs';
import { bin, edgeguard, uniquePrefix } from './support/services.js';

describe('edgeguard tail and topics from a shell', { timeout: 120_000 }, () => {
  it('tail whose reader went away (tail | head): exits 0 without a stack trace at its next line', async () => {
    const prefix = uniquePrefix('cli-tail');
    const env = { EDGEGUARD_TOPIC_PREFIX: prefix };
    assert.equal(edgeguard(['topics', 'ensure', '--partitions', '1'], env).code, 0);
    const child = spawn(
      process.execPath,
      [bin, 'tail', '--topic', 'decisions', '--from-beginning', '--idle-exit', '60'],
      {
        env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    child.stdout!.destroy(); // the reader is gone before the first line: that write gets EPIPE
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const started = Date.now();
    const added = edgeguard(
      ['decisions', 'add', '--ip', '192.0.2.1', '--action', 'block', '--duration', '1h', '--reason', 'test'],
      env,
    );
    assert.equal(added.code, 0, added.stderr);
    const code = await exited;
    assert.equal(code, 0, stderr);
    assert.ok(Date.now() - started < 50_000, 'ended by the closed pipe, not by --idle-exit');
    assert.doesNotMatch(stderr, /EPIPE|Unhandled/);
  });

  it('tail stopped while the broker is unreachable exits within seconds', async () => {
    const child = spawn(process.execPath, [bin, 'tail', '--topic', 'decisions'], {
      env: { ...process.env, KAFKA_BROKERS: '127.0.0.1:1', LOG_LEVEL: 'silent' },
      stdio: 'ignore',
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const stoppedAt = Date.now();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const took = Date.now() - stoppedAt;
    assert.ok(took < 15_000, `exited ${took} ms after SIGINT`);
    assert.equal(code, 130);
  });

  it('tail given a topic with its prefix (copied from the broker) says to drop the prefix', () => {
    const prefix = uniquePrefix('cli-tail-prefixed');
    assert.equal(
      edgeguard(['topics', 'ensure', '--partitions', '1'], { EDGEGUARD_TOPIC_PREFIX: prefix }).code,
      0,
    );
    const run = edgeguard(['tail', '--topic', `${prefix}decisions`, '--idle-exit', '1'], {
      EDGEGUARD_TOPIC_PREFIX: prefix,
    });
    assert.equal(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`name the topic without the prefix '${prefix.replace(/\./g, '\\.')}', as --topic decisions`),
    );
  });

  it('topics ensure refuses --partitions 0 and counts that are not whole numbers before touching the broker', () => {
    for (const [flag, value] of [
      ['--partitions', '0'],
      ['--partitions', '1e3'],
      ['--replication-factor', '0'],
      ['--partitions', '2.5'],
    ] as const) {
      const run = edgeguard(['topics', 'ensure', flag, value], {
        KAFKA_BROKERS: '127.0.0.1:1',
        EDGEGUARD_TOPIC_PREFIX: uniquePrefix('cli-topics'),
      });
      assert.equal(run.code, 2, `${flag} ${value}: ${run.stderr}`);
      assert.match(
        run.stderr,
        new RegExp(`${flag}: expected a whole number ≥ 1, got '${value.replace('.', '\\.')}'`),
      );
    }
  });

  it('one-shot commands fail within EDGEGUARD_STARTUP_TIMEOUT_MS naming Kafka when no broker answers', () => {
    // (decisions and allowlist retry less, for an operator at the prompt: they may fail sooner.)
    for (const args of [
      ['lag'],
      ['topics', 'ensure'],
      ['tail', '--topic', 'decisions'],
      ['ship', '-'],
      ['decisions', 'add', '--ip', '192.0.2.1', '--action', 'block', '--duration', '1h', '--reason', 'x'],
    ]) {
      const started = Date.now();
      // LOG_LEVEL unset, as an operator runs them.
      const run = edgeguard(
        args,
        { KAFKA_BROKERS: '127.0.0.1:1', EDGEGUARD_STARTUP_TIMEOUT_MS: '2000', LOG_LEVEL: '' },
        '',
        60_000,
      );
      const took = Date.now() - started;
      assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
      assert.match(
        run.stderr,
        /Kafka at 127\.0\.0\.1:1 \(KAFKA_BROKERS\)( did not answer within 2 s \(last error: |: )Connection error: connect ECONNREFUSED 127\.0\.0\.1:1/,
        args.join(' '),
      );
      // The one-shot operator commands say it in that one line: no kafkajs retry log, no stacks.
      // (ship logs as the shipper service does.)
      if (args[0] !== 'ship')
        assert.match(run.stderr, /^edgeguard \S+: Kafka at [^\n]*\n$/, `${args.join(' ')}: ${run.stderr}`);
      assert.ok(took < 20_000, `${args.join(' ')} took ${took} ms`);
    }
  });

  it("lag lists its own deployment's groups, not those of a prefix that extends it", async () => {
    const prefix = uniquePrefix('cli-lag');
    const env = { EDGEGUARD_TOPIC_PREFIX: prefix };
    assert.equal(edgeguard(['topics', 'ensure', '--partitions', '1'], env).code, 0);
    const kafka = new Kafka({ brokers: kafkaEnvironment().brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const topic = `${prefix}decisions`;
      for (const group of [`${prefix}decider`, `${prefix}staging.decider`])
        await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '0' }] });
    } finally {
      await admin.disconnect();
    }
    const lag = edgeguard(['lag', '--json'], env);
    assert.equal(lag.code, 0, lag.stderr);
    const groups = new Set(
      lag.stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { group: string }).group),
    );
    assert.deepEqual([...groups], [`${prefix}decider`]);
  });
});
