// The operator's Redis-backed commands when Redis cannot be reached: one clear line, exit 1, no
// hang, and the URL's password never printed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { redactUrl } from '@edgeguard/kafka';

const bin = new URL('../bin/edgeguard.js', import.meta.url).pathname;
// Port 1 on loopback: nothing listens there, the connection is refused at once.
const unreachable = 'redis://:s3cret-pass@127.0.0.1:1/0';

describe('edgeguard keys|decisions without Redis', () => {
  for (const args of [
    ['keys', 'list'],
    ['decisions', 'list'],
  ])
    it(`${args.join(' ')}: exits 1 with the URL redacted`, () => {
      const run = spawnSync(process.execPath, [bin, ...args], {
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, REDIS_URL: unreachable, LOG_LEVEL: 'silent' },
      });
      assert.equal(run.signal, null, 'finished on its own (no reconnect loop)');
      assert.equal(run.status, 1, run.stderr);
      // The socket's reason, not ioredis' bare "Connection is closed.".
      assert.match(run.stderr, /Redis unreachable at redis:\/\/:\*\*\*@127\.0\.0\.1:1\/0: .*ECONNREFUSED/);
      assert.doesNotMatch(run.stderr + run.stdout, /s3cret/);
    });

  it('redacts only the password of a URL', () => {
    assert.equal(redactUrl('redis://user:pw@host:6379/2'), 'redis://user:***@host:6379/2');
    assert.equal(redactUrl('rediss://:pw@host'), 'rediss://:***@host');
    assert.equal(redactUrl('redis://host:6379'), 'redis://host:6379');
    assert.equal(redactUrl('redis://user@host'), 'redis://user@host');
    assert.equal(
      redactUrl('redis://u:my@s3cret@host:6379'),
      'redis://u:***@host:6379',
      'an @ in the password',
    );
    assert.equal(
      redactUrl('redis://127.0.0.1:1?password=s3cret&db=2'),
      'redis://127.0.0.1:1?password=***&db=2',
    );
    assert.doesNotMatch(redactUrl('not a url s3cret'), /s3cret/);
  });
});
