// What a hostile client controls in a log line (the Basic-auth user, X-Forwarded-For) must not
// choose the format, hide its own lines, or pick the address its traffic is blamed on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBadInput } from '@edgeguard/schema';
import { clientCanShiftFields, createParser, sniffFormat } from '../src/index.js';

const time = '28/Nov/2026:14:00:00 +0000';
const behindBalancer = (i: number, xff = `203.0.113.${i}`) =>
  `10.0.0.5 - - [${time}] "GET /p${i} HTTP/1.1" 200 12 "-" "Mozilla/5.0" "${xff}"`;

describe('hostile fields', () => {
  it('one line with a long X-Forwarded-For does not make a load-balanced log read as combined', () => {
    const lines = Array.from({ length: 30 }, (_, i) => behindBalancer(i));
    // nginx takes request headers up to 8 KiB: longer than maxFieldLength (4 KiB by default).
    lines.splice(3, 0, behindBalancer(99, `${'192.0.2.1, '.repeat(460)}198.51.100.66`));
    assert.equal(sniffFormat(lines), 'nginx-main');
    const auto = createParser('auto', { trustedProxies: ['10.0.0.0/8'] });
    const clients = lines.map((line) => auto.parse(line)).filter((r) => !isBadInput(r));
    assert.equal(auto.format, 'nginx-main');
    assert.deepEqual(
      clients.slice(-3).map((r) => (isBadInput(r) ? null : r.clientAddress)),
      ['203.0.113.27', '203.0.113.28', '203.0.113.29'],
      'the clients behind the balancer, not the balancer',
    );
  });

  for (const format of [
    'combined',
    'nginx-main',
    'apache',
    `nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"`,
  ])
    it(`reads a line whose Basic-auth user holds brackets and spaces (${format.slice(0, 20)})`, () => {
      const parser = createParser(format);
      for (const user of ['[x', 'a]b', 'a [b', 'user name', '[01/Jan/2020:00:00:00 +0000]']) {
        const record = parser.parse(
          `198.51.100.66 - ${user} [${time}] "GET /x HTTP/1.1" 200 1 "-" "curl/8" "-"`,
        );
        assert.ok(!isBadInput(record), `${user}: ${isBadInput(record) ? record.message : ''}`);
        assert.equal(record.time, Date.UTC(2026, 10, 28, 14, 0, 0), user);
        assert.equal(record.clientAddress, '198.51.100.66');
        assert.equal(record.path, '/x');
      }
    });

  it('names a format whose unquoted X-Forwarded-For a client can use to shift the fields after it', () => {
    assert.equal(
      clientCanShiftFields(
        `nginx:$remote_addr [$time_local] "$request" $status "$http_user_agent" $http_x_forwarded_for $upstream_cache_status`,
      ),
      true,
    );
    for (const safe of [
      `nginx:$remote_addr [$time_local] "$request" $status "$http_x_forwarded_for" $upstream_cache_status`,
      `nginx:$remote_addr [$time_local] "$request" $status $http_x_forwarded_for`,
      'nginx-main',
      'combined',
    ])
      assert.equal(clientCanShiftFields(safe), false, safe);
  });
});
