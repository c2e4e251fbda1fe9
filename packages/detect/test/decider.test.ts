import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prefixOf } from '@edgeguard/netaddr';
import { BadInput, type Decision } from '@edgeguard/schema';
import { ipv4Number } from '../src/address-index.js';
import { Allowlist } from '../src/allowlist.js';
import { type DeepPartial, type DetectConfig, withDefaults } from '../src/config.js';
import { Decider, type DeciderSink } from '../src/decider.js';
import type {
  ClientSignal,
  FingerprintPartial,
  GuardAlert,
  PrefixCount,
  TrafficTick,
} from '../src/messages.js';
import { T0 } from './helpers.js';

class Collect implements DeciderSink {
  published: { key: string; decision: Decision | null; time: number; version?: number }[] = [];
  alerts: GuardAlert[] = [];
  decision(key: string, decision: Decision | null, time: number, version?: number): void {
    this.published.push(version === undefined ? { key, decision, time } : { key, decision, time, version });
  }
  alert(alert: GuardAlert): void {
    this.alerts.push(alert);
  }
  latest(key: string): Decision | null | undefined {
    return this.published.filter((p) => p.key === key).at(-1)?.decision;
  }
}

function decider(
  overrides: DeepPartial<DetectConfig> = {},
  allowlist: string[] = [],
): { d: Decider; sink: Collect } {
  return {
    d: new Decider(withDefaults(overrides), new Allowlist(allowlist), (ip) => prefixOf(ip)),
    sink: new Collect(),
  };
}

function signal(fields: Partial<ClientSignal> & { ip: string; time: number }): ClientSignal {
  return {
    kind: 'client',
    prefix: prefixOf(fields.ip),
    fingerprint: 'h1:tool',
    score: 3,
    reason: 'repetition',
    signals: [{ name: 'repetitionRatio', value: 0.9, threshold: 0.6 }],
    humanLooking: false,
    botShaped: true,
    paths: [1, 2, 3],
    burstRequests: 3,
    established: false,
    firstSeen: fields.time,
    requests: 30,
    ...fields,
  };
}

function tick(time: number, fields: Partial<TrafficTick> = {}): TrafficTick {
  return {
    kind: 'tick',
    partition: 0,
    time,
    requests: 100,
    late: 0,
    clients: 10,
    establishedClients: 0,
    prefixes: [],
    ...fields,
  };
}

/** A prefix count of ten clients, none human-looking, established or protected. */
function allBad(prefix: string): PrefixCount {
  return { prefix, clients: 10, humanClients: 0, establishedClients: 0, protectedClients: 0 };
}

function fingerprint(
  fields: Partial<FingerprintPartial> & { fingerprint: string; time: number },
): FingerprintPartial {
  return {
    kind: 'fingerprint',
    requests: 0,
    pages: 0,
    assets: 0,
    repeats: 0,
    busts: 0,
    loginPosts: 0,
    authFailures: 0,
    sensitiveHits: 0,
    errors: 0,
    clients: 0,
    humanClients: 0,
    establishedClients: 0,
    flaggedClients: 0,
    paths: [],
    pathsOverflow: false,
    userAgent: null,
    declaredCrawler: false,
    ...fields,
  };
}

test('a client signal at the block score becomes an ip block carrying its evidence', () => {
  const { d, sink } = decider();
  d.process(signal({ ip: '203.0.113.9', time: T0 }), sink);
  const decision = sink.latest('ip:203.0.113.9')!;
  assert.equal(decision.action, 'block');
  assert.equal(decision.scope, 'ip');
  assert.equal(decision.reason, 'repetition');
  assert.deepEqual(decision.signals, [{ name: 'repetitionRatio', value: 0.9, threshold: 0.6 }]);
  assert.equal(decision.decidedAt, T0);
  assert.equal(decision.expiresAt, T0 + 3_600_000);
  assert.equal(decision.origin, 'auto');
});

test('scores map to throttle, challenge and block; below the throttle score nothing is decided', () => {
  const { d, sink } = decider();
  d.process(signal({ ip: '203.0.113.1', time: T0, score: 0.5, botShaped: false }), sink);
  d.process(signal({ ip: '203.0.113.2', time: T0, score: 1, botShaped: false }), sink);
  d.process(signal({ ip: '203.0.113.3', time: T0, score: 2, botShaped: false }), sink);
  assert.equal(sink.latest('ip:203.0.113.1'), undefined);
  assert.equal(sink.latest('ip:203.0.113.2')!.action, 'throttle');
  assert.equal(sink.latest('ip:203.0.113.3')!.action, 'challenge');
});

