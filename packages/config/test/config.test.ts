import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BadInput } from '@edgeguard/schema';
import {
  defaultConfig,
  detectionAllowlist,
  type EdgeguardConfig,
  formatGoDuration,
  parseConfigText,
  parseDuration,
  readConfigFile,
  trustedProxiesWarning,
  validateConfig,
  withDefaults,
} from '../src/index.js';

const defaults = {
  input: { format: 'auto', trustedProxies: [] as string[], maxLineLength: 16384 },
  detect: { thresholds: { repetitionRatio: 0.8 }, enabled: true },
  note: null as string | null,
};

describe('config validation against defaults', () => {
  it('fills every field the user left out from the defaults', () => {
    const config = withDefaults(defaults, { input: { format: 'combined' } }, 'edgeguard.json');
    assert.equal(config.input.format, 'combined');
    assert.deepEqual(config.input.trustedProxies, []);
    assert.equal(config.detect.thresholds.repetitionRatio, 0.8);
  });

  it('does not let a caller mutate the shared defaults through the result', () => {
    const config = withDefaults(defaults, {}, 'x');
    config.input.trustedProxies.push('10.0.0.0/8');
    assert.deepEqual(defaults.input.trustedProxies, []);
  });

  it('names an unknown field with its full path and suggests the close name', () => {
    assert.throws(
      () => withDefaults(defaults, { detect: { thresholds: { repetitonRatio: 0.5 } } }, 'edgeguard.json'),
      (error: Error) => {
        assert.match(error.message, /^edgeguard\.json: unknown field 'detect\.thresholds\.repetitonRatio'/);
        assert.match(error.message, /did you mean 'repetitionRatio'/);
        return true;
      },
    );
  });

  it('names a wrongly typed field, what was expected and what was found', () => {
    assert.throws(
      () => withDefaults(defaults, { input: { maxLineLength: '16k' } }, 'cfg.json'),
      /cfg\.json: field 'input\.maxLineLength': expected a number, got the string "16k"/,
    );
    assert.throws(
      () => withDefaults(defaults, { input: { trustedProxies: ['10.0.0.0/8', 7] } }, 'cfg.json'),
      /field 'input\.trustedProxies\[1\]': expected a string, got number 7/,
    );
    assert.throws(
      () => withDefaults(defaults, { detect: true }, 'cfg.json'),
      /field 'detect': expected an object/,
    );
  });

  it('accepts null-defaulted optional fields as any scalar', () => {
    assert.equal(withDefaults(defaults, { note: 'x' }, 's').note, 'x');
  });
});

describe('config files', () => {
  it('reports a JSON syntax error with file, line and column', () => {
    assert.throws(
      () => parseConfigText('{\n  "input": {\n    "format": "combined",\n  }\n}', 'edgeguard.json'),
      /edgeguard\.json:4:3/,
    );
  });

  it('allows // comments, also next to URLs inside strings', () => {
    const value = parseConfigText('{\n  // the edge\n  "url": "http://x//y" // trailing\n}', 's');
    assert.deepEqual(value, { url: 'http://x//y' });
  });

  it('reads a file saved with a byte order mark, positions counted without it', () => {
    assert.deepEqual(parseConfigText('\uFEFF{"input": {}}', 's'), { input: {} });
    assert.throws(() => parseConfigText('\uFEFF{\n  "a": 1,\n}', 'bom.json'), /bom\.json:3:1: invalid JSON/);
  });

  it('names a missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eg-config-'));
    assert.throws(
      () => readConfigFile(join(dir, 'nope.json')),
      /nope\.json: cannot read config file: no such file or directory \(ENOENT\)$/,
    );
    assert.throws(
      () => readConfigFile(dir),
      /: cannot read config file: illegal operation on a directory \(EISDIR\)$/,
    );
    writeFileSync(join(dir, 'ok.json'), '{"a": 1}');
    assert.deepEqual(readConfigFile(join(dir, 'ok.json')), { a: 1 });
  });
});

describe('durations', () => {
  it('parses the units operators write', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('4h'), 14_400_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250'), 250);
  });

  it('rejects text that is not a duration, naming it', () => {
    assert.throws(() => parseDuration('4 hours', '--duration'), /--duration: '4 hours' is not a duration/);
    assert.throws(() => parseDuration('h'), /not a duration/);
  });

  it('formats Go duration syntax for CrowdSec bouncers', () => {
    assert.equal(formatGoDuration(4 * 3_600_000), '4h0m0s');
    assert.equal(formatGoDuration(90_500), '1m30.5s');
    assert.equal(formatGoDuration(999), '999ms');
    assert.equal(formatGoDuration(-2000), '-2s');
  });
});

