import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadInput } from '@edgeguard/schema';
import { checkRedisUrl, kafkaEnvironment } from '../src/environment.js';
import {
  checkServiceEnvironment,
  ensureTopicsAtStart,
  healthPort,
  maxInFlightBytes,
  redisTimeoutMs,
  stageWorkers,
  startupTimeoutMs,
  stopTimeoutMs,
  switchVariable,
} from '../src/stage-service.js';

describe('EDGEGUARD_WORKERS (stage worker threads)', () => {
  it('defaults to the main thread alone', () => {
    assert.equal(stageWorkers({}), 0);
    assert.equal(stageWorkers({ EDGEGUARD_WORKERS: '' }), 0);
  });

  it('takes a whole number from 0 to 64', () => {
    assert.equal(stageWorkers({ EDGEGUARD_WORKERS: '2' }), 2);
    assert.equal(stageWorkers({ EDGEGUARD_WORKERS: '64' }), 64);
  });

  it('rejects anything else, naming the variable', () => {
    for (const bad of ['-1', '1.5', 'two', '65', ' 2'])
      assert.throws(
        () => stageWorkers({ EDGEGUARD_WORKERS: bad }),
        (error: unknown) => error instanceof BadInput && /EDGEGUARD_WORKERS/.test(error.message),
        bad,
      );
  });
});

describe('EDGEGUARD_MAX_IN_FLIGHT_BYTES (unacknowledged outputs)', () => {
  it("defaults to the runner's own bound", () => {
    assert.equal(maxInFlightBytes({}), undefined);
    assert.equal(maxInFlightBytes({ EDGEGUARD_MAX_IN_FLIGHT_BYTES: '' }), undefined);
  });

  it('takes a whole number of bytes, 0 for no overlap', () => {
    assert.equal(maxInFlightBytes({ EDGEGUARD_MAX_IN_FLIGHT_BYTES: '0' }), 0);
    assert.equal(maxInFlightBytes({ EDGEGUARD_MAX_IN_FLIGHT_BYTES: '8388608' }), 8388608);
  });

  it('rejects anything else, naming the variable', () => {
    for (const bad of ['-1', '8M', '1e6', String(2 ** 31)])
      assert.throws(
        () => maxInFlightBytes({ EDGEGUARD_MAX_IN_FLIGHT_BYTES: bad }),
        (error: unknown) => error instanceof BadInput && /EDGEGUARD_MAX_IN_FLIGHT_BYTES/.test(error.message),
        bad,
      );
  });
});

describe('EDGEGUARD_REDIS_TIMEOUT_MS and EDGEGUARD_STOP_TIMEOUT_MS', () => {
  it('default to 5 s and 30 s', () => {
    assert.equal(redisTimeoutMs({}), 5_000);
    assert.equal(stopTimeoutMs({ EDGEGUARD_STOP_TIMEOUT_MS: '' }), 30_000);
  });

  it('take a whole number of milliseconds', () => {
    assert.equal(redisTimeoutMs({ EDGEGUARD_REDIS_TIMEOUT_MS: '1000' }), 1_000);
    assert.equal(stopTimeoutMs({ EDGEGUARD_STOP_TIMEOUT_MS: '60000' }), 60_000);
  });

  it('reject anything else, naming the variable', () => {
    for (const bad of ['-1', '5s', '1e3'])
      assert.throws(
        () => redisTimeoutMs({ EDGEGUARD_REDIS_TIMEOUT_MS: bad }),
        (error: unknown) => error instanceof BadInput && /EDGEGUARD_REDIS_TIMEOUT_MS/.test(error.message),
        bad,
      );
  });
});

describe('EDGEGUARD_HEALTH_PORT', () => {
  it('defaults to 9464 and takes 0 (any free port) to 65535', () => {
    assert.equal(healthPort({}), 9464);
    assert.equal(healthPort({ EDGEGUARD_HEALTH_PORT: '0' }), 0);
    assert.equal(healthPort({ EDGEGUARD_HEALTH_PORT: '65535' }), 65535);
  });

  it('rejects anything else, naming the variable', () => {
    for (const bad of ['abc', '99999', '-1', '80 '])
      assert.throws(
        () => healthPort({ EDGEGUARD_HEALTH_PORT: bad }),
        (error: unknown) => error instanceof BadInput && /EDGEGUARD_HEALTH_PORT/.test(error.message),
        bad,
      );
  });
});

describe('a stage service checks its whole environment before connecting', () => {
  it('refuses any bad variable, naming it (the stop timeout was read only once running)', () => {
    assert.doesNotThrow(() => checkServiceEnvironment({}));
    for (const name of [
      'EDGEGUARD_HEALTH_PORT',
      'EDGEGUARD_WORKERS',
      'EDGEGUARD_MAX_IN_FLIGHT_BYTES',
      'EDGEGUARD_REDIS_TIMEOUT_MS',
      'EDGEGUARD_STOP_TIMEOUT_MS',
      'EDGEGUARD_STARTUP_TIMEOUT_MS',
      'EDGEGUARD_ENSURE_TOPICS',
    ])
      assert.throws(
        () => checkServiceEnvironment({ [name]: '-1' }),
        (error: unknown) => error instanceof BadInput && error.message.includes(name),
        name,
      );
  });
});