test('a decision expires as a tombstone at its expiry, in event time, naming its version', () => {
  const { d, sink } = decider();
  d.process(signal({ ip: '203.0.113.9', time: T0, score: 1 }), sink);
  const { expiresAt, version } = sink.latest('ip:203.0.113.9')!;
  d.process(tick(expiresAt - 1), sink);
  assert.notEqual(sink.latest('ip:203.0.113.9'), null);
  d.process(tick(expiresAt + 1_000), sink);
  const last = sink.published.at(-1)!;
  assert.deepEqual(
    [last.key, last.decision, last.time, last.version],
    ['ip:203.0.113.9', null, expiresAt, version],
  );
});

test('a repeat offender escalates one step and for longer each time', () => {
  const { d, sink } = decider();
  d.process(signal({ ip: '203.0.113.9', time: T0, score: 1 }), sink);
  const first = sink.latest('ip:203.0.113.9')!;
  d.process(tick(first.expiresAt + 1), sink);
  d.process(signal({ ip: '203.0.113.9', time: first.expiresAt + 2, score: 1 }), sink);
  const second = sink.latest('ip:203.0.113.9')!;
  assert.equal(first.action, 'throttle');
  assert.equal(second.action, 'challenge');
  assert.equal(second.expiresAt - second.decidedAt, 2 * 1_800_000);
  assert.ok(second.version > first.version);
});

test('versions follow event time, so a decider restarted on less input never numbers below the one before', () => {
  // The first decider saw many decisions before this key's; a restarted one replays only the last
  // part of its input (retention dropped the rest). Numbered per process, the restarted one's
  // escalation would get a lower version than the stored decision and the store would ignore it.
  const before = decider();
  for (let i = 0; i < 50; i++)
    before.d.process(signal({ ip: `198.51.100.${i}`, time: T0 + i, score: 1 }), before.sink);
  before.d.process(signal({ ip: '203.0.113.9', time: T0 + 100, score: 1 }), before.sink);
  const stored = before.sink.latest('ip:203.0.113.9')!;
  const restarted = decider();
  restarted.d.process(signal({ ip: '203.0.113.9', time: T0 + 100, score: 1 }), restarted.sink);
  restarted.d.process(signal({ ip: '203.0.113.9', time: T0 + 200, score: 3 }), restarted.sink);
  const escalated = restarted.sink.latest('ip:203.0.113.9')!;
  assert.notEqual(escalated.action, stored.action, 'the stronger evidence escalated it');
  assert.ok(escalated.version > stored.version, `${escalated.version} > ${stored.version} stored`);
  assert.equal(stored.version, (T0 + 100) * 100, 'event-time milliseconds × 100');
  // Two decisions of one key in one millisecond still get distinct, increasing versions.
  restarted.d.process(signal({ ip: '203.0.113.10', time: T0 + 300, score: 1 }), restarted.sink);
  restarted.d.process(signal({ ip: '203.0.113.10', time: T0 + 300, score: 3 }), restarted.sink);
  const [first, second] = restarted.sink.published.filter((p) => p.key === 'ip:203.0.113.10');
  assert.equal(second!.decision!.version, first!.decision!.version + 1);
});

test('stronger evidence upgrades an active decision; weaker evidence leaves it alone', () => {
  const { d, sink } = decider();
  d.process(signal({ ip: '203.0.113.9', time: T0, score: 2 }), sink);
  d.process(signal({ ip: '203.0.113.9', time: T0 + 1_000, score: 1 }), sink);
  assert.equal(sink.published.length, 1);
  d.process(signal({ ip: '203.0.113.9', time: T0 + 2_000, score: 3 }), sink);
  assert.equal(sink.latest('ip:203.0.113.9')!.action, 'block');
});

test('an allowlisted address is never decided, whatever its score', () => {
  const { d, sink } = decider({}, ['203.0.113.0/28']);
  d.process(signal({ ip: '203.0.113.9', time: T0, score: 10 }), sink);
  assert.deepEqual(sink.published, []);
  assert.equal(d.getStats().allowlistedSkipped, 1);
});

