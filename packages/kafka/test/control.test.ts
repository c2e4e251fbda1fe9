import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadInput } from '@edgeguard/schema';
import { allowEntry, allowKey, manualDecision, nextManualVersion } from '../src/control.js';

const now = Date.UTC(2026, 10, 26, 12, 0, 0);

describe('manual decisions', () => {
  it('builds a canonical manual decision that outranks any decider version', () => {
    const decision = manualDecision({
      ip: '2001:DB8:0:0::7',
      action: 'block',
      duration: 4 * 3_600_000,
      reason: ' abuse report #12 ',
      now,
    });
    assert.equal(decision.key, 'ip:2001:db8::7');
    assert.equal(decision.value, '2001:db8::7');
    assert.equal(decision.origin, 'manual');
    assert.equal(decision.reason, 'abuse report #12');
    assert.equal(decision.decidedAt, now);
    assert.equal(decision.expiresAt, now + 4 * 3_600_000);
    assert.ok(decision.version >= now * 1000, 'wall-clock microseconds');
    assert.ok(Number.isSafeInteger(decision.version));
  });

  it('gives increasing versions within a millisecond and when the clock steps back', () => {
    const a = nextManualVersion(now);
    const b = nextManualVersion(now);
    const c = nextManualVersion(now - 60_000);
    assert.ok(a < b && b < c);
  });

  it('canonicalises ranges and keeps fingerprints as given (a whole key copied names the same one)', () => {
    assert.equal(
      manualDecision({ range: '2001:DB8:0::/48', action: 'challenge', duration: 60_000, reason: 'x', now })
        .key,
      'range:2001:db8::/48',
    );
    assert.equal(
      manualDecision({ fingerprint: 'fp:h1:deadbeef', action: 'block', duration: 60_000, reason: 'x', now })
        .key,
      'fp:h1:deadbeef',
    );
    assert.equal(
      manualDecision({
        fingerprint: 'ja4:t13d1516h2',
        action: 'throttle',
        duration: 60_000,
        reason: 'x',
        now,
      }).key,
      'fp:ja4:t13d1516h2',
    );
  });

  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no target', {}, /one of ip, range or fingerprint/],
    ['two targets', { ip: '192.0.2.1', range: '192.0.2.0/24' }, /only one of ip, range or fingerprint/],
    ['a range given as ip', { ip: '192.0.2.0/24' }, /use range/],
    ['a bad address', { ip: '192.0.2.300' }, /ip: expected an IPv4 or IPv6 address/],
    ['a bad range', { range: '192.0.2.0/33' }, /range: .*prefix length/],
    [
      'a range with bits set after its prefix length',
      { range: '192.0.2.5/16' },
      /192\.0\.2\.5\/16' has bits set after its prefix length: the network is 192\.0\.0\.0\/16/,
    ],
    ['the whole IPv4 internet', { range: '0.0.0.0/0' }, /0\.0\.0\.0\/0 is wider than \/8.*--force/],
    ['the whole IPv4 internet as IPv6', { range: '::ffff:0:0/96' }, /0\.0\.0\.0\/0 is wider than \/8/],
    ['the whole IPv6 internet', { range: '::/0' }, /::\/0 is wider than \/32/],
    ['an IPv4 /7', { range: '10.0.0.0/7' }, /wider than \/8/],
    [
      'an unknown action',
      { ip: '192.0.2.1', action: 'ban' },
      /action: expected one of block, challenge, throttle/,
    ],
    ['a zero duration', { ip: '192.0.2.1', duration: 0 }, /duration: expected a positive duration/],
    ['a duration of years', { ip: '192.0.2.1', duration: 3 * 366 * 86_400_000 }, /at most 366 days/],
    [
      'a duration just over 366 days',
      { ip: '192.0.2.1', duration: 8785 * 3_600_000 },
      /at most 366 days, got 366\.04 days/,
    ],
    ['an empty reason', { ip: '192.0.2.1', reason: '  ' }, /reason: must not be empty/],
    ['a fingerprint key naming no fingerprint', { fingerprint: 'fp:' }, /^fingerprint: "fp:" names no/],
    ['a reason with a newline', { ip: '192.0.2.1', reason: 'a\nb' }, /control characters/],
  ];
  for (const [name, input, message] of cases) {
    it(`rejects ${name} with a clear BadInput`, () => {
      assert.throws(
        () => manualDecision({ action: 'block', duration: 60_000, reason: 'r', now, ...input } as never),
        (error: unknown) => error instanceof BadInput && message.test(error.message),
      );
    });
  }
});

describe('allowlist entries', () => {
  it('canonicalises the CIDR and dates the entry', () => {
    assert.deepEqual(allowEntry({ cidr: '203.0.113.9', comment: 'office', now }), {
      cidr: '203.0.113.9/32',
      comment: 'office',
      createdAt: now,
      expiresAt: null,
    });
    assert.equal(allowEntry({ cidr: '10.0.0.0/8', duration: 1000, now }).expiresAt, now + 1000);
    assert.equal(allowKey('2001:DB8::/64'), '2001:db8::/64');
  });

  it('rejects what is not an address or CIDR', () => {
    assert.throws(() => allowEntry({ cidr: 'example.com' }), /cidr: .*not/);
    assert.throws(() => allowKey('10.0.0.0/40'), BadInput);
  });

  it('refuses a typo that would allow a whole /8, and what is wider than a /8 or /32 unless forced', () => {
    const refused = (cidr: string, message: RegExp) =>
      assert.throws(
        () => allowEntry({ cidr }),
        (error: unknown) =>
          error instanceof BadInput && error.reason === 'bad-allow-entry' && message.test(error.message),
        cidr,
      );
    refused('10.1.2.3/8', /has bits set after its prefix length: the network is 10\.0\.0\.0\/8/);
    refused('0.0.0.0/0', /0\.0\.0\.0\/0 is wider than \/8/);
    refused('::ffff:0:0/96', /0\.0\.0\.0\/0 is wider than \/8/);
    refused('::/0', /::\/0 is wider than \/32/);
    refused('2001::/16', /wider than \/32/);
    assert.throws(() => allowKey('203.0.113.7/8'), /the network is 203\.0\.0\.0\/8/);
    assert.equal(allowEntry({ cidr: '2001:db8::/32' }).cidr, '2001:db8::/32', 'a /32 is fine');
    assert.equal(allowEntry({ cidr: '0.0.0.0/0', force: true }).cidr, '0.0.0.0/0', 'forced');
    assert.equal(allowKey('0.0.0.0/0'), '0.0.0.0/0', 'deleting a wide entry needs no force');
    assert.equal(
      manualDecision({ range: '0.0.0.0/0', action: 'block', duration: 1000, reason: 'x', force: true }).key,
      'range:0.0.0.0/0',
    );
  });
});
