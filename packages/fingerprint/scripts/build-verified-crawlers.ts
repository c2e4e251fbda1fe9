/**
 * Builds src/generated/verified-crawlers.data.ts from the range files in data/.
 *
 *   node --import tsx packages/fingerprint/scripts/build-verified-crawlers.ts [--copy-from <sec-lists>]
 *
 * --copy-from first refreshes data/ from a checkout of crowdsecurity/sec-lists (its `whitelists/`
 * folder); update the commit in data/verified-crawlers/SOURCE.md when you do.
 * Inputs (origin and licence: the SOURCE.md beside each data folder):
 * - data/verified-crawlers/<id>.json: crowdsec's `{name, user_agent, ranges?, rdns?}` after a `#` comment line;
 * - data/verified-crawlers/google_special_crawlers_ipv{4,6}.txt and rnds_seo_bots.regex;
 * - data/verified-crawlers/documented-ranges.json: Googlebot and Bingbot ranges written by hand
 *   from the operators' published lists;
 * - data/cdn-providers/*.txt: one address or CIDR per line.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * crowdsec file id → the crawler name our UA classifier reports, plus UA tokens crowdsec does not
 * list for that operator. A new file in data/ must be named here: the build fails otherwise.
 */
const OPERATORS: Record<string, { name: string; extraTokens?: string[] }> = {
  amazonbot: { name: 'Amazonbot' },
  applebot: { name: 'Applebot' },
  babbar: { name: 'Barkrowler' },
  baidu: { name: 'Baiduspider' },
  bingbot: { name: 'bingbot', extraTokens: ['msnbot'] },
  cookiebot: { name: 'Cookiebot' },
  datadog: { name: 'Datadog' },
  discord: { name: 'Discordbot' },
  duckduckbot: { name: 'DuckDuckBot' },
  // Google's special-case crawlers run from the ranges in google_special_crawlers_*.txt; they are
  // folded into one Google entry so that no Google crawler is ever judged by the wrong list.
  googlebot: {
    name: 'Googlebot',
    extraTokens: [
      'adsbot-google',
      'mediapartners-google',
      'apis-google',
      'google-safety',
      'google-inspectiontool',
      'googleother',
      'storebot-google',
    ],
  },
  gptbot: { name: 'GPTBot' },
  meta: { name: 'facebookexternalhit' },
  'openai-chatgpt-user': { name: 'ChatGPT-User' },
  'openai-searchbot': { name: 'OAI-SearchBot' },
  pagerduty: { name: 'PagerDuty-Webhook' },
  perplexitybot: { name: 'PerplexityBot' },
  pinterest: { name: 'Pinterestbot' },
  qwant: { name: 'Qwantify' },
  sogou: { name: 'Sogou' },
  telegram: { name: 'TelegramBot' },
  twitterbot: { name: 'Twitterbot' },
  uptimerobot: { name: 'UptimeRobot' },
  yahoo: { name: 'Yahoo! Slurp' },
  yandex: { name: 'YandexBot' },
};

const CDN_PROVIDERS: Record<string, string> = {
  arvancloud_ips: 'ArvanCloud',
  aws_cloudfront_ipv4: 'CloudFront',
  aws_cloudfront_ipv6: 'CloudFront',
  cloudflare_ips: 'Cloudflare',
  cloudflare_ip6s: 'Cloudflare',
  gcore_ipv4: 'Gcore',
  gcore_ipv6: 'Gcore',
  quic_cloud_ips: 'QUIC.cloud',
};

export interface BuiltCrawler {
  name: string;
  id: string;
  userAgentTokens: string[];
  ranges: string[];
  hostnamePatterns: string[];
  source: string;
}