test('an address the further protection test covers (CDN) is never decided, dotted quad or not', () => {
  const cdn = ['192.0.2.7', '2001:db8::7'];
  const allowlist = new Allowlist(
    [],
    [],
    24,
    64,
    (ip) => cdn.includes(ip),
    (ipv4) => ipv4 === ipv4Number('192.0.2.7'),
  );
  const d = new Decider(withDefaults({}), allowlist, (ip) => prefixOf(ip));
  const sink = new Collect();
  for (const ip of cdn) d.process(signal({ ip, time: T0, score: 10 }), sink);
  assert.deepEqual(sink.published, []);
  assert.equal(d.getStats().allowlistedSkipped, 2);
  d.process(signal({ ip: '192.0.2.8', time: T0 + 1, score: 10 }), sink);
  assert.equal(sink.latest('ip:192.0.2.8')?.action, 'block');
});

test('many bad addresses filling a /24 with nothing human in it become one range decision', () => {
  const { d, sink } = decider();
  d.process(
    tick(T0, {
      prefixes: [
        {
          prefix: '203.0.113.0/24',
          clients: 10,
          humanClients: 0,
          establishedClients: 0,
          protectedClients: 0,
        },
      ],
    }),
    sink,
  );
  for (let i = 1; i <= 10; i++) d.process(signal({ ip: `203.0.113.${i}`, time: T0 + i }), sink);
  const range = sink.latest('range:203.0.113.0/24')!;
  assert.ok(range, JSON.stringify(sink.published.map((p) => p.key)));
  assert.equal(range.scope, 'range');
  assert.equal(range.action, 'challenge', 'capped at range.maxAction');
  assert.ok(range.signals.some((s) => s.name === 'badAddresses' && s.value >= 8));
});

test("a range decision's reason is its addresses' most frequent one, the first seen on a tie", () => {
  for (const [reasons, expected] of [
    [
      ['scanner', 'scanner', 'repetition', 'repetition', 'repetition', 'flood', 'repetition', 'repetition'],
      'repetition',
    ],
    [
      ['scanner', 'repetition', 'repetition', 'scanner', 'flood', 'flood', 'repetition', 'scanner'],
      'scanner',
    ],
    [['flood', 'repetition', 'flood', 'repetition', 'scanner', 'scanner', 'flood', 'repetition'], 'flood'],
  ] as const) {
    const { d, sink } = decider();
    d.process(tick(T0, { prefixes: [allBad('203.0.113.0/24')] }), sink);
    for (const [i, reason] of reasons.entries()) {
      d.process(signal({ ip: `203.0.113.${i + 1}`, time: T0 + i + 1, reason }), sink);
    }
    assert.equal(sink.latest('range:203.0.113.0/24')?.reason, expected, reasons.join());
  }
});

test('a range forms in a prefix table smaller than the traffic, its counts kept between ticks of other prefixes', () => {
  const { d, sink } = decider({ bounds: { maxPrefixes: 2 } });
  const count = (prefix: string, clients: number) => ({
    prefix,
    clients,
    humanClients: 0,
    establishedClients: 0,
    protectedClients: 0,
  });
  d.process(tick(T0, { prefixes: [count('203.0.113.0/24', 10), count('198.51.100.0/24', 1)] }), sink);
  for (let i = 1; i <= 10; i++) {
    d.process(signal({ ip: `203.0.113.${i}`, time: T0 + i }), sink);
    d.process(tick(T0 + i, { prefixes: [count('198.51.100.0/24', 1)] }), sink);
  }
  assert.ok(sink.latest('range:203.0.113.0/24'), JSON.stringify(sink.published.map((p) => p.key)));
  // A third prefix evicts one; the table stays at its bound.
  d.process(tick(T0 + 20, { prefixes: [count('192.0.2.0/24', 1)] }), sink);
  d.process(signal({ ip: '203.0.113.11', time: T0 + 21 }), sink);
  assert.equal(d.getStats().prefixes, 2);
});

