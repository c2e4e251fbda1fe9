import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CidrSet } from '@edgeguard/netaddr';
import { type AccessLog, BadInput, isBadInput } from '@edgeguard/schema';
import { createParser, resolveClientAddress } from '../src/index.js';

// Our load balancers: 10.0.0.0/8 and 2001:db8:ffff::/48.
const trusted = new CidrSet(['10.0.0.0/8', '2001:db8:ffff::/48']);

describe('resolveClientAddress (trusted proxies)', () => {
  it('uses the peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    assert.equal(resolveClientAddress('203.0.113.7', '198.51.100.1', null), '203.0.113.7');
  });

  it('ignores X-Forwarded-For sent by an untrusted peer (the client wrote it itself)', () => {
    assert.equal(resolveClientAddress('203.0.113.7', '198.51.100.1, 10.0.0.5', trusted), '203.0.113.7');
  });

  it('takes the rightmost untrusted hop when the peer is a trusted proxy', () => {
    assert.equal(resolveClientAddress('10.0.0.1', '198.51.100.1', trusted), '198.51.100.1');
    assert.equal(
      resolveClientAddress('10.0.0.1', '192.0.2.50, 198.51.100.1, 10.0.0.9', trusted),
      '198.51.100.1',
    );
  });

  it('never attributes traffic to a spoofed leftmost entry', () => {
    // The attacker 198.51.100.66 sends "X-Forwarded-For: 192.0.2.1" hoping to get 192.0.2.1 blocked;
    // our proxy 10.0.0.9 appends the attacker's real address.
    const client = resolveClientAddress('10.0.0.9', '192.0.2.1, 198.51.100.66', trusted);
    assert.equal(client, '198.51.100.66');
    assert.notEqual(client, '192.0.2.1');
    // Even a spoof of one of our own proxies' addresses gains nothing.
    assert.equal(resolveClientAddress('10.0.0.9', '10.0.0.1, 198.51.100.66', trusted), '198.51.100.66');
  });

  it('uses the leftmost hop when every hop is trusted', () => {
    assert.equal(resolveClientAddress('10.0.0.1', '10.1.1.1, 10.2.2.2', trusted), '10.1.1.1');
  });

  it('stops the walk at a hop that is not an address, keeping the last valid one', () => {
    // "unknown" is what some proxies write; a port is not an address either.
    assert.equal(resolveClientAddress('10.0.0.1', 'unknown, 10.0.0.7', trusted), '10.0.0.7');
    // A port on a hop (Azure Application Gateway writes them) is not part of the address.
    assert.equal(resolveClientAddress('10.0.0.1', '198.51.100.1, 203.0.113.5:4711', trusted), '203.0.113.5');
    assert.equal(resolveClientAddress('10.0.0.1', '[2001:DB8::7]:443', trusted), '2001:db8::7');
    assert.equal(resolveClientAddress('10.0.0.1', '[2001:db8::7]', trusted), '2001:db8::7');
    assert.equal(resolveClientAddress('10.0.0.1', '198.51.100.1, 10.0.0.7:80', trusted), '198.51.100.1');
    // Not an address with a port: the walk stops there.
    assert.equal(resolveClientAddress('10.0.0.1', '203.0.113.5:http', trusted), '10.0.0.1');
    assert.equal(resolveClientAddress('10.0.0.1', '[2001:db8::7]x', trusted), '10.0.0.1');
    assert.equal(resolveClientAddress('10.0.0.1', '203.0.113.5:123456', trusted), '10.0.0.1');
    assert.equal(resolveClientAddress('10.0.0.1', '198.51.100.1,,10.0.0.7', trusted), '10.0.0.7');
    assert.equal(resolveClientAddress('10.0.0.1', '', trusted), '10.0.0.1');
  });

  it('canonicalises hops and handles IPv6 and IPv4-mapped addresses', () => {
    assert.equal(resolveClientAddress('2001:db8:ffff::1', ' 2001:DB8:0:0::5 ', trusted), '2001:db8::5');
    assert.equal(resolveClientAddress('10.0.0.1', '::ffff:198.51.100.2', trusted), '198.51.100.2');
    assert.equal(resolveClientAddress('10.0.0.1', '2001:db8:ffff::9, 10.0.0.3', trusted), '2001:db8:ffff::9');
  });
});

describe('parsers resolve the client behind trusted proxies', () => {
  const line = (peer: string, forwardedFor: string) =>
    `${peer} - - [21/Jan/2024:09:30:12 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" "${forwardedFor}"`;

  it('attributes a spoofed request to the real client, never to the spoofed address', () => {
    const parser = createParser('nginx-main', { trustedProxies: ['10.0.0.0/8'] });
    const record = parser.parse(line('10.0.0.9', '192.0.2.1, 198.51.100.66')) as AccessLog;
    assert.equal(record.clientAddress, '198.51.100.66');
    assert.equal(record.peerAddress, '10.0.0.9');
  });

  it('keeps the peer for direct clients even when they send X-Forwarded-For', () => {
    const parser = createParser('nginx-main', { trustedProxies: ['10.0.0.0/8'] });
    const record = parser.parse(line('198.51.100.66', '192.0.2.1')) as AccessLog;
    assert.equal(record.clientAddress, '198.51.100.66');
  });

  it('accepts a ready CidrSet as trustedProxies', () => {
    const parser = createParser('nginx-main', { trustedProxies: trusted });
    assert.equal(
      (parser.parse(line('10.0.0.9', '198.51.100.66')) as AccessLog).clientAddress,
      '198.51.100.66',
    );
  });

  it('refuses a malformed trusted proxy CIDR when the parser is created', () => {
    assert.throws(
      () => createParser('nginx-main', { trustedProxies: ['10.0.0.0/8', '10.0.0.0/40'] }),
      (error: unknown) =>
        error instanceof BadInput && error.reason === 'bad-cidr' && /10\.0\.0\.0\/40/.test(error.message),
    );
  });

  it('does not reject a line for a malformed X-Forwarded-For', () => {
    const parser = createParser('nginx-main', { trustedProxies: ['10.0.0.0/8'] });
    const result = parser.parse(line('10.0.0.9', 'garbage'));
    assert.ok(!isBadInput(result));
    assert.equal(result.clientAddress, '10.0.0.9');
  });
});