/** Non-comment, non-empty lines of a list file. */
function listLines(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

const CIDR_TEXT = /^[0-9a-f:.]+(\/\d{1,3})?$/i;

function checkedRanges(ranges: string[], where: string): string[] {
  for (const range of ranges) {
    if (!CIDR_TEXT.test(range)) throw new Error(`${where}: "${range}" is not an address or CIDR`);
  }
  return ranges;
}

export function buildCrawlers(dataDir = join(packageDir, 'data')): BuiltCrawler[] {
  const dir = join(dataDir, 'verified-crawlers');
  const documented = JSON.parse(readFileSync(join(dir, 'documented-ranges.json'), 'utf8')) as Record<
    string,
    { source: string; ranges: string[] }
  >;
  const seoPatterns = listLines(join(dir, 'rnds_seo_bots.regex'));
  const crawlers: BuiltCrawler[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.json') || file === 'documented-ranges.json') continue;
    const id = file.slice(0, -'.json'.length);
    const operator = OPERATORS[id];
    if (!operator)
      throw new Error(
        `${file}: no crawler name for "${id}" in OPERATORS (scripts/build-verified-crawlers.ts)`,
      );
    const text = readFileSync(join(dir, file), 'utf8');
    const comment = text.split('\n').find((line) => line.startsWith('#')) ?? '';
    const body = JSON.parse(
      text
        .split('\n')
        .filter((line) => !line.startsWith('#'))
        .join('\n'),
    ) as { user_agent: string; ranges?: string[]; rdns?: string[] };
    const tokens = body.user_agent.split('|').map((token) => token.toLowerCase());
    for (const token of tokens) {
      if (!/^[a-z0-9-]+$/.test(token))
        throw new Error(`${file}: user_agent token "${token}" is not a plain word`);
    }
    const ranges = checkedRanges([...(body.ranges ?? [])], file);
    const hostnamePatterns = [...(body.rdns ?? [])];
    const sources = [comment.replace(/^#\s*/, '')];
    if (documented[id]) {
      ranges.push(...checkedRanges(documented[id].ranges, 'documented-ranges.json'));
      sources.push(documented[id].source);
    }
    if (id === 'googlebot') {
      for (const file of ['google_special_crawlers_ipv4.txt', 'google_special_crawlers_ipv6.txt']) {
        ranges.push(...checkedRanges(listLines(join(dir, file)), file));
      }
      sources.push('Google special-case crawler ranges from crowdsec sec-lists');
    }
    // The regex file writes FQDNs with the root dot (`….googlebot.com.$`); hostnames are matched
    // without it.
    const operatorDomain = id === 'meta' ? 'fbsv.net' : id === 'googlebot' ? 'google' : null;
    if (operatorDomain) {
      for (const pattern of seoPatterns) {
        if (pattern.includes(operatorDomain)) hostnamePatterns.push(pattern.replace(/\.\$$/, '$'));
      }
    }
    for (const pattern of hostnamePatterns) new RegExp(pattern); // throws on a bad pattern
    crawlers.push({
      name: operator.name,
      id,
      userAgentTokens: [...new Set([...tokens, ...(operator.extraTokens ?? [])])],
      ranges: [...new Set(ranges)],
      hostnamePatterns,
      source: sources.join('; '),
    });
  }
  return crawlers;
}

export function buildCdnRanges(dataDir = join(packageDir, 'data')): Record<string, string[]> {
  const dir = join(dataDir, 'cdn-providers');
  const byProvider: Record<string, string[]> = {};
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.txt') || file.startsWith('LICENSE')) continue;
    const provider = CDN_PROVIDERS[file.slice(0, -'.txt'.length)];
    if (!provider)
      throw new Error(`${file}: no provider name in CDN_PROVIDERS (scripts/build-verified-crawlers.ts)`);
    byProvider[provider] = [
      ...(byProvider[provider] ?? []),
      ...checkedRanges(listLines(join(dir, file)), file),
    ];
  }
  return byProvider;
}

const quote = (text: string): string => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The generated module's text: ranges as one space-separated string per entry, to stay compact. */
export function renderModule(crawlers: BuiltCrawler[], cdn: Record<string, string[]>): string {
  const lines = [
    '// Generated by scripts/build-verified-crawlers.ts from data/verified-crawlers and data/cdn-providers',
    '// (crowdsecurity/sec-lists, MIT; see the SOURCE.md files there). Do not edit: change the data and rerun.',
    '',
    'export interface VerifiedCrawlerEntry {',
    '  /** Crawler name as the UA classifier reports it. */',
    '  name: string;',
    '  /** Lower-case substrings of a crawler name that claim this operator. */',
    '  userAgentTokens: readonly string[];',
    '  /** Published ranges, space-separated; empty when the operator publishes only reverse DNS. */',
    '  ranges: string;',
    '  /** Reverse-DNS host name patterns (regular expressions) of the operator. */',
    '  hostnamePatterns: readonly string[];',
    '  source: string;',
    '}',
    '',
    'export const VERIFIED_CRAWLERS: readonly VerifiedCrawlerEntry[] = [',
  ];
  for (const crawler of crawlers) {
    lines.push('  {');
    lines.push(`    name: ${quote(crawler.name)},`);
    lines.push(`    userAgentTokens: [${crawler.userAgentTokens.map(quote).join(', ')}],`);
    lines.push(`    ranges: ${quote(crawler.ranges.join(' '))},`);
    if (crawler.hostnamePatterns.length === 0) lines.push('    hostnamePatterns: [],');
    else {
      lines.push('    hostnamePatterns: [');
      for (const pattern of crawler.hostnamePatterns) lines.push(`      ${quote(pattern)},`);
      lines.push('    ],');
    }
    lines.push(`    source: ${quote(crawler.source)},`);
    lines.push('  },');
  }
  lines.push('];', '', '/** CDN egress ranges by provider, space-separated. */');
  lines.push('export const CDN_RANGES: Readonly<Record<string, string>> = {');
  for (const [provider, ranges] of Object.entries(cdn)) {
    const key = /^[A-Za-z]\w*$/.test(provider) ? provider : quote(provider);
    lines.push(`  ${key}: ${quote(ranges.join(' '))},`);
  }
  lines.push('};', '');
  return lines.join('\n');
}

export const GENERATED_MODULE = join(packageDir, 'src', 'generated', 'verified-crawlers.data.ts');

function copyFrom(secLists: string): void {
  const whitelists = join(secLists, 'whitelists');
  const crawlersDir = join(packageDir, 'data', 'verified-crawlers');
  const legit = join(whitelists, 'benign_bots', 'legit_bots');
  for (const file of readdirSync(legit)) copyFileSync(join(legit, file), join(crawlersDir, file));
  const seo = join(whitelists, 'benign_bots', 'search_engine_crawlers');
  for (const file of [
    'google_special_crawlers_ipv4.txt',
    'google_special_crawlers_ipv6.txt',
    'rnds_seo_bots.regex',
  ]) {
    copyFileSync(join(seo, file), join(crawlersDir, file));
  }
  const cdn = join(whitelists, 'cdn_providers');
  for (const file of readdirSync(cdn))
    copyFileSync(join(cdn, file), join(packageDir, 'data', 'cdn-providers', file));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const copyAt = process.argv.indexOf('--copy-from');
  if (copyAt >= 0) {
    const from = process.argv[copyAt + 1];
    if (!from) throw new Error('--copy-from needs the path of a crowdsecurity/sec-lists checkout');
    copyFrom(from);
  }
  const crawlers = buildCrawlers();
  const cdn = buildCdnRanges();
  writeFileSync(GENERATED_MODULE, renderModule(crawlers, cdn));
  // Keep the generated file in the repository's format, so regenerating gives an empty diff.
  execFileSync(
    join(packageDir, '..', '..', 'node_modules', '.bin', 'biome'),
    ['format', '--write', GENERATED_MODULE],
    {
      stdio: 'inherit',
    },
  );
  const withRanges = crawlers.filter((c) => c.ranges.length > 0);
  const rangeCount = withRanges.reduce((n, c) => n + c.ranges.length, 0);
  console.log(
    `wrote ${GENERATED_MODULE}: ${crawlers.length} crawlers (${withRanges.length} with ${rangeCount} ranges), ` +
      `${Object.keys(cdn).length} CDN providers`,
  );
}
