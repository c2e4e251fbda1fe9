// `edgeguard run`'s usage errors, checked before any service starts (no Kafka or Redis needed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

const bin = new URL('../bin/edgeguard.js', import.meta.url).pathname;
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, 'run', ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, LOG_LEVEL: 'silent' },
  });

describe('edgeguard run: usage', () => {
  it('refuses --position-file for a service other than the shipper, naming the flag', () => {
    const result = run('profiler', '--position-file', '/tmp/x.position');
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /--position-file is for the shipper/);
    // --follow and --from-start too: `run profiler --follow FILE` went on to start the profiler.
    for (const args of [['--follow', '/tmp/access.log'], ['--from-start']]) {
      const other = run('profiler', ...args);
      assert.equal(other.status, 2, other.stderr);
      assert.match(other.stderr, new RegExp(`${args[0]} is for the shipper`));
    }
  });

  it('takes --format and --trusted-proxies for the shipper, refused as ship refuses them, naming the flag', () => {
    const env = { ...process.env, LOG_LEVEL: 'silent', KAFKA_BROKERS: '127.0.0.1:1' };
    for (const [input, args, message] of [
      [
        ['--follow', '/nonexistent/access.log'],
        ['--format', 'nginx-mian'],
        /--format: unknown log format "nginx-mian"/,
      ],
      [
        ['--listen', 'udp://127.0.0.1:0'],
        ['--format', 'nginx-mian'],
        /--format: unknown log format "nginx-mian"/,
      ],
      [
        ['--listen', 'tcp://127.0.0.1:0'],
        ['--trusted-proxies', '10.0.0.0/33'],
        /--trusted-proxies: "10\.0\.0\.0\/33" is not a CIDR/,
      ],
      [
        ['--follow', '/nonexistent/access.log'],
        ['--trusted-proxies', '10.0.0.0/8', '--trusted-proxies', '203.0.113.7/8'],
        /--trusted-proxies: /,
      ],
      [
        ['--follow', '/nonexistent/access.log'],
        ['--format', 'combined', '--format', 'apache'],
        /--format given more than once/,
      ],
    ] as const) {
      const started = Date.now();
      const result = spawnSync(process.execPath, [bin, 'run', 'shipper', ...input, ...args], {
        encoding: 'utf8',
        timeout: 20_000,
        env,
      });
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      // A usage error, before connecting: Kafka is unreachable here.
      assert.ok(Date.now() - started < 10_000, `${args.join(' ')}: took ${Date.now() - started} ms`);
    }
    // Another service refuses them, as it refuses the shipper's other flags.
    for (const flag of ['--format', '--trusted-proxies']) {
      const result = run('profiler', flag, 'combined');
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`${flag} is for the shipper`));
    }
  });

  it('refuses an empty --trusted-proxies or --format (`--trusted-proxies "$UNSET"`) instead of clearing the config\'s', () => {
    // An empty --trusted-proxies REPLACED the config's list with none, silently: behind a load
    // balancer every request was then the balancer's (allowlisted: never decided on). An empty
    // --format silently kept the config's. Refused, as an empty --allow is.
    const env = {
      ...process.env,
      LOG_LEVEL: 'silent',
      KAFKA_BROKERS: '127.0.0.1:1',
      EDGEGUARD_STARTUP_TIMEOUT_MS: '1000',
    };
    for (const [args, message] of [
      [['--trusted-proxies', ''], /--trusted-proxies was given no CIDR \(""\)/],
      [['--trusted-proxies', ' , '], /--trusted-proxies was given no CIDR \(" , "\)/],
      [['--format', ''], /--format was given no format name \(""\)/],
      [['--format', '  '], /--format was given no format name/],
    ] as const) {
      const result = spawnSync(
        process.execPath,
        [bin, 'run', 'shipper', '--follow', '/nonexistent/access.log', ...args],
        { encoding: 'utf8', timeout: 20_000, env },
      );
      assert.equal(result.status, 2, `${JSON.stringify(args)}: ${result.stderr}`);
      assert.match(result.stderr, message);
    }
  });

  it('refuses a bad environment variable at once, naming it, before connecting to anything', () => {
    for (const [name, value, message] of [
      ['KAFKA_BROKERS', 'garbage', /KAFKA_BROKERS: "garbage" is not host:port/],
      [
        'EDGEGUARD_HEALTH_PORT',
        'abc',
        /EDGEGUARD_HEALTH_PORT must be a whole number from 0 to 65535, not "abc"/,
      ],
      ['EDGEGUARD_STOP_TIMEOUT_MS', '-1', /EDGEGUARD_STOP_TIMEOUT_MS must be a whole number/],
      ['EDGEGUARD_ENSURE_TOPICS', 'yes please', /EDGEGUARD_ENSURE_TOPICS must be on or off/],
      ['EDGEGUARD_DECISION_STORE', 'maybe', /EDGEGUARD_DECISION_STORE must be on or off/],
      ['REDIS_URL', 'http://127.0.0.1:6379', /REDIS_URL must be redis:\/\//],
      ['EDGEGUARD_TOPIC_PREFIX', 'qa qasvc.', /EDGEGUARD_TOPIC_PREFIX must be/],
    ] as const) {
      const started = Date.now();
      const result = spawnSync(process.execPath, [bin, 'run', 'decider'], {
        encoding: 'utf8',
        timeout: 20_000,
        // An unreachable Redis: a service that got as far as connecting would wait for it.
        env: { ...process.env, LOG_LEVEL: 'silent', REDIS_URL: 'redis://127.0.0.1:1', [name]: value },
      });
      assert.equal(result.status, 2, `${name}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.ok(Date.now() - started < 10_000, `${name}: took ${Date.now() - started} ms`);
    }
  });

  it('refuses a bad EDGEGUARD_STOP_TIMEOUT_MS for the shipper too (its stop is bounded by it), before connecting', () => {
    const result = spawnSync(
      process.execPath,
      [bin, 'run', 'shipper', '--follow', '/nonexistent/access.log'],
      {
        encoding: 'utf8',
        timeout: 20_000,
        env: {
          ...process.env,
          LOG_LEVEL: 'silent',
          KAFKA_BROKERS: '127.0.0.1:1',
          EDGEGUARD_STARTUP_TIMEOUT_MS: '1000',
          EDGEGUARD_STOP_TIMEOUT_MS: '0',
        },
      },
    );
    assert.equal(result.status, 2, result.stderr);
    assert.match(
      result.stderr,
      /EDGEGUARD_STOP_TIMEOUT_MS must be a whole number from 1 to 3600000, not "0"/,
    );
  });

  it('refuses an unknown LOG_LEVEL naming the variable, exit 2 like any bad variable, for every service', () => {
    // It was exit 1 (the service's logger threw a plain error), while every other bad variable is
    // a usage error, exit 2; and not a pino internal message.
    for (const args of [
      ['profiler'],
      ['decider'],
      ['api'],
      ['shipper', '--follow', '/nonexistent/access.log'],
    ]) {
      const started = Date.now();
      const result = spawnSync(process.execPath, [bin, 'run', ...args], {
        encoding: 'utf8',
        timeout: 20_000,
        env: {
          ...process.env,
          LOG_LEVEL: 'loud',
          REDIS_URL: 'redis://127.0.0.1:1',
          KAFKA_BROKERS: '127.0.0.1:1',
        },
      });
      assert.equal(result.status, 2, `${args[0]}: ${result.stderr}`);
      assert.equal(
        result.stderr,
        'edgeguard run: LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, not "loud"\n',
      );
      assert.ok(Date.now() - started < 10_000, `${args[0]}: took ${Date.now() - started} ms`);
    }
  });

  it('documents --position-file, --format and --trusted-proxies in --help', () => {
    const result = run('--help');
    assert.equal(result.status, 0);
    assert.match(result.stdout, /--position-file FILE/);
    assert.match(result.stdout, /EDGEGUARD_SHIP_POSITION_FILE/);
    assert.match(result.stdout, /--format NAME +the log format.*overrides the config's/);
    assert.match(result.stdout, /within EDGEGUARD_STOP_TIMEOUT_MS/);
    assert.match(result.stdout, /--trusted-proxies CIDRS\n +as for 'edgeguard ship' and replay: REPLACES/);
  });

  it('refuses a flag given twice instead of acting on the last one alone', () => {
    const result = spawnSync(
      process.execPath,
      [
        bin,
        'decisions',
        'add',
        '--ip',
        '192.0.2.1',
        '--ip',
        '192.0.2.2',
        '--action',
        'block',
        '--duration',
        '1h',
        '--reason',
        'x',
      ],
      {
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, LOG_LEVEL: 'silent', KAFKA_BROKERS: '127.0.0.1:1' },
      },
    );
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /--ip given more than once/);
  });
});
