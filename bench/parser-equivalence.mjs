#!/usr/bin/env node
// Old vs new CLF parser and line splitter, record by record:
//   node bench/parser-equivalence.mjs <baseline checkout> [log...]
// <baseline checkout> is a built checkout of the commit to compare with (e.g. a detached worktree
// of main with `npx turbo run build`); this checkout's build is the new side. Default logs: the
// 1M-line bench log and every log file under ../shared/data (see its README). Every line is
// parsed with combined, nginx-main (with and without trusted proxies), apache and compiled nginx
// log_formats (combined's, the demo's, escape=json and =none, small caps, the request in parts,
// unknown variables, a literal prefix, times the lines do not hold, a hostile format string) by
// both builds;
// records must match field by field (value and key order) and rejections by reason, field,
// message and location. The new side parses each line with its batch's `plain` mark (a mutated
// line: plain when it is ASCII without NUL and backslash), the old side without. Lines are also mutated (cut, characters replaced, escapes and odd times
// inserted) to reach the rejection and unescaping paths that well-formed logs never take. Each
// file is also split by both builds' openLogSource and the lines compared. Exits 1 on a
// difference, printing the first few.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const [baseArg, ...logArgs] = process.argv.slice(2);
if (!baseArg) {
  process.stderr.write('usage: node bench/parser-equivalence.mjs <baseline checkout> [log...]\n');
  process.exit(2);
}
const distOf = (checkout) => join(resolve(checkout), 'packages/logformat/dist/index.js');
const next = await import(distOf(root));
const base = await import(distOf(baseArg));

function defaultLogs() {
  const logs = [join(here, 'out/bench-1000000-100000.log')].filter((path) => existsSync(path));
  const data = resolve(root, '../shared/data');
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      // Logs, fail2ban's sample logs (files in logs/) and Wazuh's cases (log lines in an .ini).
      else if (/\.log$|apache_logs$|\.ini$|\/logs\/[^/]+$/.test(path)) logs.push(path);
    }
  };
  for (const folder of [
    'elastic-apache-logs',
    'almhuette-raith-10k',
    'crowdsec-hub-tests',
    'fail2ban-http-tests',
    'wazuh-web-rules-tests',
  ]) {
    if (existsSync(join(data, folder))) walk(join(data, folder));
  }
  return logs;
}

const DEMO =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" $host $request_time $upstream_response_time $upstream_cache_status "$http_accept_language"';
const configs = [
  ['combined', {}],
  ['nginx-main', {}],
  ['nginx-main', { trustedProxies: ['10.0.0.0/8', '0.0.0.0/0', '::/0'] }],
  ['apache', {}],
  ['combined', { maxFieldLength: 64, maxLineLength: 180 }],
  // The compiled log_format parser shares the time reader and the request-line reader.
  [
    'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"',
    {},
  ],
  // The demo's format (packages/testkit/fixtures/demo.config.json): durations, cache status, host,
  // X-Forwarded-For behind a trusted proxy.
  [
    'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" $host $request_time $upstream_response_time $upstream_cache_status "$http_accept_language"',
    { trustedProxies: ['10.0.0.0/8'] },
  ],
  [
    'nginx:escape=json $remote_addr [$time_local] "$request" $status $bytes_sent $request_time "$http_user_agent"',
    {},
  ],
  // The demo's format unescaped, and with small caps (fields cut, X-Forwarded-For's hops kept).
  [`nginx:escape=none ${DEMO}`, { trustedProxies: ['10.0.0.0/8'] }],
  [`nginx:${DEMO}`, { trustedProxies: ['10.0.0.0/8'], maxFieldLength: 24, maxLineLength: 300 }],
  // The request in parts, $http_host, $bytes_sent: the demo's lines, other variables.
  [
    'nginx:$remote_addr - $remote_user [$time_local] "$request_method $request_uri $server_protocol" $status $bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" $http_host $request_time $upstream_response_time $upstream_cache_status "$http_accept_language"',
    {},
  ],
  [
    'nginx:$remote_addr - $remote_user [$time_local] "$request_method $uri?$args $server_protocol" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" $server_name $request_time',
    {},
  ],
  // Unknown variables and other $http_NAME (read, not kept); the last variable runs to the end.
  [
    // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx's ${var} syntax, not a JS template
    'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_x_custom" "$http_user_agent" "$sent_http_x" ${foo} $bar $request_time $upstream_response_time $upstream_cache_status $http_accept_language',
    { trustedProxies: ['0.0.0.0/0'] },
  ],
  // Literal prefix and suffix (the address's first digit is the prefix).
  [
    // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx's ${var} syntax, not a JS template
    'nginx:1${remote_addr} - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "-',
    {},
  ],
  // Times that these lines do not hold: every line rejected, the messages compared.
  [
    'nginx:$remote_addr - $remote_user [$time_iso8601] "$request" $status $bytes_sent "$request_id" $hostname',
    {},
  ],
  [
    'nginx:$remote_addr - $remote_user [$msec] "$request" $status "$http_x_request_id" $http_ssl_ja3_hash',
    {},
  ],
  // A hostile format string: quotes, backticks, `${`, a newline and a comment end are literals.
  [
    // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx's ${var} syntax, not a JS template
    'nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" `${a-b}*/\'\n\\$"',
    {},
  ],
];
const pairs = configs.map(([format, options]) => ({
  name: `${format}${Object.keys(options).length ? JSON.stringify(options) : ''}`,
  next: next.createParser(format, options),
  base: base.createParser(format, options),
}));

