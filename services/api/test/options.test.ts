// The API's environment (options.ts): switches read like every stage service's (switchVariable),
// numbers like theirs (wholeNumber), and a bad value stops `edgeguard run api` with exit code 2.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { apiOptions } from '../src/options.js';

const SWITCHES = [
  ['EDGEGUARD_API_REQUIRE_KEYS', 'requireKeys'],
  ['EDGEGUARD_API_SWEEPER', 'sweeper'],
] as const;

describe('API switches', () => {
  for (const [variable, field] of SWITCHES) {
    it(`${variable} takes 1/on/true/yes and 0/off/false/no in any case; default off`, () => {
      assert.equal(apiOptions({})[field], false);
      assert.equal(apiOptions({ [variable]: '' })[field], false);
      for (const on of ['1', 'on', 'true', 'yes', 'TRUE', 'Yes', ' on '])
        assert.equal(apiOptions({ [variable]: on })[field], true, on);
      for (const off of ['0', 'off', 'false', 'no', 'NO'])
        assert.equal(apiOptions({ [variable]: off })[field], false, off);
    });

    it(`${variable}: a typo is refused naming the variable, never read as off`, () => {
      for (const typo of ['ture', 'y', '2', 'enabled'])
        assert.throws(
          () => apiOptions({ [variable]: typo }),
          (error: Error & { reason?: string }) =>
            error.message ===
              `${variable} must be on or off (1/0, true/false, yes/no), not ${JSON.stringify(typo)}` &&
            error.reason === 'bad-config',
          typo,
        );
    });
  }
});

describe('API numbers', () => {
  it('refuses what is not a plain whole number (it took 1e3, 0x10 and 12.0)', () => {
    for (const text of ['1e3', '0x10', '12.0', ' 12', '-1', 'abc'])
      assert.throws(
        () => apiOptions({ EDGEGUARD_API_RATE_LIMIT: text }),
        new RegExp(
          `^BadInput: EDGEGUARD_API_RATE_LIMIT must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, not "${text.replace('.', '\\.')}"$`,
        ),
        text,
      );
  });

  it('bounds the port like EDGEGUARD_HEALTH_PORT: 0 to 65535, default 8080', () => {
    assert.equal(apiOptions({}).port, 8080);
    assert.equal(apiOptions({ EDGEGUARD_API_PORT: '0' }).port, 0);
    assert.equal(apiOptions({ EDGEGUARD_API_PORT: '65535' }).port, 65_535);
    assert.throws(
      () => apiOptions({ EDGEGUARD_API_PORT: '65536' }),
      /^BadInput: EDGEGUARD_API_PORT must be a whole number from 0 to 65535, not "65536"$/,
    );
  });

  it('keeps each minimum: streams, tombstones and their age at least 1', () => {
    for (const variable of [
      'EDGEGUARD_API_MAX_STREAMS',
      'EDGEGUARD_API_MAX_STREAMS_PER_KEY',
      'EDGEGUARD_API_TOMBSTONES',
      'EDGEGUARD_API_TOMBSTONE_MAX_AGE_MS',
    ])
      assert.throws(
        () => apiOptions({ [variable]: '0' }),
        new RegExp(`^BadInput: ${variable} must be a whole number from 1 to`),
        variable,
      );
  });
});

describe('edgeguard run api with a bad variable', () => {
  const cli = fileURLToPath(new URL('../../../packages/cli/bin/edgeguard.js', import.meta.url));
  for (const [variable, value] of [
    ['EDGEGUARD_API_REQUIRE_KEYS', 'ture'],
    ['EDGEGUARD_API_SWEEPER', 'yes please'],
    ['EDGEGUARD_API_PORT', '99999'],
  ]) {
    it(`exits 2 with one line naming ${variable} before connecting anywhere`, () => {
      // Loopback on a free port, own prefix, nothing listening at Redis/Kafka's addresses: the old
      // code started (and was killed by the timeout: status null).
      const run = spawnSync(process.execPath, [cli, 'run', 'api'], {
        env: {
          PATH: process.env.PATH,
          [variable]: value,
          EDGEGUARD_API_HOST: '127.0.0.1',
          EDGEGUARD_API_PORT: variable === 'EDGEGUARD_API_PORT' ? value : '0',
          EDGEGUARD_TOPIC_PREFIX: `test.apiopts.${process.pid}.`,
          REDIS_URL: 'redis://127.0.0.1:1',
          KAFKA_BROKERS: '127.0.0.1:1',
          LOG_LEVEL: 'silent',
        },
        encoding: 'utf8',
        timeout: 10_000,
        killSignal: 'SIGKILL',
      });
      assert.equal(run.status, 2, `status ${run.status}, stderr ${run.stderr}`);
      const lines = run.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0]!, new RegExp(`^edgeguard run: ${variable} must be `));
      assert.ok(lines[0]!.includes(JSON.stringify(value)), lines[0]);
    });
  }
});
