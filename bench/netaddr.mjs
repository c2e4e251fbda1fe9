#!/usr/bin/env node
// netaddr parsing and formatting micro-benchmark (packages/netaddr/README.md, docs/BENCHMARKS.md
// "Edge agent"): CPU time per call (process.cpuUsage, steadier than the wall clock on a shared
// machine) over 16,384 distinct flat strings, median of --rounds (default 5).
//   --ab <another built checkout>: the same calls against that build's netaddr, alternating round
//   by round in this process (e.g. a copy of the branch start).
// Usage: npm run build && node bench/netaddr.mjs [--calls 1000000] [--ab ../other]
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as netaddr from '@edgeguard/netaddr';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : fallback;
};
const CALLS = Number(flag('calls', 1_000_000));
const ROUNDS = Number(flag('rounds', 5));
const abRoot = flag('ab', null);
const builds = [['this build', netaddr]];
if (abRoot)
  builds.push([abRoot, await import(pathToFileURL(join(abRoot, 'packages/netaddr/dist/index.js')).href)]);

let seed = 7;
const random = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};
const int = (n) => Math.floor(random() * n);
const hex = () => int(65536).toString(16);
// Flat strings, as a socket's remoteAddress or a log field sliced and copied is.
const flat = (s) => Buffer.from(s).toString();
const COUNT = 1 << 14;
const inputs = { full: [], short: [], v4: [] };
for (let i = 0; i < COUNT; i++) {
  inputs.full.push(flat(`2001:db8:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}:${hex()}`));
  inputs.short.push(flat(`2a00:${hex()}:${hex()}::${hex()}`));
  inputs.v4.push(flat(`${1 + int(223)}.${int(256)}.${int(256)}.${int(256)}`));
}
const words = new Uint32Array(4);
const cases = [
  ['parseIpInto, IPv6 with 8 groups', 'full', (m, s) => m.parseIpInto(s, words)],
  ['parseIpInto, IPv6 with ::', 'short', (m, s) => m.parseIpInto(s, words)],
  ['parseIpInto, IPv4', 'v4', (m, s) => m.parseIpInto(s, words)],
  ['canonicalIp, IPv6 with 8 groups', 'full', (m, s) => m.canonicalIp(s).length],
  ['canonicalIp, IPv4', 'v4', (m, s) => m.canonicalIp(s).length],
  ['prefixOf, IPv6 (/64)', 'full', (m, s) => m.prefixOf(s).length],
];

console.log(
  `netaddr: ${CALLS.toLocaleString('en-US')} calls per round, node ${process.version}, load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
let sink = 0;
for (const [name, input, call] of cases) {
  const list = inputs[input];
  const cpuNs = builds.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    const order = builds.map((_, b) => b);
    if (round % 2 === 1) order.reverse();
    for (const b of order) {
      const m = builds[b][1];
      const start = process.cpuUsage();
      for (let i = 0; i < CALLS; i++) sink += call(m, list[i & (COUNT - 1)]);
      const cpu = process.cpuUsage(start);
      cpuNs[b].push(((cpu.user + cpu.system) * 1000) / CALLS);
    }
  }
  const cells = cpuNs.map((list, b) => {
    const median = [...list].sort((x, y) => x - y)[Math.floor(list.length / 2)];
    return `${builds[b][0]} ${median.toFixed(0).padStart(5)} ns`;
  });
  console.log(`  ${name.padEnd(34)} ${cells.join('   ')}`);
}
console.log(
  `load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} (sink ${sink % 7})`,
);