let compared = 0;
let differences = 0;
const describe = (value) =>
  value instanceof Error || value?.constructor?.name === 'BadInput'
    ? `BadInput ${JSON.stringify({ reason: value.reason, field: value.field, message: value.message, location: value.location })}`
    : JSON.stringify({ keys: Object.keys(value).join(','), ...value });

function compareLine(line, location, plain) {
  for (const pair of pairs) {
    compared++;
    const a = describe(pair.base.parse(line, location));
    const b = describe(pair.next.parse(line, location, plain));
    if (a !== b && ++differences <= 10) {
      process.stdout.write(
        `DIFF ${pair.name} ${location}\n  line ${JSON.stringify(line)}\n  old  ${a}\n  new  ${b}\n`,
      );
    }
  }
}

/** Deterministic pseudo-random numbers, so every run checks the same mutations. */
let seed = 12345;
const random = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};
const pieces = [
  '"',
  '\\',
  ' ',
  '[',
  ']',
  ':',
  '/',
  '-',
  '0',
  '9',
  'x',
  '%',
  '\t',
  '\0',
  '\ufffd',
  '\\x41',
  '\\xe2\\x82\\xac',
  '\\xff',
  '\\"',
  '\\\\',
  '\\u0041',
  '\\n',
  '::',
  '.',
  'é',
  '?',
  'H',
];
const times = [
  '31/Feb/2024:00:00:00 +0000',
  '29/Feb/2024:23:59:60 -0130',
  '01/jan/1970:00:00:00 +2359',
  '01/Jan/1969:00:00:00 +0000',
  '21/Jan/2024:09:30:12 +00:00',
  '21/Jan/2024:24:00:00 +0000',
  '21/Jan/9999:00:00:00 +0000',
  '21/Xyz/2024:09:30:12 +0000',
  '21/Jan/2024:09:60:12 +0000',
  '21/Jan/2024:09:30:12 +0060',
  '21/Jan/2024:09:30:12+0000 ',
  '21/Jan/2024:09:30:1a +0000',
  '2x/Jan/2024:09:30:12 +0000',
];
const addresses = [
  '2001:db8::1',
  '2001:DB8::1',
  '2001:db8:0:0:1:0:0:1',
  '2001:db8::0:1',
  '::1',
  '::',
  '::ffff:1.2.3.4',
  '::ffff:102:304',
  '1::',
  'fe80::1%eth0',
  '2001:0db8::1',
  '1:2:3:4:5:6:7:8',
  '1:0:0:2:0:0:0:3',
  '1:0:0:2::3',
  '0:0:1::',
  '::2:0:0:1',
  '1.2.3.4',
  '01.2.3.4',
  '1.2.3',
  '[::1]',
  'host.example:443 1.2.3.4',
  '1:2:3:4:5:6:7::',
  '::1:2:3:4:5:6:7',
  '1:2:3:4:5:6::7:8',
];

function mutations(line) {
  const out = [];
  const at = () => Math.floor(random() * (line.length + 1));
  for (let k = 0; k < 3; k++) out.push(line.slice(0, at()));
  for (let k = 0; k < 4; k++) {
    const i = at();
    const piece = pieces[Math.floor(random() * pieces.length)];
    out.push(line.slice(0, i) + piece + line.slice(random() < 0.5 ? i : i + 1));
  }
  const open = line.indexOf('[');
  const close = line.indexOf(']');
  if (open > 0 && close > open) {
    out.push(`${line.slice(0, open + 1)}${times[Math.floor(random() * times.length)]}${line.slice(close)}`);
  }
  const space = line.indexOf(' ');
  if (space > 0) out.push(addresses[Math.floor(random() * addresses.length)] + line.slice(space));
  return out;
}

async function allLines(module, path, plains = []) {
  const lines = [];
  for await (const batch of module.openLogSource(path).batches()) {
    for (const line of batch) {
      lines.push(line);
      plains.push(batch.plain === true);
    }
  }
  return lines;
}
// ASCII without NUL and backslash (LineBatch.plain).
const PLAIN = /^[\x01-\x5b\x5d-\x7f]*$/;

const started = performance.now();
for (const path of logArgs.length ? logArgs : defaultLogs()) {
  const plains = [];
  const lines = await allLines(next, path, plains);
  const oldLines = await allLines(base, path);
  if (lines.length !== oldLines.length || lines.some((line, i) => line !== oldLines[i])) {
    differences++;
    process.stdout.write(`DIFF openLogSource ${path}: the lines differ\n`);
  }
  // Mutate every line of small files, every 50th of big ones (the bench log: 20k lines, 200k variants).
  const every = lines.length > 100_000 ? 50 : 1;
  for (let i = 0; i < lines.length; i++) {
    compareLine(lines[i], `${path}:${i + 1}`, plains[i]);
    if (i % every === 0) {
      for (const variant of mutations(lines[i]))
        compareLine(variant, `${path}:${i + 1}~`, PLAIN.test(variant));
    }
  }
  process.stdout.write(
    `${path}: ${lines.length.toLocaleString()} lines, ${compared.toLocaleString()} parses compared so far, ${differences} differences\n`,
  );
}
process.stdout.write(
  `${compared.toLocaleString()} parses compared (${pairs.length} parser configurations), ${differences} differences, ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
);
process.exit(differences === 0 ? 0 : 1);