describe('KAFKA_BROKERS', () => {
  it('defaults to 127.0.0.1:9092 and takes a comma-separated list of host:port', () => {
    assert.deepEqual(kafkaEnvironment({}).brokers, ['127.0.0.1:9092']);
    // Empty is unset (a compose file's `KAFKA_BROKERS=`).
    assert.deepEqual(kafkaEnvironment({ KAFKA_BROKERS: '' }).brokers, ['127.0.0.1:9092']);
    assert.deepEqual(kafkaEnvironment({ KAFKA_BROKERS: 'a:9092, b.example:19092,' }).brokers, [
      'a:9092',
      'b.example:19092',
    ]);
  });

  it('refuses an empty list or an entry that is not host:port, naming the variable and the entry', () => {
    for (const [bad, entry] of [
      [' , ', ''],
      ['garbage', 'garbage'],
      ['127.0.0.1:notaport', '127.0.0.1:notaport'],
      ['a:9092,b:99999', 'b:99999'],
      [':9092', ':9092'],
    ])
      assert.throws(
        () => kafkaEnvironment({ KAFKA_BROKERS: bad }),
        (error: unknown) =>
          error instanceof BadInput && /^KAFKA_BROKERS/.test(error.message) && error.message.includes(entry),
        bad,
      );
  });
});

describe('on/off variables (EDGEGUARD_ENSURE_TOPICS, EDGEGUARD_DECISION_STORE)', () => {
  it('take 1/0, on/off, true/false, yes/no in any case; unset or empty is the default', () => {
    assert.equal(ensureTopicsAtStart({}), false);
    assert.equal(ensureTopicsAtStart({ EDGEGUARD_ENSURE_TOPICS: '' }), false);
    for (const on of ['1', 'on', 'TRUE', 'yes', ' Yes '])
      assert.equal(ensureTopicsAtStart({ EDGEGUARD_ENSURE_TOPICS: on }), true, on);
    for (const off of ['0', 'off', 'False', 'no'])
      assert.equal(
        switchVariable({ EDGEGUARD_DECISION_STORE: off }, 'EDGEGUARD_DECISION_STORE', true),
        false,
        off,
      );
    assert.equal(switchVariable({}, 'EDGEGUARD_DECISION_STORE', true), true);
  });

  it('refuse anything else, naming the variable (a typo silently kept the default)', () => {
    for (const bad of ['maybe', 'of', '2', 'enabled'])
      assert.throws(
        () => ensureTopicsAtStart({ EDGEGUARD_ENSURE_TOPICS: bad }),
        (error: unknown) =>
          error instanceof BadInput && error.message.includes(`EDGEGUARD_ENSURE_TOPICS must be on or off`),
        bad,
      );
  });
});

describe('EDGEGUARD_TOPIC_PREFIX', () => {
  it("takes Kafka's topic characters, empty included", () => {
    assert.equal(kafkaEnvironment({}).topicPrefix, 'edgeguard.');
    assert.equal(kafkaEnvironment({ EDGEGUARD_TOPIC_PREFIX: '' }).topicPrefix, '');
    assert.equal(kafkaEnvironment({ EDGEGUARD_TOPIC_PREFIX: 'prod_eu-1.' }).topicPrefix, 'prod_eu-1.');
  });

  it('refuses anything else, naming the variable (the broker said only "Topic creation errors")', () => {
    for (const bad of ['qa qasvc.', 'prod/', 'prod:', 'é.', 'x'.repeat(201)])
      assert.throws(
        () => kafkaEnvironment({ EDGEGUARD_TOPIC_PREFIX: bad }),
        (error: unknown) =>
          error instanceof BadInput && /^EDGEGUARD_TOPIC_PREFIX must be/.test(error.message),
        bad,
      );
  });
});

describe('REDIS_URL', () => {
  it('takes redis:// and rediss:// URLs and socket paths', () => {
    for (const good of [
      'redis://127.0.0.1:6379',
      'redis://:secret@redis.internal:6380/2',
      'rediss://user:pw@cache.example',
      '/run/redis/redis.sock',
    ])
      assert.doesNotThrow(() => checkRedisUrl(good), good);
  });

  it('refuses anything else naming the variable, without repeating a password', () => {
    for (const bad of [
      'http://127.0.0.1:6379',
      'redis://127.0.0.1:99999',
      '127.0.0.1:6379',
      'redis://:hunter2@',
      'redis://:hunter2/x@redis:99999',
      'redis://user:p@hunter2@redis:99999',
      'user:hunter2@redis:6379',
    ])
      assert.throws(
        () => checkRedisUrl(bad),
        (error: unknown) =>
          error instanceof BadInput &&
          /^REDIS_URL must be redis:\/\//.test(error.message) &&
          !error.message.includes('hunter2'),
        bad,
      );
  });
});

describe('the timeouts refuse 0 (it read as "no limit" and meant 1 ms: every start, stop or Redis command failed)', () => {
  it('EDGEGUARD_REDIS_TIMEOUT_MS, EDGEGUARD_STOP_TIMEOUT_MS and EDGEGUARD_STARTUP_TIMEOUT_MS take 1 and up', () => {
    for (const name of [
      'EDGEGUARD_REDIS_TIMEOUT_MS',
      'EDGEGUARD_STOP_TIMEOUT_MS',
      'EDGEGUARD_STARTUP_TIMEOUT_MS',
    ]) {
      assert.throws(
        () => checkServiceEnvironment({ [name]: '0' }),
        (error: unknown) =>
          error instanceof BadInput && error.message.includes(`${name} must be a whole number from 1 to`),
        name,
      );
      assert.doesNotThrow(() => checkServiceEnvironment({ [name]: '1' }), name);
    }
    assert.equal(startupTimeoutMs({ EDGEGUARD_STARTUP_TIMEOUT_MS: '1' }), 1);
  });
});
