import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withDefaults } from '@edgeguard/detect';
import { type AccessLog, emptyAccessLog } from '@edgeguard/schema';
import { createReplay } from '../src/replay.js';

const T0 = Date.UTC(2024, 0, 21, 9, 0, 0);
const SWARM_UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36';

function req(time: number, ip: string, path: string, extra: Partial<AccessLog> = {}): AccessLog {
  return {
    ...emptyAccessLog(),
    time,
    clientAddress: ip,
    method: 'GET',
    host: 'shop.example',
    path,
    status: 200,
    cacheStatus: 'HIT',
    userAgent: SWARM_UA,
    acceptLanguage: 'en-US',
    ...extra,
  };
}

test('a swarm hammering three pages is blocked, a human browsing beside it is not', (t) => {
  const logs: AccessLog[] = [];
  for (let s = 0; s < 120; s++) {
    for (let b = 0; b < 30; b++) {
      const ip = `203.0.113.${b + 1}`;
      logs.push(req(T0 + s * 1000 + b * 13, ip, `/hot/${(s + b) % 3}`, { cacheStatus: 'STALE' }));
    }
    if (s % 20 === 0) {
      const page = `/articles/${s}`;
      logs.push(
        req(T0 + s * 1000 + 500, '198.51.100.7', page, {
          userAgent: 'Mozilla/5.0 Firefox/121.0',
          acceptLanguage: 'de',
        }),
      );
      for (let a = 0; a < 5; a++)
        logs.push(
          req(T0 + s * 1000 + 600 + a, '198.51.100.7', `/static/a${a}.js`, {
            userAgent: 'Mozilla/5.0 Firefox/121.0',
            acceptLanguage: 'de',
            referer: `https://shop.example${page}`,
          }),
        );
    }
  }
  const replay = createReplay({ detect: withDefaults(), allowlist: [] });
  const keys = new Set<string>();
  replay.bus.on('decisions', (m) => keys.add(m.key));
  for (const log of logs) replay.push(log);
  replay.finish();
  const verdicts = [...replay.verdicts()];
  t.diagnostic(`decision keys: ${[...keys].length}, stats: ${JSON.stringify(replay.stats().messages)}`);
  assert.ok(
    [...keys].some((k) => k.startsWith('fp:')),
    'the shared fingerprint is decided',
  );
  const swarm = verdicts.filter((v) => v.ip.startsWith('203.'));
  assert.ok(swarm.every((v) => v.verdict === 'block' || v.verdict === 'challenge'));
  assert.equal(verdicts.find((v) => v.ip === '198.51.100.7')?.verdict, 'allow');
});
