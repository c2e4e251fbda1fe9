/**
 * Writes the detection fixtures under test/fixtures/<behaviour>/: an access log (nginx combined,
 * or nginx-main with X-Forwarded-For) and expect.json with the decisions it MUST and MUST NOT
 * produce. Each fixture is one behaviour, written out request by request below so that a reader
 * can check the log against the story. Deterministic: re-running rewrites identical files.
 *
 *   node --import tsx packages/pipeline/scripts/make-fixtures.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';

const root = new URL('../test/fixtures/', import.meta.url);
const START = Date.UTC(2024, 0, 21, 9, 0, 0);
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
const SAFARI =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15';
const SWARM_CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36';
const STUFFER =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36';
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const UPTIMEROBOT = 'Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)';

interface Line {
  at: number; // ms after START
  ip: string;
  method?: string;
  path: string;
  /** The request field as logged when it is not an HTTP request line (`method` and `path` unused). */
  raw?: string;
  status?: number;
  bytes?: number;
  referer?: string;
  ua: string;
  xff?: string;
}

function timeLocal(ms: number): string {
  const d = new Date(START + ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

function combined(l: Line): string {
  const request = l.raw ?? `${l.method ?? 'GET'} ${l.path} HTTP/1.1`;
  return `${l.ip} - - [${timeLocal(l.at)}] "${request}" ${l.status ?? 200} ${l.bytes ?? 5120} "${l.referer ?? '-'}" "${l.ua}"`;
}

function nginxMain(l: Line): string {
  return `${combined(l)} "${l.xff ?? '-'}"`;
}

interface Expectation {
  description: string;
  format: 'combined' | 'nginx-main';
  trustedProxies?: string[];
  allowlist?: string[];
  /** Decisions that must be published (key may end in `*`: any key with that prefix). */
  must: { key: string; action?: string | string[]; reason?: string }[];
  /** Keys (or `prefix*`) that must never be published. */
  mustNot: string[];
  /** Final verdicts per address: an action, `allow`, or `caught` (block or challenge). */
  verdicts: Record<string, string>;
}

function write(name: string, lines: Line[], expectation: Expectation): void {
  const dir = new URL(`${name}/`, root);
  mkdirSync(dir, { recursive: true });
  const format = expectation.format === 'combined' ? combined : nginxMain;
  const sorted = [...lines].sort((a, b) => a.at - b.at || a.ip.localeCompare(b.ip));
  writeFileSync(new URL('access.log', dir), `${sorted.map(format).join('\n')}\n`);
  writeFileSync(new URL('expect.json', dir), `${JSON.stringify(expectation, null, 2)}\n`);
}

/** A person: a page, its assets with the page as referer, think time, next page. */
function browse(ip: string, ua: string, from: number, pages: string[], thinkMs = 20_000): Line[] {
  const out: Line[] = [];
  let at = from;
  for (const [i, page] of pages.entries()) {
    out.push({
      at,
      ip,
      path: page,
      ua,
      referer: i === 0 ? 'https://www.google.com/' : `https://shop.example${pages[i - 1]}`,
    });
    const image = `/img${page.split('?')[0]}-${i}.webp`;
    const assets = i === 0 ? ['/static/app.css', '/static/app.js', '/static/logo.svg', image] : [image];
    for (const [k, asset] of assets.entries()) {
      out.push({ at: at + 120 + k * 30, ip, path: asset, ua, referer: `https://shop.example${page}` });
    }
    at += thinkMs + ((i * 7_919) % 9_000);
  }
  return out;
}

const human = (ip: string, from = 0) =>
  browse(ip, FIREFOX, from, ['/', '/category/shoes', '/products/12', '/products/31', '/cart', '/products/7']);

// 1. Scanner: a burst of probes for secrets and admin panels, mostly 404.
write(
  'scanner',
  [
    ...[
      '/.env',
      '/.git/config',
      '/wp-login.php',
      '/phpmyadmin/',
      '/backup.sql',
      '/.aws/credentials',
      '/config.json',
      '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php',
    ].map((path, i) => ({
      at: 5_000 + i * 400,
      ip: '192.0.2.66',
      path,
      status: 404,
      ua: 'Mozilla/5.0 zgrab/0.x',
    })),
    ...human('198.51.100.20'),
  ],
  {
    description:
      'A burst of probes for .env, .git, wp-login, phpmyadmin... from one address; a person browses beside it.',
    format: 'combined',
    must: [{ key: 'ip:192.0.2.66', action: 'block', reason: 'scanner' }],
    mustNot: ['ip:198.51.100.20', 'fp:*', 'range:*'],
    verdicts: { '192.0.2.66': 'block', '198.51.100.20': 'allow' },
  },
);

// 2. Credential stuffing from one address.
write(
  'credential-stuffing-single',
  Array.from({ length: 10 }, (_, i) => ({
    at: i * 3_000,
    ip: '192.0.2.77',
    method: 'POST',
    path: '/login',
    status: 401,
    ua: STUFFER,
  })),
  {
    description: 'Ten failed login POSTs in 30 s from one address.',
    format: 'combined',
    must: [{ key: 'ip:192.0.2.77', action: 'block', reason: 'credential-stuffing' }],
    mustNot: ['range:*'],
    verdicts: { '192.0.2.77': 'block' },
  },
);

// 3. Credential stuffing spread over 60 addresses, 1–2 attempts each, one tool.
{
  const lines: Line[] = [];
  const ips: string[] = [];
  for (let i = 0; i < 60; i++) {
    const ip = `198.18.${(i * 37) % 250}.${((i * 91) % 250) + 2}`;
    ips.push(ip);
    const attempts = 1 + (i % 2);
    for (let a = 0; a < attempts; a++) {
      lines.push({
        at: i * 4_000 + a * 20_000,
        ip,
        method: 'POST',
        path: '/login',
        status: 401,
        ua: STUFFER,
      });
    }
  }
  lines.push(...human('198.51.100.21', 10_000));
  write('credential-stuffing-distributed', lines, {
    description:
      'Sixty addresses, one or two failed logins each over four minutes, all with one tool fingerprint.',
    format: 'combined',
    must: [{ key: 'fp:*', action: 'block', reason: 'credential-stuffing' }],
    mustNot: ['ip:198.51.100.21', 'range:*'],
    // The first few addresses come before the fingerprint is judged; the last ones are covered.
    verdicts: Object.fromEntries([...ips.slice(-40).map((ip) => [ip, 'block']), ['198.51.100.21', 'allow']]),
  });
}

// 4. Repetition: one address on three pages, twice a second, no assets.
write(
  'repetition',
  [
    ...Array.from({ length: 120 }, (_, i) => ({
      at: i * 500,
      ip: '203.0.113.9',
      path: ['/deals', '/products/18', '/blog/winter-sale-2024.html'][i % 3]!,
      ua: SWARM_CHROME,
    })),
    ...human('198.51.100.22'),
  ],
  {
    description: 'One address asks for the same three pages twice a second for a minute, loading no assets.',
    format: 'combined',
    must: [{ key: 'ip:203.0.113.9', action: ['block', 'challenge'], reason: 'repetition' }],
    mustNot: ['ip:198.51.100.22'],
    verdicts: { '203.0.113.9': 'caught', '198.51.100.22': 'allow' },
  },
);

// 5. Cache-busting: a random query string on every request to one product page.
write(
  'cache-bust',
  Array.from({ length: 60 }, (_, i) => ({
    at: i * 1_000,
    ip: '203.0.113.50',
    path: `/products/18?_=${1705827600000 + i * 1_003 + ((i * 7_919) % 997)}`,
    ua: SWARM_CHROME,
  })),
  {
    description:
      'One address requests /products/18?_=<epoch ms> once a second: every request a new cache key.',
    format: 'combined',
    must: [{ key: 'ip:203.0.113.50', action: ['block', 'challenge'], reason: 'cache-bust' }],
    mustNot: [],
    verdicts: { '203.0.113.50': 'caught' },
  },
);

// 6. Scraper: distinct product pages, three a second, python-requests.
write(
  'scraper',
  Array.from({ length: 180 }, (_, i) => ({
    at: i * 333,
    ip: '203.0.113.70',
    path: `/products/${1000 + i}`,
    ua: 'python-requests/2.31.0',
  })),
  {
    description: 'One address walks distinct product pages, three a second, no assets, no referer.',
    format: 'combined',
    must: [{ key: 'ip:203.0.113.70', action: ['block', 'challenge'], reason: 'scraper' }],
    mustNot: ['fp:*'],
    verdicts: { '203.0.113.70': 'caught' },
  },
);

// 7. Fake crawler vs the real one.
write(
  'fake-crawler',
  [
    ...Array.from({ length: 150 }, (_, i) => ({
      at: i * 400,
      ip: '45.148.10.20',
      path: `/products/${i}`,
      ua: GOOGLEBOT,
    })),
    { at: 0, ip: '66.249.66.1', path: '/robots.txt', ua: GOOGLEBOT },
    ...Array.from({ length: 12 }, (_, i) => ({
      at: 2_000 + i * 5_000,
      ip: '66.249.66.1',
      path: `/category/${i}`,
      ua: GOOGLEBOT,
    })),
  ],
  {
    description:
      'A Googlebot UA from a hosting address scraping fast; the real Googlebot (published range) crawling politely.',
    format: 'combined',
    must: [{ key: 'ip:45.148.10.20', action: 'block', reason: 'fake-crawler' }],
    mustNot: ['ip:66.249.66.1', 'fp:*', 'range:66.249.66.0/24'],
    verdicts: { '45.148.10.20': 'block', '66.249.66.1': 'allow' },
  },
);

// 8. The swarm: 30 hosting addresses, one UA, three hot pages, one request a second each.
{
  const lines: Line[] = [];
  const bots: string[] = [];
  for (let b = 0; b < 30; b++) {
    const ip = `203.0.113.${b + 10}`;
    bots.push(ip);
    for (let s = 0; s < 90; s++) {
      lines.push({
        at: b * 700 + s * 1_000,
        ip,
        path: ['/deals', '/products/18', '/'][(s + b) % 3]!,
        ua: SWARM_CHROME,
      });
    }
  }
  lines.push(
    ...human('198.51.100.23', 5_000),
    ...browse('198.51.100.24', SAFARI, 8_000, ['/', '/deals', '/products/18', '/cart']),
  );
  write('swarm', lines, {
    description:
      'Thirty addresses of one hosting /24 with one exact Chrome UA hammer three pages; two people browse the same pages.',
    format: 'combined',
    must: [
      { key: 'ip:203.0.113.10', action: ['block', 'challenge'] },
      { key: 'range:203.0.113.0/24', action: 'challenge' },
      { key: 'fp:*' },
    ],
    mustNot: ['ip:198.51.100.23', 'ip:198.51.100.24', 'range:198.51.100.0/24'],
    verdicts: Object.fromEntries([
      ...bots.map((ip) => [ip, 'caught']),
      ['198.51.100.23', 'allow'],
      ['198.51.100.24', 'allow'],
    ]),
  });
}

// 9. Residential swarm: short bursts from scattered addresses, alongside a few flagged hosting bots.
{
  const lines: Line[] = [];
  const exits: string[] = [];
  for (let b = 0; b < 6; b++) {
    for (let s = 0; s < 150; s++) {
      lines.push({
        at: s * 1_000 + b * 300,
        ip: `192.0.2.${b + 100}`,
        path: ['/deals', '/products/18'][(s + b) % 2]!,
        ua: SWARM_CHROME,
      });
    }
  }
  for (let r = 0; r < 80; r++) {
    const ip = `${71 + (r % 20)}.${(r * 53) % 250}.${(r * 29) % 250}.${((r * 17) % 250) + 1}`;
    exits.push(ip);
    const from = 20_000 + r * 1_500;
    for (let k = 0; k < 5; k++)
      lines.push({ at: from + k * 2_000, ip, path: ['/deals', '/products/18'][k % 2]!, ua: SWARM_CHROME });
  }
  lines.push(...human('198.51.100.25', 3_000));
  write('residential-swarm', lines, {
    description:
      'Eighty residential addresses, five requests each within ten seconds, the swarm UA and hot pages; a few hosting bots do the same for minutes.',
    format: 'combined',
    must: [{ key: 'ip:192.0.2.100', action: ['block', 'challenge'] }],
    mustNot: ['ip:198.51.100.25'],
    verdicts: Object.fromEntries([...exits.slice(5).map((ip) => [ip, 'caught']), ['198.51.100.25', 'allow']]),
  });
}

// 10. NAT: one address, forty people browsing at once, many browsers.
{
  const lines: Line[] = [];
  for (let p = 0; p < 40; p++) {
    const ua =
      p % 2 ? `Mozilla/5.0 (X11; Linux x86_64; rv:${100 + p}.0) Gecko/20100101 Firefox/${100 + p}.0` : SAFARI;
    lines.push(
      ...browse(
        '100.64.10.1',
        ua,
        p * 2_500,
        ['/', '/deals', `/products/${p}`, '/products/18', '/cart'],
        8_000,
      ),
    );
  }
  write('nat', lines, {
    description:
      'Forty people behind one carrier-grade NAT address: the busiest client, with repeats of popular pages and assets.',
    format: 'combined',
    must: [],
    mustNot: ['ip:100.64.10.1', 'range:*'],
    verdicts: { '100.64.10.1': 'allow' },
  });
}

// 11. Uptime monitor: GET /health every 30 s for 20 minutes.
write(
  'monitor',
  Array.from({ length: 40 }, (_, i) => ({
    at: i * 30_000,
    ip: '192.0.2.200',
    path: '/health',
    ua: UPTIMEROBOT,
  })),
  {
    description:
      'An uptime monitor checks /health every 30 seconds: perfectly regular, perfectly repetitive, and legitimate.',
    format: 'combined',
    must: [],
    mustNot: ['ip:192.0.2.200', 'fp:*'],
    verdicts: { '192.0.2.200': 'allow' },
  },
);

// 12. Mobile app: 30 devices polling an API with a changing since= every 30 s.
{
  const lines: Line[] = [];
  for (let d = 0; d < 30; d++) {
    const ip = `172.56.${d}.${((d * 7) % 250) + 1}`;
    for (let k = 0; k < 16; k++) {
      const at = d * 1_000 + k * 30_000;
      lines.push({
        at,
        ip,
        path: `/api/v1/feed?since=${Math.floor((START + at - 30_000) / 1000)}&device=d${d}`,
        ua: 'okhttp/4.12.0',
      });
    }
  }
  write('mobile-app', lines, {
    description:
      'Thirty app devices poll /api/v1/feed?since=<epoch>&device=<id> every 30 s: a new query each time, low rate, legitimate.',
    format: 'combined',
    must: [],
    mustNot: ['ip:*', 'fp:*', 'range:*'],
    verdicts: { '172.56.0.1': 'allow', '172.56.29.204': 'allow' },
  });
}

// 13. Allowlist wins: the same scanner, but its range is allowlisted.
write(
  'allowlist',
  ['/.env', '/.git/config', '/wp-login.php', '/phpmyadmin/', '/backup.sql', '/.aws/credentials'].map(
    (path, i) => ({
      at: i * 400,
      ip: '192.0.2.66',
      path,
      status: 404,
      ua: 'Mozilla/5.0 zgrab/0.x',
    }),
  ),
  {
    description: 'A scanner from an allowlisted range (our own security scanner): never decided.',
    format: 'combined',
    allowlist: ['192.0.2.0/24'],
    must: [],
    mustNot: ['ip:*', 'fp:*', 'range:*'],
    verdicts: { '192.0.2.66': 'allow' },
  },
);

// 14. Spoofed X-Forwarded-For: the scanner claims to be its victim.
write(
  'xff-spoof',
  [
    ...['/.env', '/.git/config', '/wp-login.php', '/phpmyadmin/', '/backup.sql', '/.aws/credentials'].map(
      (path, i) => ({
        at: 2_000 + i * 400,
        ip: '10.0.0.5',
        xff: '198.51.100.26, 192.0.2.99',
        path,
        status: 404,
        ua: 'Go-http-client/1.1',
      }),
    ),
    ...human('10.0.0.6').map((l) => ({ ...l, xff: '198.51.100.26' })),
  ],
  {
    description:
      'Behind a trusted load balancer, a scanner sends X-Forwarded-For: <victim>; the LB appends the real address. The victim browses too.',
    format: 'nginx-main',
    trustedProxies: ['10.0.0.0/8'],
    must: [{ key: 'ip:192.0.2.99', action: 'block', reason: 'scanner' }],
    mustNot: ['ip:198.51.100.26', 'ip:10.0.0.5', 'ip:10.0.0.6'],
    verdicts: { '192.0.2.99': 'block', '198.51.100.26': 'allow' },
  },
);

// 15. A site that routes its content through query strings (Joomla: /index.php?option=...&id=N).
{
  const article = (n: number) => `/index.php?option=com_content&view=article&id=${n}&Itemid=${50 + (n % 5)}`;
  const lines: Line[] = browse(
    '198.51.100.27',
    FIREFOX,
    0,
    Array.from({ length: 14 }, (_, i) => article(i + 1)),
    6_000,
  );
  lines.push(
    ...Array.from({ length: 45 }, (_, i) => ({
      at: 1_000 + i * 3_000,
      ip: '94.130.219.236',
      path: article(100 + i),
      ua: 'Mozilla/5.0 (compatible; BLEXBot/1.0; +http://webmeup-crawler.com/)',
    })),
  );
  write('query-routed-site', lines, {
    description:
      'Articles live at /index.php?...&id=N and the log has no cache status: a reader and a polite SEO crawler get new query strings on one path all the time, which is not cache-busting.',
    format: 'combined',
    must: [],
    mustNot: ['ip:*', 'fp:*'],
    verdicts: { '198.51.100.27': 'allow', '94.130.219.236': 'allow' },
  });
}

// 16. Requests that are not HTTP: a scanner tries other protocols on the HTTP port (nginx logs
// what it received, escaped, with a 400); a person's browser leaves `-` lines (preconnections
// it never used) and a misconfigured client retries a TLS handshake on the plain port.
{
  // A TLS ClientHello as nginx logs it: the same first bytes, then the random ones.
  const hello = (n: number) =>
    `\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03\\x${(16 + n).toString(16).toUpperCase()}\\x9A\\x${(32 + 3 * n).toString(16).toUpperCase()}`;
  const probes = [
    hello(0),
    '\\x03\\x00\\x00/*\\xE0\\x00\\x00\\x00\\x00\\x00Cookie: mstshash=Administr',
    'SSH-2.0-Go',
    'HELP',
    'Gh0st\\xAD\\x00\\x00\\x00\\xE0\\x00\\x00\\x00x\\x9CKS',
    'batman',
  ];
  const lines: Line[] = [
    ...probes.map((raw, i) => ({
      at: 4_000 + i * 700,
      ip: '192.0.2.91',
      path: '',
      raw,
      status: 400,
      bytes: 157,
      ua: '-',
    })),
    ...human('198.51.100.31'),
    ...[0, 41_000, 83_000].map((at) => ({
      at: at + 9_000,
      ip: '198.51.100.31',
      path: '',
      raw: '-',
      status: 400,
      bytes: 0,
      ua: '-',
    })),
    ...Array.from({ length: 6 }, (_, i) => ({
      at: 2_000 + i * 20_000,
      ip: '198.51.100.32',
      path: '',
      raw: hello(i + 1),
      status: 400,
      bytes: 157,
      ua: '-',
    })),
  ];
  write('non-http-probes', lines, {
    description:
      'One address sends six kinds of non-HTTP probes (TLS, RDP, SSH, Gh0st, lone words) to the HTTP port; a person leaves "-" lines; a misconfigured client retries one TLS handshake: only the prober is a scanner.',
    format: 'combined',
    must: [{ key: 'ip:192.0.2.91', action: 'block', reason: 'scanner' }],
    mustNot: ['ip:198.51.100.31', 'ip:198.51.100.32', 'fp:*', 'range:*'],
    verdicts: { '192.0.2.91': 'block', '198.51.100.31': 'allow', '198.51.100.32': 'allow' },
  });
}

// 17. A scanner that names itself: Nikto and Nuclei fetch ordinary pages (nothing on the sensitive
// lists); curl, a tool but no scanner, fetches the same pages; an authorised Nmap scan comes
// from an allowlisted address.
{
  const pages = ['/', '/products/12', '/cart', '/category/shoes'];
  const fetch = (ip: string, ua: string, from: number): Line[] =>
    pages.map((path, i) => ({ at: from + i * 1_500, ip, path, status: 200, ua }));
  write(
    'scanner-tool',
    [
      ...fetch('192.0.2.101', 'Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:map_codes)', 3_000),
      ...fetch(
        '192.0.2.102',
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.169 Safari/537.36 Nuclei',
        5_000,
      ),
      ...fetch('198.51.100.41', 'curl/8.5.0', 4_000),
      ...fetch(
        '203.0.113.50',
        'Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)',
        6_000,
      ),
    ],
    {
      description:
        'Nikto and Nuclei, named in their user agents, fetch ordinary pages: scanners by name; curl fetching the same is not; an allowlisted Nmap scan is not decided.',
      format: 'combined',
      allowlist: ['203.0.113.50'],
      must: [
        { key: 'ip:192.0.2.101', action: 'block', reason: 'scanner' },
        { key: 'ip:192.0.2.102', action: 'block', reason: 'scanner' },
      ],
      mustNot: ['ip:198.51.100.41', 'ip:203.0.113.50', 'fp:*', 'range:*'],
      verdicts: {
        '192.0.2.101': 'block',
        '192.0.2.102': 'block',
        '198.51.100.41': 'allow',
        '203.0.113.50': 'allow',
      },
    },
  );
}

// 18. A WordPress site: its editor works in /wp-admin (pages, the admin's own scripts and assets,
// all answered 200); a scanner looks for vulnerable plugins (404s) and for copies of wp-config.php.
{
  const editor = browse('198.51.100.51', FIREFOX, 0, [
    '/wp-admin/',
    '/wp-admin/edit.php',
    '/wp-admin/post.php?post=12&action=edit',
    '/wp-admin/upload.php',
    '/wp-admin/options-general.php',
    '/wp-admin/plugins.php',
    '/wp-admin/users.php',
  ]);
  editor.push(
    ...Array.from({ length: 6 }, (_, i) => ({
      at: 3_000 + i * 15_000,
      ip: '198.51.100.51',
      method: 'POST',
      path: '/wp-admin/admin-ajax.php',
      referer: 'https://shop.example/wp-admin/post.php?post=12&action=edit',
      ua: FIREFOX,
    })),
  );
  const probes = [
    '/wp-content/plugins/adminimize/adminimize_page.php',
    '/wp-content/plugins/blocksy-companion/readme.txt',
    '/wp-content/plugins/wp-file-manager/lib/php/connector.minimal.php',
    '/wp-config.php.bak',
    '/.wp-config.php.swp',
  ].map((path, i) => ({
    at: 20_000 + i * 900,
    ip: '192.0.2.111',
    path,
    status: 404,
    ua: 'Go-http-client/1.1',
  }));
  write('wordpress', [...editor, ...probes], {
    description:
      'A WordPress editor in /wp-admin (all answered 200) is no scanner; an address probing for plugins (404) and wp-config.php copies is.',
    format: 'combined',
    must: [{ key: 'ip:192.0.2.111', action: 'block', reason: 'scanner' }],
    mustNot: ['ip:198.51.100.51', 'fp:*', 'range:*'],
    verdicts: { '198.51.100.51': 'allow', '192.0.2.111': 'block' },
  });
}

console.log('fixtures written to', root.pathname);
