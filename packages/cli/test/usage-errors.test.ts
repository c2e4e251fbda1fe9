// Usage mistakes at the top level and in a command's first word: named, exit 2, before any broker or
// Redis is contacted (both are unreachable here, so a command that tried would exit 1 instead).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { describe, it } from 'node:test';

const bin = new URL('../bin/edgeguard.js', import.meta.url).pathname;
const edgeguard = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: {
      ...process.env,
      KAFKA_BROKERS: '127.0.0.1:1',
      REDIS_URL: 'redis://127.0.0.1:1',
      LOG_LEVEL: 'silent',
      ...env,
    },
  });

describe('edgeguard usage errors', () => {
  it("'help' with an unknown command names it and exits 2, like the command itself", () => {
    for (const args of [['help', 'shp'], ['shp']]) {
      const run = edgeguard(args);
      assert.equal(run.status, 2, args.join(' '));
      assert.match(
        run.stderr,
        /^edgeguard: unknown command 'shp' \(did you mean 'ship'\?\)\n\nUsage: edgeguard <command>/,
      );
      assert.equal(run.stdout, '');
    }
    // Too far from every command: no guess.
    assert.match(edgeguard(['xyzzy']).stderr, /^edgeguard: unknown command 'xyzzy'\n\n/);
    const ship = edgeguard(['help', 'ship']);
    assert.equal(ship.status, 0);
    assert.match(ship.stdout, /^Usage: edgeguard ship/);
    assert.match(edgeguard(['--help']).stdout, /'edgeguard version' for the version/);
  });

  for (const [command, said] of [
    ['config', "'print' or 'check'"],
    ['topics', "'ensure' or 'list'"],
    ['decisions', "'add', 'delete' or 'list'"],
    ['allowlist', "'add', 'delete' or 'list'"],
    ['keys', "'create', 'list' or 'revoke'"],
  ] as const)
    it(`${command}: a missing or unknown action is named, exit 2`, () => {
      const missing = edgeguard([command]);
      assert.equal(missing.status, 2, missing.stderr);
      assert.match(missing.stderr, new RegExp(`^edgeguard ${command}: missing the action: ${said}\\n`));
      const typo = edgeguard([command, 'lst']);
      assert.equal(typo.status, 2, typo.stderr);
      assert.match(typo.stderr, new RegExp(`^edgeguard ${command}: expected ${said}, got 'lst'\\n`));
    });

  it('keys: a bad action or missing argument is exit 2 even when Redis is down', () => {
    for (const [args, said] of [
      [['keys', 'create', '--name', 'ci'], /create needs --scope bouncer\|admin and --name NAME/],
      [['keys', 'revoke'], /revoke needs the key name/],
    ] as const) {
      const run = edgeguard([...args]);
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, said);
    }
  });

  it('a switch given twice is let be; a flag with a value given twice is refused', () => {
    const quiet = edgeguard(['replay', '-', '--quiet', '--no-progress', '--quiet']);
    assert.equal(quiet.status, 0, quiet.stderr);
    const format = edgeguard(['replay', '-', '--format', 'combined', '--format', 'apache']);
    assert.equal(format.status, 2);
    assert.match(format.stderr, /^edgeguard replay: --format given more than once\n/);
  });

  it('decisions and allowlist refuse a zero duration in the words typed, before contacting Kafka', () => {
    for (const args of [
      ['decisions', 'add', '--ip', '192.0.2.1', '--action', 'block', '--duration', '0m', '--reason', 'x'],
      ['allowlist', 'add', '192.0.2.1', '--duration', '0m'],
    ]) {
      const run = edgeguard(args);
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, /: --duration: must be longer than 0, got '0m'\n/);
      assert.doesNotMatch(run.stderr, / ms/);
    }
  });

  it('ship refuses a --rate of 0 or an empty one (it shipped at full speed), before contacting Kafka', () => {
    const log = new URL('../../testkit/fixtures/demo.log.gz', import.meta.url).pathname;
    for (const rate of ['0', '']) {
      const run = edgeguard(['ship', log, `--rate=${rate}`], { EDGEGUARD_STARTUP_TIMEOUT_MS: '2000' });
      assert.equal(run.status, 2, run.stderr);
      assert.match(
        run.stderr,
        new RegExp(`^edgeguard ship: --rate: expected a whole number ≥ 1, got '${rate}'\\n`),
      );
    }
  });

  it('every command that logs refuses an unknown LOG_LEVEL up front, exit 2, naming it; --help still works', () => {
    // ship, tail, lag and topics ensure exited 1 once their logger refused it, topics list and the
    // Redis listings ran on with it; run alone checked it first.
    for (const args of [
      ['ship', '/nonexistent/access.log'],
      ['tail', '--topic', 'decisions'],
      ['lag'],
      ['topics', 'list'],
      ['topics', 'ensure'],
      ['decisions', 'list'],
      ['allowlist', 'list'],
      ['run', 'profiler'],
    ]) {
      const result = edgeguard(args, { LOG_LEVEL: 'loud' });
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(
        result.stderr,
        `edgeguard ${args[0]}: LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, not "loud"\n`,
      );
      const help = edgeguard([args[0]!, '--help'], { LOG_LEVEL: 'loud' });
      assert.equal(help.status, 0, `${args[0]} --help: ${help.stderr}`);
    }
  });

  it('run: a missing service is named with the services there are', () => {
    const run = edgeguard(['run']);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /^edgeguard run: missing the service: 'shipper', .* or 'api'\n/);
  });
});

describe('edgeguard stdout', () => {
  it('stops quietly, exit 0, when the reader of its stdout is gone (| head)', () => {
    // `true` exits long before node has started, so the first write meets a closed pipe.
    for (const args of ['topics list', 'config print', '--help']) {
      const run = spawnSync(
        'bash',
        ['-c', `set -o pipefail; "${process.execPath}" "${bin}" ${args} | true`],
        {
          encoding: 'utf8',
          timeout: 20_000,
        },
      );
      assert.equal(run.status, 0, `${args}: ${run.stderr}`);
      assert.equal(run.stderr, '', args);
    }
  });

  it('says in one line, exit 1, when its stdout cannot be written', (t) => {
    if (!existsSync('/dev/full')) return t.skip('no /dev/full');
    const full = openSync('/dev/full', 'w');
    try {
      for (const [args, who] of [
        [['topics', 'list'], 'edgeguard topics'],
        [['--help'], 'edgeguard'],
      ] as const) {
        const run = spawnSync(process.execPath, [bin, ...args], {
          encoding: 'utf8',
          stdio: ['ignore', full, 'pipe'],
          timeout: 20_000,
        });
        assert.equal(run.status, 1);
        assert.equal(run.stderr, `${who}: cannot write to stdout: no space left on device (ENOSPC)\n`);
      }
    } finally {
      closeSync(full);
    }
  });
});