test('active decisions of all scopes are walked in the order their keys became active', () => {
  const { d, sink } = decider();
  d.process(tick(T0, { prefixes: [allBad('203.0.113.0/24')] }), sink);
  for (let i = 1; i <= 10; i++) d.process(signal({ ip: `203.0.113.${i}`, time: T0 + i }), sink);
  d.process(signal({ ip: '198.51.100.1', time: T0 + 11 }), sink);
  // Upgraded: replaced where it was.
  d.process(signal({ ip: '203.0.113.1', time: T0 + 12, score: 10 }), sink);
  const firstPublished = [...new Set(sink.published.map((p) => p.key))];
  assert.ok(firstPublished.includes('range:203.0.113.0/24'));
  assert.deepEqual(
    d.activeDecisions().map((a) => a.key),
    firstPublished,
  );
  // Expired and decided again: last, in their new order.
  d.process(tick(T0 + 86_400_000), sink);
  assert.deepEqual(d.activeDecisions(), []);
  d.process(signal({ ip: '198.51.100.1', time: T0 + 86_400_001 }), sink);
  d.process(signal({ ip: '203.0.113.1', time: T0 + 86_400_002 }), sink);
  assert.deepEqual(
    d.activeDecisions().map((a) => a.key),
    ['ip:198.51.100.1', 'ip:203.0.113.1'],
  );
});

test('no range decision where a human-looking client lives, nor over an allowlisted address', () => {
  const withHuman = decider();
  withHuman.d.process(
    tick(T0, {
      prefixes: [
        {
          prefix: '203.0.113.0/24',
          clients: 11,
          humanClients: 1,
          establishedClients: 0,
          protectedClients: 0,
        },
      ],
    }),
    withHuman.sink,
  );
  for (let i = 1; i <= 10; i++)
    withHuman.d.process(signal({ ip: `203.0.113.${i}`, time: T0 + i }), withHuman.sink);
  assert.equal(withHuman.sink.latest('range:203.0.113.0/24'), undefined);

  const allowlisted = decider({}, ['203.0.113.200']);
  allowlisted.d.process(
    tick(T0, {
      prefixes: [
        {
          prefix: '203.0.113.0/24',
          clients: 10,
          humanClients: 0,
          establishedClients: 0,
          protectedClients: 0,
        },
      ],
    }),
    allowlisted.sink,
  );
  for (let i = 1; i <= 10; i++)
    allowlisted.d.process(signal({ ip: `203.0.113.${i}`, time: T0 + i }), allowlisted.sink);
  assert.equal(allowlisted.sink.latest('range:203.0.113.0/24'), undefined);
});

test('credential stuffing spread over addresses, one request each, is decided on its fingerprint', () => {
  const { d, sink } = decider();
  for (let s = 0; s < 10; s++) {
    d.process(
      fingerprint({
        fingerprint: 'h1:stuffer',
        time: T0 + s * 1_000,
        requests: 2,
        loginPosts: 2,
        authFailures: 2,
        clients: 2,
        pages: 2,
      }),
      sink,
    );
  }
  const decision = sink.latest('fp:h1:stuffer')!;
  assert.equal(decision.scope, 'fingerprint');
  assert.equal(decision.reason, 'credential-stuffing');
  assert.equal(decision.action, 'block', 'address decisions cannot stop 1 request per address');
});

/**
 * Credential stuffing on one fingerprint, one partial a second for `seconds` from `from`: `clients`
 * addresses a second, `perClient` failed login posts each.
 */
function stuffing(
  d: Decider,
  sink: Collect,
  from: number,
  seconds: number,
  perClient: (s: number) => number,
): void {
  for (let s = 0; s < seconds; s++) {
    const requests = 2 * perClient(s);
    d.process(
      fingerprint({
        fingerprint: 'h1:stuffer',
        time: from + s * 1_000,
        requests,
        loginPosts: requests,
        authFailures: requests,
        pages: requests,
        clients: 2,
      }),
      sink,
    );
  }
}

/** What was published on `key`: actions, and tombstones as null. */
function history(sink: Collect, key: string): (string | null)[] {
  return sink.published.filter((p) => p.key === key).map((p) => p.decision?.action ?? null);
}

