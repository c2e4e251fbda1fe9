// `run shipper --listen`'s flags, read by the CLI into the shipper's typed SocketInputOptions
// (moved here from services/shipper, which takes numbers only): each bad value a `bad-usage`
// naming its flag, with the messages the shipper gave them; and wholeNumber's optional range.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { BadInput } from '@edgeguard/schema';
import { wholeNumber, workerCount } from '../src/args.js';
import { socketInputOptions } from '../src/listen-flags.js';

const bin = new URL('../bin/edgeguard.js', import.meta.url).pathname;

const badUsage = (message: RegExp) => (error: unknown) =>
  error instanceof BadInput && error.reason === 'bad-usage' && message.test(error.message);

describe('run shipper --listen: its flags', () => {
  it('refuses a bad --allow, --max-connections or --queue-mib, naming the flag', () => {
    assert.throws(
      () => socketInputOptions({ listen: 'udp://0.0.0.0:5514', allow: ['10.0.0.0/33'] }),
      badUsage(/--allow: /),
    );
    // `--allow "$SENDERS"` with SENDERS unset or blank must not quietly open the port to anyone.
    for (const allow of [[''], [' , '], ['', '']])
      assert.throws(
        () => socketInputOptions({ listen: 'udp://0.0.0.0:5514', allow }),
        badUsage(/--allow was given no CIDR/),
        JSON.stringify(allow),
      );
    for (const [maxConnections, ok] of [
      ['0', false],
      ['1', true],
      ['10000', true],
      ['10001', false],
      ['1e3', false],
      ['-1', false],
    ] as const) {
      const read = () => socketInputOptions({ listen: 'tcp://0.0.0.0:5514', maxConnections });
      if (ok) assert.equal(read().maxConnections, Number(maxConnections));
      else
        assert.throws(
          read,
          badUsage(
            new RegExp(
              `^--max-connections must be a whole number from 1 to 10,000, not "${maxConnections}"$`,
            ),
          ),
        );
    }
    assert.throws(
      () => socketInputOptions({ listen: 'udp://0.0.0.0:5514', maxConnections: '5' }),
      badUsage(/--max-connections is for tcp:\/\//),
    );
    for (const queueMib of ['0', '4097', 'x', '1.5'])
      assert.throws(
        () => socketInputOptions({ listen: 'udp://0.0.0.0:5514', queueMib }),
        badUsage(new RegExp(`^--queue-mib must be a whole number from 1 to 4,096, not "${queueMib}"$`)),
      );
    assert.deepEqual(
      socketInputOptions({
        listen: 'udp://0.0.0.0:5514',
        allow: ['192.0.2.0/24, 2001:db8::/32'],
        queueMib: '4',
      }),
      {
        address: { transport: 'udp', host: '0.0.0.0', port: 5514 },
        allow: ['192.0.2.0/24', '2001:db8::/32'],
        maxConnections: undefined,
        queueBytes: 4 * 1024 * 1024,
      },
    );
    assert.equal(
      socketInputOptions({ listen: 'tcp://0.0.0.0:5514', queueMib: '4096' }).queueBytes,
      4096 * 1024 * 1024,
    );
  });

  it('prints a bad flag once, exit 2, before connecting to anything', () => {
    for (const [args, line] of [
      [
        ['--max-connections', '0'],
        'edgeguard run: --max-connections must be a whole number from 1 to 10,000, not "0"\n',
      ],
      [['--queue-mib', 'x'], 'edgeguard run: --queue-mib must be a whole number from 1 to 4,096, not "x"\n'],
    ] as const) {
      const run = spawnSync(
        process.execPath,
        [bin, 'run', 'shipper', '--listen', 'tcp://127.0.0.1:0', ...args],
        {
          encoding: 'utf8',
          timeout: 20_000,
          env: { ...process.env, LOG_LEVEL: 'silent', KAFKA_BROKERS: '127.0.0.1:1' },
        },
      );
      assert.equal(run.status, 2, run.stderr);
      assert.ok(run.stderr.startsWith(line), run.stderr);
    }
  });

  it('wholeNumber: a range when given a max, its message naming it', () => {
    assert.equal(wholeNumber('4096', '--queue-mib', 1, 4096), 4096);
    assert.throws(
      () => wholeNumber('4097', '--queue-mib', 1, 4096),
      badUsage(/^--queue-mib must be a whole number from 1 to 4,096, not "4097"$/),
    );
    // Without a max, as before.
    assert.throws(
      () => wholeNumber('-1', '--rate'),
      badUsage(/^--rate: expected a whole number ≥ 0, got '-1'$/),
    );
    assert.equal(workerCount('64'), 64);
    assert.throws(
      () => workerCount('65'),
      badUsage(/^--workers must be a whole number from 0 to 64, not "65"$/),
    );
  });
});
