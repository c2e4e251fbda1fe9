// The cost floor of one pass over a combined-format log in Node, on this machine: how many
// nanoseconds per line the least work a replay could do costs, to size issue 2's target
// (≥ 1M lines/s on one core = 1,000 ns per line for everything).
//
//   node bench/floor.mjs [log]       (default: the bench log, generated first when absent)
//
// Each level does the one before it plus more, all on the bytes (no strings at all):
//   split   find each line's end (Buffer.indexOf, native)
//   scan    + walk the line once: the IPv4 address as a number (IPv6 texts fold into a number
//           the same way, wrongly: this is a floor, not a parser), the timestamp's second (cached
//           while the text repeats), method, path and query hashed (FNV-1a), status, bytes,
//           referer and user agent hashed
//   tables  + find the client by address (open addressing over a Int32Array) and the content by
//           path hash, bump a few counters per client (Float64Array columns), remember the client's
//           last 4 URL hashes (repetition) and the content's client count
// The last level is what any design has to do before any detection rule runs: a full pipeline
// costs this plus its windows, fingerprints, rules, decisions and backtest.
import { closeSync, openSync, readSync } from 'node:fs';
import { ensureBenchLog } from './bench-log.mjs';

const path = process.argv[2] ?? (await ensureBenchLog(1_000_000, 100_000));
const LEVELS = ['split', 'scan', 'tables'];
const CHUNK = 1 << 20;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function run(level) {
  const scan = level !== 'split';
  const tables = level === 'tables';
  // Client table: open addressing by IPv4 number, 2^18 cells (100k clients at < 40 % load).
  const CBITS = 18;
  const cmask = (1 << CBITS) - 1;
  const ckeys = new Int32Array(1 << CBITS);
  const cslots = new Int32Array(1 << CBITS);
  let clients = 0;
  const requests = new Float64Array(1 << CBITS);
  const lastSeen = new Float64Array(1 << CBITS);
  const errors = new Float64Array(1 << CBITS);
  const recent = new Int32Array(4 << CBITS);
  const repeats = new Float64Array(1 << CBITS);
  // Content table by path hash.
  const PBITS = 16;
  const pmask = (1 << PBITS) - 1;
  const pkeys = new Int32Array(1 << PBITS);
  const pcount = new Float64Array(1 << PBITS);
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(CHUNK + 64 * 1024);
  let carry = 0;
  let lines = 0;
  let sink = 0;
  let haveTime = false;
  const lastTime = Buffer.alloc(26);
  let second = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (;;) {
    const n = readSync(fd, buf, carry, CHUNK, null);
    const end = carry + n;
    if (n === 0) break;
    let pos = 0;
    for (;;) {
      const nl = buf.indexOf(10, pos);
      if (nl < 0 || nl >= end) break;
      lines++;
      if (scan) {
        let i = pos;
        // address
        let address = 0;
        let part = 0;
        for (let c = buf[i]; c !== 32; c = buf[++i]) {
          if (c === 46) {
            address = address * 256 + part;
            part = 0;
          } else part = part * 10 + c - 48;
        }
        address = (address * 256 + part) | 0;
        // skip ident and user, to '['
        while (buf[i] !== 91) i++;
        // timestamp: 26 bytes; recompute the second only when the text changes
        const ts = i + 1;
        if (!haveTime || buf.compare(lastTime, 0, 26, ts, ts + 26) !== 0) {
          buf.copy(lastTime, 0, ts, ts + 26);
          haveTime = true;
          // hh:mm:ss of dd/Mon/yyyy:hh:mm:ss (the day is left out: a floor, not a parser)
          second = (buf[ts + 12] - 48) * 36000 + (buf[ts + 13] - 48) * 3600 + (buf[ts + 15] - 48) * 600;
          second += (buf[ts + 16] - 48) * 60 + (buf[ts + 18] - 48) * 10 + (buf[ts + 19] - 48);
        }
        i = ts + 28; // past '] "'
        // method
        let method = 0;
        for (let c = buf[i]; c !== 32; c = buf[++i]) method = (method * 31 + c) | 0;
        i++;
        // path, query
        let ph = FNV_OFFSET;
        let c = buf[i];
        for (; c !== 32 && c !== 63 && c !== 34; c = buf[++i]) ph = Math.imul(ph ^ c, FNV_PRIME);
        let qh = ph;
        if (c === 63)
          for (c = buf[++i]; c !== 32 && c !== 34; c = buf[++i]) qh = Math.imul(qh ^ c, FNV_PRIME);
        while (buf[i] !== 34) i++;
        i += 2;
        const status = (buf[i] - 48) * 100 + (buf[i + 1] - 48) * 10 + (buf[i + 2] - 48);
        i += 4;
        let bytes = 0;
        for (c = buf[i]; c !== 32; c = buf[++i]) bytes = bytes * 10 + c - 48;
        i += 2; // ' "'
        let rh = FNV_OFFSET;
        for (c = buf[i]; c !== 34; c = buf[++i]) rh = Math.imul(rh ^ c, FNV_PRIME);
        i += 3; // '" "'
        let uh = FNV_OFFSET;
        for (c = buf[i]; c !== 34 && i < nl; c = buf[++i]) uh = Math.imul(uh ^ c, FNV_PRIME);
        if (tables) {
          let h = Math.imul(address, 0x9e3779b1) >>> (32 - CBITS);
          let slot;
          for (;;) {
            const s = cslots[h];
            if (s === 0) {
              clients++;
              ckeys[h] = address;
              cslots[h] = clients;
              slot = clients;
              break;
            }
            if (ckeys[h] === address) {
              slot = s;
              break;
            }
            h = (h + 1) & cmask;
          }
          requests[slot]++;
          lastSeen[slot] = second;
          if (status >= 400) errors[slot]++;
          const url = qh | 1;
          const r = slot << 2;
          if (recent[r] === url || recent[r + 1] === url || recent[r + 2] === url || recent[r + 3] === url) {
            repeats[slot]++;
          } else {
            recent[r + (requests[slot] & 3)] = url;
          }
          let p = Math.imul(ph, 0x9e3779b1) >>> (32 - PBITS);
          while (pkeys[p] !== 0 && pkeys[p] !== (ph | 1)) p = (p + 1) & pmask;
          pkeys[p] = ph | 1;
          pcount[p]++;
        }
        sink += status + bytes + method + rh + uh;
      } else {
        sink += nl - pos;
      }
      pos = nl + 1;
    }
    carry = end - pos;
    buf.copy(buf, 0, pos, end);
  }
  closeSync(fd);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuNs = (cpu.user + cpu.system) * 1000;
  return {
    level,
    lines,
    nsPerLine: Math.round(cpuNs / lines),
    wallNsPerLine: Math.round((wall * 1e6) / lines),
    clients,
    sink,
  };
}

// Three rounds of the levels in turn, so the figures come from the same minute of a noisy machine;
// the first round only warms the code up.
const results = Object.fromEntries(LEVELS.map((level) => [level, []]));
for (let round = 0; round < 3; round++) for (const level of LEVELS) results[level].push(run(level));
for (const level of LEVELS) {
  const runs = results[level].slice(1); // the first round warms the code up
  const ns = runs.map((r) => r.nsPerLine).sort((a, b) => a - b);
  process.stdout.write(
    `${level.padEnd(7)} ${ns.join(' / ')} ns CPU per line (${runs[0].lines.toLocaleString('en-US')} lines${level === 'tables' ? `, ${runs[0].clients.toLocaleString('en-US')} clients` : ''})\n`,
  );
}