test('a fingerprint block whose clients start sending enough requests each becomes a throttle once, not a flap that escalates', () => {
  // Behind a few load balancers the same "clients" send more and more requests each: the block
  // made for one request per address gives way to the shared throttle. It used to be replaced on
  // every partial, each replacement a repeat offence: block 1 h, 4 h, 8 h, 16 h, then 24 h every second.
  const { d, sink } = decider();
  stuffing(d, sink, T0, 10, () => 1);
  stuffing(d, sink, T0 + 10_000, 170, () => 6);
  assert.deepEqual(history(sink, 'fp:h1:stuffer'), ['block', null, 'throttle']);
  const throttle = sink.latest('fp:h1:stuffer')!;
  assert.equal(throttle.expiresAt - throttle.decidedAt, 600_000, 'the replacement is not escalated');
});

test('requests per client hovering at minRequestsForAddressDecisions do not switch a fingerprint decision back and forth', () => {
  const { d, sink } = decider();
  stuffing(d, sink, T0, 10, () => 1);
  // 2.8 and 3.2 requests per client in turns of five seconds: the window's ratio crosses 3 every few seconds.
  stuffing(d, sink, T0 + 10_000, 60, () => 3);
  stuffing(d, sink, T0 + 70_000, 200, (s) => (Math.floor(s / 5) % 2 === 0 ? 2.8 : 3.2));
  assert.deepEqual(history(sink, 'fp:h1:stuffer'), ['block']);
});

test('a fingerprint decision lifted and made again before it would have expired is the same offence, not an escalation', () => {
  const { d, sink } = decider();
  stuffing(d, sink, T0, 10, () => 1);
  // Real people show up (lift), then leave: the block comes back for an hour, not two.
  d.process(
    fingerprint({
      fingerprint: 'h1:stuffer',
      time: T0 + 10_000,
      clients: 1,
      humanClients: 1,
      requests: 1,
      pages: 1,
    }),
    sink,
  );
  stuffing(d, sink, T0 + 11_000, 300, () => 1);
  assert.deepEqual(history(sink, 'fp:h1:stuffer'), ['block', null, 'block']);
  const again = sink.latest('fp:h1:stuffer')!;
  assert.equal(again.expiresAt - again.decidedAt, 3_600_000);
});

test('a decision extended past its first expiry, lifted, and made again before the extension ends is the same offence', () => {
  const { d, sink } = decider();
  // Stuffing for 40 minutes: the hour's block is extended once half of it has run.
  stuffing(d, sink, T0, 2_400, () => 1);
  const extended = sink.latest('fp:h1:stuffer')!;
  assert.ok(extended.expiresAt > T0 + 3_610_000, 'the block was extended past its first hour');
  // A quiet spell, then real people show up after the first hour would have ended (lift), and leave.
  d.process(
    fingerprint({
      fingerprint: 'h1:stuffer',
      time: T0 + 4_000_000,
      clients: 1,
      humanClients: 1,
      requests: 1,
      pages: 1,
    }),
    sink,
  );
  stuffing(d, sink, T0 + 4_001_000, 300, () => 1);
  assert.deepEqual(history(sink, 'fp:h1:stuffer'), ['block', 'block', null, 'block']);
  const again = sink.latest('fp:h1:stuffer')!;
  assert.equal(again.expiresAt - again.decidedAt, 3_600_000, 'not escalated to two hours');
});

test('a fingerprint real people share is never blocked as a whole', () => {
  const { d, sink } = decider();
  for (let s = 0; s < 10; s++) {
    d.process(
      fingerprint({
        fingerprint: 'h1:chrome',
        time: T0 + s * 1_000,
        requests: 4,
        loginPosts: 2,
        authFailures: 2,
        clients: 2,
        humanClients: 1,
        pages: 4,
      }),
      sink,
    );
  }
  assert.equal(sink.latest('fp:h1:chrome'), undefined);
});

test('a swarm fingerprint is suspect: its bot-shaped addresses are blocked on sight, the fingerprint only throttled', () => {
  const { d, sink } = decider();
  for (let s = 0; s < 10; s++) {
    d.process(
      fingerprint({
        fingerprint: 'h1:swarm',
        time: T0 + s * 1_000,
        requests: 60,
        pages: 60,
        repeats: 50,
        clients: 3,
        paths: [1, 2, 3],
      }),
      sink,
    );
  }
  assert.equal(sink.latest('fp:h1:swarm')!.action, 'throttle');
  // A brand-new address of the swarm with just two requests, and nothing flagged on its own:
  d.process(
    signal({
      ip: '198.51.100.77',
      time: T0 + 10_500,
      fingerprint: 'h1:swarm',
      score: 0,
      reason: 'bot-shaped',
    }),
    sink,
  );
  const decision = sink.latest('ip:198.51.100.77')!;
  assert.equal(decision.action, 'block');
  assert.equal(decision.reason, 'swarm');
  assert.ok(decision.signals.some((s) => s.name === 'fingerprint.distinctPaths'));
});

