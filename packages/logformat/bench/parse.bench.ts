/**
 * Parser throughput: `node --import tsx packages/logformat/bench/parse.bench.ts [lines]`.
 *
 * Generates realistic combined lines in memory (a few hot clients and crawlers among many one-off
 * visitors, cache-busting query strings, real-looking user agents, 200 requests per second of
 * event time), then measures, in the same process and interleaved round by round:
 *   - the hand-written `combined` parser,
 *   - the generic nginx log_format parser compiled from the combined format string,
 *   - a plain regex baseline building the same record (what a straightforward parser does),
 *   - the regex match alone (no record: a lower bound for any regex-based parser),
 *   - openLogSource reading the same lines from a temporary file (split and decode only).
 * Prints lines/s per method (best of the rounds) and the speed-up over the regex baseline.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AccessLog, emptyAccessLog, isBadInput } from '@edgeguard/schema';
import { createParser, openLogSource } from '../src/index.js';

const lineCount = Number(process.argv[2] ?? 500_000);
const rounds = 3;

const userAgents = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  'python-requests/2.31.0',
  'Go-http-client/1.1',
  'curl/8.5.0',
  '-',
];
const paths = [
  '/',
  '/products',
  '/products/42',
  '/search',
  '/cart',
  '/static/app.js',
  '/static/site.css',
  '/img/logo.png',
];
const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Deterministic pseudo-random numbers (LCG), so every run measures the same lines. */
let seed = 42;
function random(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

function clfTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(
    d.getUTCMinutes(),
  )}:${two(d.getUTCSeconds())} +0000`;
}

function generate(count: number): string {
  const hotClients = Array.from({ length: 20 }, (_, i) => `203.0.113.${i + 1}`);
  const start = Date.UTC(2024, 0, 21, 9, 0, 0);
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    const hot = random() < 0.6;
    const ip = hot
      ? pick(hotClients)
      : `${1 + Math.floor(random() * 223)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}`;
    const path = pick(paths);
    const query = random() < 0.3 ? `?q=${Math.floor(random() * 1e9).toString(36)}` : '';
    const status = random() < 0.9 ? 200 : pick([304, 404, 403, 500, 502]);
    const referer = random() < 0.5 ? '-' : 'https://shop.example/';
    const time = clfTime(start + Math.floor(i / 200) * 1000);
    parts.push(
      `${ip} - - [${time}] "${random() < 0.9 ? 'GET' : 'POST'} ${path}${query} HTTP/1.1" ${status} ${Math.floor(
        random() * 50_000,
      )} "${referer}" "${pick(userAgents)}"\n`,
    );
  }
  return parts.join('');
}

/** Lines as the log source delivers them: each its own flat string decoded from bytes. */
function toLines(text: string): string[] {
  const bytes = Buffer.from(text, 'latin1');
  const lines: string[] = [];
  let start = 0;
  for (let end = bytes.indexOf(10); end >= 0; end = bytes.indexOf(10, start)) {
    lines.push(bytes.toString('latin1', start, end));
    start = end + 1;
  }
  return lines;
}

// The baseline a straightforward implementation would write: one regex for the line, one for the time.
const lineRegex =
  /^(\S+) \S+ \S+ \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"/;
const timeRegex = /^(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;
const monthIndex: Record<string, number> = Object.fromEntries(months.map((m, i) => [m, i]));

function regexParse(line: string): AccessLog | null {
  const m = lineRegex.exec(line);
  if (!m) return null;
  const t = timeRegex.exec(m[2] as string);
  if (!t) return null;
  const offset = (Number(t[8]) * 60 + Number(t[9])) * (t[7] === '-' ? -1 : 1);
  const request = (m[3] as string).split(' ');
  const target = request[1] ?? '';
  const question = target.indexOf('?');
  const record = emptyAccessLog();
  record.time =
    Date.UTC(
      Number(t[3]),
      monthIndex[t[2] as string] ?? 0,
      Number(t[1]),
      Number(t[4]),
      Number(t[5]),
      Number(t[6]),
    ) -
    offset * 60_000;
  record.clientAddress = m[1] as string;
  record.peerAddress = m[1] as string;
  record.method = request[0] ?? '';
  record.path = question < 0 ? target : target.slice(0, question);
  record.query = question < 0 ? null : target.slice(question + 1);
  record.protocol = request[2] ?? null;
  record.status = Number(m[4]);
  record.bytes = m[5] === '-' ? 0 : Number(m[5]);
  record.referer = m[6] === '-' ? null : (m[6] ?? null);
  record.userAgent = m[7] === '-' ? null : (m[7] ?? null);
  return record;
}

const text = generate(lineCount);
const lines = toLines(text);
const dir = mkdtempSync(join(tmpdir(), 'logformat-bench-'));
const file = join(dir, 'access.log');
writeFileSync(file, text);

const combined = createParser('combined');
const generic = createParser(
  `nginx:'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'`,
);

const methods: Array<[string, () => Promise<number> | number]> = [
  [
    'combined (hand-written)',
    () => {
      let ok = 0;
      for (const line of lines) if (!isBadInput(combined.parse(line))) ok++;
      return ok;
    },
  ],
  [
    "nginx:'<combined>' (compiled log_format)",
    () => {
      let ok = 0;
      for (const line of lines) if (!isBadInput(generic.parse(line))) ok++;
      return ok;
    },
  ],
  [
    'regex baseline (same record)',
    () => {
      let ok = 0;
      for (const line of lines) if (regexParse(line)) ok++;
      return ok;
    },
  ],
  [
    'regex match only (no record)',
    () => {
      let ok = 0;
      for (const line of lines) if (lineRegex.exec(line)) ok++;
      return ok;
    },
  ],
  [
    'openLogSource read+split (file)',
    async () => {
      let count = 0;
      for await (const batch of openLogSource(file).batches()) count += batch.length;
      return count;
    },
  ],
];

const best = new Map<string, number>();
for (let round = 0; round < rounds; round++) {
  for (const [name, run] of methods) {
    const started = performance.now();
    const count = await run();
    const seconds = (performance.now() - started) / 1000;
    if (count !== lines.length) throw new Error(`${name}: handled ${count} of ${lines.length} lines`);
    best.set(name, Math.max(best.get(name) ?? 0, lines.length / seconds));
  }
}
rmSync(dir, { recursive: true, force: true });

const baseline = best.get('regex baseline (same record)') ?? 1;
console.log(
  `${lines.length} combined lines (${(text.length / 1e6).toFixed(1)} MB), best of ${rounds} rounds, node ${process.version}`,
);
for (const [name] of methods) {
  const rate = best.get(name) ?? 0;
  console.log(
    `${name.padEnd(42)} ${Math.round(rate).toLocaleString('en-US').padStart(11)} lines/s  ${(rate / baseline).toFixed(2)}× baseline`,
  );
}