describe('edgeguard config checks beyond types', () => {
  const check = (patch: (c: EdgeguardConfig) => void) => {
    const config = structuredClone(defaultConfig);
    patch(config);
    return () => validateConfig(config, 'cfg.json');
  };
  const refused = (patch: (c: EdgeguardConfig) => void, message: RegExp) =>
    assert.throws(
      check(patch),
      (e: unknown) => e instanceof BadInput && e.reason === 'bad-config' && message.test(e.message),
    );

  it('accepts the defaults', () => {
    check(() => undefined)();
  });

  it('refuses numbers that pass the type check but break detection at run time', () => {
    refused(
      (c) => (c.detect.flushIntervalMs = 0),
      /'detect.flushIntervalMs': expected a whole number from 100/,
    );
    refused(
      (c) => (c.detect.range.ipv4Bits = 4),
      /'detect.range.ipv4Bits': expected a whole number from 8 to 32, got 4/,
    );
    refused((c) => (c.detect.range.ipv4Bits = 33), /'detect.range.ipv4Bits'/);
    refused((c) => (c.input.maxLineLength = 1e9), /'input.maxLineLength'/);
    refused((c) => (c.detect.allowedLatenessMs = -5), /'detect.allowedLatenessMs'/);
    refused(
      (c) => (c.input.maxClockJumpMs = 1000),
      /'input.maxClockJumpMs': expected a whole number from 60000 to 604800000, got 1000/,
    );
    refused((c) => (c.detect.bounds.pathsPerFingerprint = 1e9), /'detect.bounds.pathsPerFingerprint'/);
    refused(
      (c) => (c.detect.bounds.maxClients = 0.5),
      /'detect.bounds.maxClients': expected a whole number from 1/,
    );
    refused(
      (c) => (c.detect.decisions.extendWhenRemainingShare = 1.5),
      /extendWhenRemainingShare': expected a number from 0 to 1/,
    );
    refused((c) => (c.pipeline.partitions = 0), /'pipeline.partitions'/);
  });

  it('refuses CIDRs with bits after the prefix, and trusted proxies wider than /8 (IPv4) or /7 (IPv6)', () => {
    refused(
      (c) => c.input.trustedProxies.push('203.0.113.7/8'),
      /bits set after its prefix length: the network is 203.0.0.0\/8/,
    );
    refused((c) => c.allowlist.push('2001:db8::1/32'), /the network is 2001:db8::\/32/);
    refused((c) => c.input.trustedProxies.push('0.0.0.0/0'), /wider than \/8/);
    refused((c) => c.input.trustedProxies.push('::/6'), /wider than \/7/);
    check((c) =>
      c.input.trustedProxies.push('10.0.0.0/8', 'fc00::/7', 'fd00::/8', '2001:db8::/32', '192.0.2.7'),
    )();
    check((c) => c.allowlist.push('0.0.0.0/0'))();
  });
});

describe('trusted proxies', () => {
  const withProxies = (format: string, trustedProxies: string[] = ['10.0.0.0/8']) => {
    const config = structuredClone(defaultConfig);
    config.input.format = format;
    config.input.trustedProxies = trustedProxies;
    config.allowlist = ['192.0.2.7'];
    return config;
  };

  it('are never decided on: the detection allowlist holds them beside the allowlist', () => {
    assert.deepEqual(detectionAllowlist(withProxies('auto')), ['192.0.2.7', '10.0.0.0/8']);
    assert.deepEqual(detectionAllowlist(withProxies('auto', [])), ['192.0.2.7']);
  });

  it('draw a warning, naming the format and the fix, when the format logs no X-Forwarded-For', () => {
    const warning = trustedProxiesWarning(withProxies('auto'), 'combined');
    assert.match(
      warning ?? '',
      /10\.0\.0\.0\/8.*'combined' \(as --format auto read it\) logs no X-Forwarded-For/,
    );
    assert.match(
      warning ?? '',
      /--format nginx-main.*--format nginx:'<log_format>' with \$http_x_forwarded_for/,
    );
    assert.match(trustedProxiesWarning(withProxies('apache'), 'apache') ?? '', /'apache' logs no/);
    const noForwardedFor = `nginx:$remote_addr [$time_local] "$request" $status "$http_user_agent" $host $request_time`;
    assert.match(
      trustedProxiesWarning(withProxies(noForwardedFor), noForwardedFor) ?? '',
      /'nginx:\$remote_addr.*…'/,
    );
    for (const format of [
      'nginx-main',
      'cloudflare',
      `nginx:$remote_addr [$time_local] "$request" $status "$http_x_forwarded_for"`,
    ])
      assert.equal(trustedProxiesWarning(withProxies(format), format), null, format);
    assert.equal(trustedProxiesWarning(withProxies('combined', []), 'combined'), null, 'no trusted proxies');
  });

  it('draw a warning when the format logs X-Forwarded-For unquoted with fields after it (a client could shift them)', () => {
    const shiftable = `nginx:$remote_addr [$time_local] "$request" $status $http_x_forwarded_for $upstream_cache_status`;
    assert.match(
      trustedProxiesWarning(withProxies(shiftable), shiftable) ?? '',
      /unquoted with other variables after it.*Log it quoted/,
    );
  });

  it('draw a warning, trusted proxies or not, when an Envoy format logs a client header before the address', () => {
    const shiftable = `envoy:'[%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" %RESPONSE_CODE% "%REQ(USER-AGENT)%" %DOWNSTREAM_REMOTE_ADDRESS% %DURATION%ms'`;
    for (const trustedProxies of [[], ['10.0.0.0/8']]) {
      assert.match(
        trustedProxiesWarning(withProxies(shiftable, trustedProxies), shiftable) ?? '',
        /Envoy escapes nothing.*Log the address operators before any request header, or use --format envoy-json/,
      );
    }
    const addressFirst = `envoy:'%DOWNSTREAM_REMOTE_ADDRESS% [%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%" %RESPONSE_CODE% "%REQ(USER-AGENT)%"'`;
    assert.equal(trustedProxiesWarning(withProxies(addressFirst, []), addressFirst), null);
  });
});