/** A second apart from `from`: partials of a fingerprint many addresses use on a few paths (a swarm). */
function swarmPartials(d: Decider, sink: Collect, from: number, count: number): void {
  for (let s = 0; s < count; s++) {
    d.process(
      fingerprint({
        fingerprint: 'h1:swarm',
        time: from + s * 1_000,
        requests: 60,
        pages: 60,
        repeats: 50,
        clients: 3,
        paths: [1, 2],
      }),
      sink,
    );
  }
}

test('bot-shaped addresses seen before their fingerprint turned suspect are judged when it does', () => {
  const { d, sink } = decider();
  d.process(
    fingerprint({ fingerprint: 'h1:swarm', time: T0, requests: 2, pages: 2, clients: 1, paths: [1] }),
    sink,
  );
  d.process(
    signal({
      ip: '198.51.100.5',
      time: T0 + 500,
      fingerprint: 'h1:swarm',
      score: 0,
      reason: 'bot-shaped',
      paths: [999],
    }),
    sink,
  );
  assert.equal(sink.latest('ip:198.51.100.5'), undefined);
  swarmPartials(d, sink, T0 + 1_000, 9);
  assert.equal(sink.latest('ip:198.51.100.5')!.reason, 'swarm');
});

test('a turning-suspect fingerprint judges the addresses it remembers from its last window, with their own evidence', () => {
  const { d, sink } = decider({ fingerprint: { pendingAddresses: 3 } });
  d.process(
    fingerprint({ fingerprint: 'h1:swarm', time: T0, requests: 2, pages: 2, clients: 1, paths: [1] }),
    sink,
  );
  const botShaped = (ip: string, time: number) =>
    d.process(
      signal({
        ip,
        time,
        fingerprint: 'h1:swarm',
        score: 0,
        reason: 'bot-shaped',
        paths: [999],
        signals: [{ name: 'newPages', value: time - T0 }],
      }),
      sink,
    );
  botShaped('198.51.100.1', T0 + 500); // a window before the fingerprint turns suspect: forgotten
  botShaped('198.51.100.2', T0 + 61_000); // pushed out of the ring by the three after it
  botShaped('198.51.100.3', T0 + 62_000);
  botShaped('198.51.100.4', T0 + 61_500); // late (out of order), still inside the window
  botShaped('198.51.100.5', T0 + 63_000);
  swarmPartials(d, sink, T0 + 64_000, 10);
  assert.equal(sink.latest('ip:198.51.100.1'), undefined);
  assert.equal(sink.latest('ip:198.51.100.2'), undefined);
  for (const [ip, time] of [
    ['198.51.100.3', T0 + 62_000],
    ['198.51.100.4', T0 + 61_500],
    ['198.51.100.5', T0 + 63_000],
  ] as const) {
    const decision = sink.latest(`ip:${ip}`)!;
    assert.equal(decision.reason, 'swarm', ip);
    assert.deepEqual(decision.signals.slice(0, 2), [
      // Unpacked and shared evidence carry `threshold` undefined where there is none (one shape).
      { name: 'newPages', value: time - T0, threshold: undefined },
      { name: 'botShaped', value: 1, threshold: undefined },
    ]);
    assert.ok(decision.signals.some((s) => s.name.startsWith('fingerprint.')));
  }
});

