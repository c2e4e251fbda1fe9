import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadInput } from '@edgeguard/schema';
import { kafkaEnvironment } from '../src/environment.js';
import {
  healthPort,
  maxInFlightBytes,
  redisTimeoutMs,
  stageWorkers,
  stopTimeoutMs,
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
  it('defaults to 9464, takes 0 to 65535, and names the variable otherwise', () => {
    assert.equal(healthPort({}), 9464);
    assert.equal(healthPort({ EDGEGUARD_HEALTH_PORT: '' }), 9464);
    assert.equal(healthPort({ EDGEGUARD_HEALTH_PORT: '0' }), 0);
    assert.equal(healthPort({ EDGEGUARD_HEALTH_PORT: '9465' }), 9465);
    for (const bad of ['abc', '99999', '-1', '9464.5'])
      assert.throws(
        () => healthPort({ EDGEGUARD_HEALTH_PORT: bad }),
        (error: unknown) =>
          error instanceof BadInput &&
          error.message.startsWith('EDGEGUARD_HEALTH_PORT must be a whole number'),
        bad,
      );
  });
});

describe('KAFKA_BROKERS and EDGEGUARD_TOPIC_PREFIX', () => {
  it('take host:port lists and topic-name characters; empty means the default', () => {
    assert.deepEqual(kafkaEnvironment({}).brokers, ['127.0.0.1:9092']);
    assert.deepEqual(kafkaEnvironment({ KAFKA_BROKERS: '' }).brokers, ['127.0.0.1:9092']);
    assert.deepEqual(kafkaEnvironment({ KAFKA_BROKERS: 'k1:9092, k2.example:19092' }).brokers, [
      'k1:9092',
      'k2.example:19092',
    ]);
    assert.equal(kafkaEnvironment({ EDGEGUARD_TOPIC_PREFIX: 'prod-eu_1.' }).topicPrefix, 'prod-eu_1.');
    assert.equal(kafkaEnvironment({ EDGEGUARD_TOPIC_PREFIX: '' }).topicPrefix, '');
  });

  it('refuse a broker without a port and a prefix no topic name can hold, naming the variable', () => {
    for (const brokers of ['localhost', '127.0.0.1:abc', ' , ', 'k1:9092,k2'])
      assert.throws(
        () => kafkaEnvironment({ KAFKA_BROKERS: brokers }),
        (error: unknown) =>
          error instanceof BadInput && /^KAFKA_BROKERS: expected host:port/.test(error.message),
        brokers,
      );
    for (const prefix of ['x y.', 'a/b.'])
      assert.throws(
        () => kafkaEnvironment({ EDGEGUARD_TOPIC_PREFIX: prefix }),
        (error: unknown) => error instanceof BadInput && /^EDGEGUARD_TOPIC_PREFIX: /.test(error.message),
        prefix,
      );
  });
});