test('a remembered address is judged with its evidence as it carried it (kept packed meanwhile)', () => {
  const { d, sink } = decider();
  d.process(
    fingerprint({ fingerprint: 'h1:swarm', time: T0, requests: 2, pages: 2, clients: 1, paths: [1] }),
    sink,
  );
  // Rule signals with thresholds, one without, and lists that are not plain (another key order, an
  // extra key) which must come back as they were.
  const evidence = [
    [
      { name: 'repetitionRatio', value: 0.913, threshold: 0.6 },
      { name: 'pagesWithoutAssets', value: 12, threshold: 8 },
      { name: 'requestsPerMinute', value: 41.25 },
    ],
    [{ value: 3, name: 'reordered', threshold: 2 }],
    [{ name: 'extra', value: 1, threshold: 1, note: 'kept' } as { name: string; value: number }],
    [],
  ];
  evidence.forEach((signals, k) => {
    d.process(
      signal({
        ip: `198.51.100.${k + 1}`,
        time: T0 + 500,
        fingerprint: 'h1:swarm',
        score: 0,
        reason: 'bot-shaped',
        paths: [999],
        signals,
      }),
      sink,
    );
  });
  swarmPartials(d, sink, T0 + 1_000, 9);
  evidence.forEach((signals, k) => {
    const decision = sink.latest(`ip:198.51.100.${k + 1}`)!;
    assert.equal(decision.reason, 'swarm');
    assert.equal(
      JSON.stringify(decision.signals.slice(0, signals.length + 1)),
      JSON.stringify([...signals, { name: 'botShaped', value: 1 }]),
    );
  });
});

test('guilt by content: a bot-shaped burst on paths hammered by a flagged client is challenged', () => {
  const { d, sink } = decider();
  d.process(signal({ ip: '203.0.113.9', time: T0, score: 2.5, reason: 'repetition', paths: [11, 12] }), sink);
  d.process(
    signal({
      ip: '198.51.100.6',
      time: T0 + 1_000,
      fingerprint: 'h1:other',
      score: 0,
      reason: 'bot-shaped',
      paths: [12, 11],
      burstRequests: 2,
    }),
    sink,
  );
  assert.equal(sink.latest('ip:198.51.100.6')!.action, 'challenge');
  // Not when one of its paths is nobody's target, nor for a slow client.
  d.process(
    signal({
      ip: '198.51.100.7',
      time: T0 + 1_000,
      fingerprint: 'h1:other',
      score: 0,
      reason: 'bot-shaped',
      paths: [11, 77],
      burstRequests: 2,
    }),
    sink,
  );
  d.process(
    signal({
      ip: '198.51.100.8',
      time: T0 + 1_000,
      fingerprint: 'h1:other',
      score: 0,
      reason: 'bot-shaped',
      paths: [11],
      burstRequests: 1,
    }),
    sink,
  );
  assert.equal(sink.latest('ip:198.51.100.7'), undefined);
  assert.equal(sink.latest('ip:198.51.100.8'), undefined);
});

test('bot-shaped bursts seen before their paths were attacked are judged when they are: the latest few, once', () => {
  const { d, sink } = decider({ attackedPaths: { pendingAddresses: 2 } });
  const burst = (ip: string, time: number, paths: number[]) =>
    d.process(
      signal({ ip, time, fingerprint: 'h1:other', score: 0, reason: 'bot-shaped', paths, burstRequests: 2 }),
      sink,
    );
  burst('198.51.100.1', T0, [21]); // pushed out by the two after it
  burst('198.51.100.2', T0 + 1, [21]);
  burst('198.51.100.3', T0 + 2, [22]); // its path is not attacked: kept for later
  d.process(signal({ ip: '203.0.113.9', time: T0 + 3, score: 2.5, reason: 'repetition', paths: [21] }), sink);
  assert.equal(sink.latest('ip:198.51.100.1'), undefined);
  assert.equal(sink.latest('ip:198.51.100.2')!.action, 'challenge');
  assert.equal(sink.latest('ip:198.51.100.3'), undefined);
  d.process(
    signal({ ip: '203.0.113.10', time: T0 + 4, score: 2.5, reason: 'repetition', paths: [22] }),
    sink,
  );
  assert.equal(sink.latest('ip:198.51.100.3')!.action, 'challenge');
  assert.equal(sink.published.filter((p) => p.key === 'ip:198.51.100.2').length, 1);
});

test('the guard trips when decisions would cover established benign clients: held, retracted, alerted', () => {
  // Rule settings that decide clients no rule flagged (score 0 reaches every action): established
  // people decided without evidence of their own are the bystanders the guard is for.
  const { d, sink } = decider({ decisions: { scoreForThrottle: 0, scoreForChallenge: 0, scoreForBlock: 0 } });
  const bystander = (ip: string, time: number): ClientSignal =>
    signal({
      ip,
      time,
      score: 0,
      reason: 'none',
      signals: [{ name: 'requestsPerMinute', value: 4, threshold: undefined }],
      established: true,
      humanLooking: true,
      botShaped: false,
    });
  d.process(tick(T0, { establishedClients: 40 }), sink);
  for (let i = 1; i <= 6; i++) d.process(bystander(`198.51.100.${i}`, T0 + i), sink);
  assert.equal(sink.alerts.length, 1);
  const alert = sink.alerts[0]!;
  assert.equal(alert.state, 'tripped');
  assert.ok(alert.coveredEstablished >= alert.threshold);
  // The decisions that covered established clients were retracted (tombstones) ...
  for (let i = 1; i <= 6; i++) assert.equal(sink.latest(`ip:198.51.100.${i}`) ?? null, null);
  // ... and nothing new that would cover one is published while held ...
  d.process(bystander('198.51.100.7', T0 + 9), sink);
  assert.equal(sink.latest('ip:198.51.100.7'), undefined);
  assert.ok(d.getStats().decisionsHeld >= 2);
  // ... while a bot that covers nobody established is still decided: a hold must not switch off
  // blocking for everyone.
  d.process(signal({ ip: '203.0.113.200', time: T0 + 10, score: 3 }), sink);
  assert.equal(sink.latest('ip:203.0.113.200')?.action, 'block');
  // The hold ends in event time.
  d.process(tick(alert.heldUntil + 1), sink);
  assert.equal(sink.alerts.at(-1)!.state, 'released');
});

test('established clients flagged by their own evidence count for the guard, and a hold they trip holds only their like', () => {
  // Eight clients that looked human for five minutes, then stuff credentials — or eight real people
  // a mis-tuned auth-failure bar flags: the guard cannot tell, so it trips (an alert) ...
  const { d, sink } = decider();
  d.process(tick(T0, { establishedClients: 40 }), sink);
  for (let i = 1; i <= 8; i++)
    d.process(
      signal({
        ip: `198.51.100.${i}`,
        time: T0 + i,
        established: true,
        humanLooking: true,
        botShaped: false,
        reason: 'credential-stuffing',
        signals: [{ name: 'authFailures', value: 6, threshold: 4.5 }],
      }),
      sink,
    );
  assert.equal(sink.alerts[0]?.state, 'tripped');
  assert.ok(d.getStats().decisionsHeld > 0);
  // ... but holds only decisions on established clients: a new bot is still blocked.
  d.process(signal({ ip: '203.0.113.201', time: T0 + 20, score: 3 }), sink);
  assert.equal(sink.latest('ip:203.0.113.201')?.action, 'block');
});

test('malformed inputs are counted and thrown as BadInput (bad-signal), changing nothing', () => {
  const { d, sink } = decider();
  for (const bad of [
    null,
    42,
    {},
    { kind: 'client' },
    { kind: 'nope', time: 1 },
    { kind: 'tick', time: Number.NaN },
    // the right kind and time, but fields a handler reads missing or mistyped (JSON from elsewhere)
    { kind: 'client', time: T0 + 99_000_000 },
    { ...signal({ ip: '192.0.2.1', time: T0 + 99_000_000 }), paths: 'x' },
    { ...signal({ ip: '192.0.2.1', time: T0 + 99_000_000 }), score: '9' },
    { ...signal({ ip: '192.0.2.1', time: T0 + 99_000_000 }), signals: [null] },
    { ...tick(T0 + 99_000_000), prefixes: [{ prefix: 7 }] },
    { kind: 'fingerprint', time: T0 + 99_000_000, fingerprint: 'h1:abc' },
  ]) {
    assert.throws(
      () => d.process(bad as never, sink),
      (error: unknown) => error instanceof BadInput && error.reason === 'bad-signal',
      JSON.stringify(bad),
    );
  }
  assert.equal(d.getStats().rejected, 12);
  assert.deepEqual(sink.published, []);
  // A rejected input does not move the clock: a valid one at the old time is still processed.
  d.process(tick(T0), sink);
  assert.equal(d.getStats().rejected, 12);
  assert.equal(d.getStats().inputs, 1);
});
