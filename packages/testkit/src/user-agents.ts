/**
 * User-Agent and Accept-Language strings. Browsers are assembled from the real UA grammar of each
 * browser family (Chrome's reduced UA with `.0.0.0`, Firefox's `rv:`/Gecko trail, Safari's
 * `Version/` + WebKit build, Edge's `Edg/` suffix) over many versions and OSes, so humans show the
 * long tail of distinct UAs that real traffic has. Bots use the fixed strings their tools send.
 */
import { type Rng, WeightedChoice } from './rng.js';

export interface BrowserIdentity {
  userAgent: string;
  acceptLanguage: string;
  /** Request-line protocol the browser negotiates with our edge. */
  protocol: 'HTTP/2.0' | 'HTTP/1.1';
  mobile: boolean;
}

// Versions current around January 2024 dominate; older ones form the tail (auto-update lag, pinned
// corporate installs).
const CHROME_VERSIONS = WeightedChoice.of<number>([
  [121, 4],
  [120, 45],
  [119, 14],
  [118, 7],
  [117, 4],
  [116, 3],
  [115, 2],
  [114, 2],
  [113, 1],
  [112, 1],
  [111, 1],
  [110, 1],
  [109, 2],
  [108, 0.5],
  [107, 0.5],
  [106, 0.3],
  [104, 0.3],
  [103, 0.3],
  [102, 0.3],
]);
const FIREFOX_VERSIONS = WeightedChoice.of<number>([
  [122, 3],
  [121, 40],
  [120, 20],
  [119, 6],
  [118, 3],
  [117, 2],
  [115, 10],
  [112, 1],
  [109, 2],
  [102, 0.5],
]);
/** [UA OS token, Safari `Version/`] pairs: iOS minor releases each ship their own Safari version. */
const IOS_RELEASES: readonly (readonly [string, string])[] = [
  ['17_2_1', '17.2'],
  ['17_2', '17.2'],
  ['17_1_2', '17.1.2'],
  ['17_1_1', '17.1.1'],
  ['17_1', '17.1'],
  ['17_0_3', '17.0.3'],
  ['17_0', '17.0'],
  ['16_7_4', '16.6'],
  ['16_7_2', '16.6'],
  ['16_6_1', '16.6'],
  ['16_6', '16.6'],
  ['16_5', '16.5'],
  ['16_4_1', '16.4'],
  ['16_3_1', '16.3'],
  ['16_1_2', '16.1'],
  ['15_8', '15.6.6'],
  ['15_7_9', '15.6.6'],
  ['15_6_1', '15.6.1'],
];
const MAC_SAFARI_VERSIONS = [
  '17.2.1',
  '17.2',
  '17.1.2',
  '17.1',
  '17.0',
  '16.6',
  '16.5.2',
  '16.4',
  '16.3',
  '15.6.1',
];
const ANDROID_MODELS = [
  'SM-S911B',
  'SM-S918B',
  'SM-A536B',
  'SM-G991B',
  'SM-A146P',
  'SM-S918U',
  'SM-A525F',
  'SM-G781B',
  'SM-A715F',
  'SM-A546B',
  'Pixel 7',
  'Pixel 6a',
  'Pixel 8 Pro',
  'M2101K6G',
  '2201117TG',
  'CPH2305',
];
const ANDROID_VERSIONS = ['10', '11', '12', '13', '13', '14', '14'];
const WINDOWS_TOKENS = [
  'Windows NT 10.0; Win64; x64',
  'Windows NT 10.0; Win64; x64',
  'Windows NT 10.0; WOW64',
];

/** Locales with their share of our shop's visitors (an international English/European storefront). */
const LOCALES = WeightedChoice.of<string>([
  ['en-US', 30],
  ['en-GB', 10],
  ['de-DE', 10],
  ['fr-FR', 8],
  ['es-ES', 5],
  ['pt-BR', 5],
  ['it-IT', 4],
  ['nl-NL', 4],
  ['pl-PL', 3],
  ['es-MX', 3],
  ['ja', 3],
  ['sv-SE', 2],
  ['en-CA', 2],
  ['en-AU', 2],
  ['tr-TR', 2],
  ['ko-KR', 2],
  ['zh-CN', 2],
  ['ru-RU', 2],
  ['da-DK', 1],
  ['fi-FI', 1],
  ['cs-CZ', 1],
]);

type Family = 'chrome' | 'firefox' | 'safari';

/** Accept-Language as each browser family formats it for one locale. */
export function acceptLanguageFor(locale: string, family: Family, rng: Rng): string {
  const language = locale.split('-')[0] as string;
  const regional = locale !== language;
  const base = regional ? `${locale},${language}` : locale;
  if (family === 'firefox') {
    if (language === 'en') return regional ? `${base};q=0.5` : locale;
    return regional ? `${base};q=0.8,en-US;q=0.5,en;q=0.3` : `${locale},en-US;q=0.7,en;q=0.3`;
  }
  if (language === 'en') return regional ? `${base};q=0.9` : locale;
  const withEnglish = rng.chance(0.6) ? ',en-US;q=0.8,en;q=0.7' : '';
  return regional ? `${base};q=0.9${withEnglish}` : `${locale}${withEnglish ? ',en-US;q=0.9,en;q=0.8' : ''}`;
}

type BrowserKind =
  | 'chrome-windows'
  | 'chrome-mac'
  | 'chrome-linux'
  | 'chrome-android'
  | 'samsung-android'
  | 'safari-iphone'
  | 'chrome-ios'
  | 'safari-ipad'
  | 'safari-mac'
  | 'edge-windows'
  | 'opera-windows'
  | 'firefox-windows'
  | 'firefox-mac'
  | 'firefox-linux'
  | 'firefox-android';

const BROWSER_MIX = WeightedChoice.of<BrowserKind>([
  ['chrome-windows', 22],
  ['chrome-mac', 7],
  ['chrome-linux', 2],
  ['chrome-android', 20],
  ['samsung-android', 4],
  ['safari-iphone', 18],
  ['chrome-ios', 3],
  ['safari-ipad', 3],
  ['safari-mac', 6],
  ['edge-windows', 7],
  ['opera-windows', 1],
  ['firefox-windows', 4],
  ['firefox-mac', 1],
  ['firefox-linux', 1.5],
  ['firefox-android', 0.5],
]);

function chromeFull(version: number, rng: Rng): string {
  // Chrome on iOS and pre-reduction Chrome (< 110) still report the full build number.
  return `${version}.0.${5900 + (version - 116) * 50 + rng.int(0, 40)}.${rng.int(40, 230)}`;
}

function browserUserAgent(
  kind: BrowserKind,
  rng: Rng,
): { userAgent: string; family: Family; mobile: boolean } {
  const chrome = CHROME_VERSIONS.draw(rng);
  const firefox = FIREFOX_VERSIONS.draw(rng);
  const chromeToken = chrome >= 110 ? `${chrome}.0.0.0` : chromeFull(chrome, rng);
  switch (kind) {
    case 'chrome-windows':
      return {
        userAgent: `Mozilla/5.0 (${rng.pick(WINDOWS_TOKENS)}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${chromeToken} Safari/537.36`,
        family: 'chrome',
        mobile: false,
      };
    case 'chrome-mac':
      return {
        userAgent: `Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${chromeToken} Safari/537.36`,
        family: 'chrome',
        mobile: false,
      };
    case 'chrome-linux':
      return {
        userAgent: `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${chromeToken} Safari/537.36`,
        family: 'chrome',
        mobile: false,
      };
    case 'chrome-android': {
      // Reduced UA hides model and OS version ("Android 10; K"); older builds still show them.
      const device = chrome >= 110 ? '10; K' : `${rng.pick(ANDROID_VERSIONS)}; ${rng.pick(ANDROID_MODELS)}`;
      return {
        userAgent: `Mozilla/5.0 (Linux; Android ${device}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${chromeToken} Mobile Safari/537.36`,
        family: 'chrome',
        mobile: true,
      };
    }
    case 'samsung-android': {
      const samsung = rng.pick(['23.0', '22.0', '21.0', '20.0', '19.0']);
      const model = rng.pick(ANDROID_MODELS.filter((model) => model.startsWith('SM-')));
      return {
        userAgent: `Mozilla/5.0 (Linux; Android ${rng.pick(ANDROID_VERSIONS)}; SAMSUNG ${model}) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/${samsung} Chrome/${rng.int(108, 117)}.0.0.0 Mobile Safari/537.36`,
        family: 'chrome',
        mobile: true,
      };
    }
    case 'safari-iphone': {
      const [os, safari] = rng.pick(IOS_RELEASES);
      return {
        userAgent: `Mozilla/5.0 (iPhone; CPU iPhone OS ${os} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${safari} Mobile/15E148 Safari/604.1`,
        family: 'safari',
        mobile: true,
      };
    }
    case 'chrome-ios': {
      const [os] = rng.pick(IOS_RELEASES);
      return {
        userAgent: `Mozilla/5.0 (iPhone; CPU iPhone OS ${os} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/${chromeFull(chrome, rng)} Mobile/15E148 Safari/604.1`,
        family: 'safari',
        mobile: true,
      };
    }
    case 'safari-ipad': {
      const [os, safari] = rng.pick(IOS_RELEASES);
      return {
        userAgent: `Mozilla/5.0 (iPad; CPU OS ${os} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${safari} Mobile/15E148 Safari/604.1`,
        family: 'safari',
        mobile: true,
      };
    }
    case 'safari-mac':
      return {
        userAgent: `Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${rng.pick(MAC_SAFARI_VERSIONS)} Safari/605.1.15`,
        family: 'safari',
        mobile: false,
      };
    case 'edge-windows': {
      const edge = Math.max(chrome, 109);
      const build = `${edge}.0.${2210 + (edge - 120) * 60 + rng.int(0, 25)}.${rng.int(40, 150)}`;
      return {
        userAgent: `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${edge}.0.0.0 Safari/537.36 Edg/${build}`,
        family: 'chrome',
        mobile: false,
      };
    }
    case 'opera-windows': {
      const opera = rng.int(102, 106);
      return {
        userAgent: `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${opera + 14}.0.0.0 Safari/537.36 OPR/${opera}.0.0.0`,
        family: 'chrome',
        mobile: false,
      };
    }
    case 'firefox-windows':
      return {
        userAgent: `Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:${firefox}.0) Gecko/20100101 Firefox/${firefox}.0`,
        family: 'firefox',
        mobile: false,
      };
    case 'firefox-mac':
      return {
        userAgent: `Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:${firefox}.0) Gecko/20100101 Firefox/${firefox}.0`,
        family: 'firefox',
        mobile: false,
      };
    case 'firefox-linux': {
      const os = rng.chance(0.5) ? 'X11; Ubuntu; Linux x86_64' : 'X11; Linux x86_64';
      return {
        userAgent: `Mozilla/5.0 (${os}; rv:${firefox}.0) Gecko/20100101 Firefox/${firefox}.0`,
        family: 'firefox',
        mobile: false,
      };
    }
    case 'firefox-android':
      return {
        userAgent: `Mozilla/5.0 (Android ${rng.pick(ANDROID_VERSIONS)}; Mobile; rv:${firefox}.0) Gecko/${firefox}.0 Firefox/${firefox}.0`,
        family: 'firefox',
        mobile: true,
      };
  }
}

/**
 * One person's browser: UA, language and protocol stay fixed for the client's whole session.
 * `locale` biases the language (an office NAT is mostly one country); otherwise the shop's mix.
 */
export function browserIdentity(rng: Rng, locale?: string): BrowserIdentity {
  const { userAgent, family, mobile } = browserUserAgent(BROWSER_MIX.draw(rng), rng);
  const chosenLocale = locale && rng.chance(0.85) ? locale : LOCALES.draw(rng);
  return {
    userAgent,
    acceptLanguage: acceptLanguageFor(chosenLocale, family, rng),
    // A few corporate middleboxes and old stacks still talk HTTP/1.1 to the edge.
    protocol: rng.chance(0.92) ? 'HTTP/2.0' : 'HTTP/1.1',
    mobile,
  };
}

/** Verified crawler UAs (as documented by Google and Bing). */
export const CRAWLER_USER_AGENTS = {
  googlebotSmartphone:
    'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.199 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  googlebotDesktop:
    'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/120.0.6099.199 Safari/537.36',
  googlebotClassic: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  bingbot:
    'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36',
} as const;

export const MONITOR_USER_AGENTS = {
  uptimeRobot: 'Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)',
  pingdom: 'Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)',
} as const;

/** Feed fetchers state their subscriber count in the UA; it varies per fetcher instance. */
export function feedReaderUserAgent(rng: Rng, index: number): string {
  const subscribers = rng.int(2, 60);
  switch (index % 5) {
    case 0:
      return `Feedly/1.0 (+http://www.feedly.com/fetcher.html; ${subscribers} subscribers; like FeedFetcher-Google)`;
    case 1:
      return `NewsBlur Feed Fetcher - ${subscribers} subscribers - https://www.newsblur.com/site/${rng.int(100000, 9999999)}/example-shop-blog (Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_3) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3112.113 Safari/537.36)`;
    case 2:
      return `Mozilla/5.0 (compatible; Inoreader/1.0; +http://www.inoreader.com/feed-fetcher; ${subscribers} subscribers; )`;
    case 3:
      return 'Mozilla/5.0 (compatible; Miniflux/2.0.50; +https://miniflux.app)';
    default:
      return `Feedbin feed-id:${rng.int(1000000, 2999999)} - ${subscribers} subscribers`;
  }
}

/** Our shop's own app: the iOS client names itself, the Android one sends its HTTP library's UA. */
export function mobileAppUserAgent(rng: Rng): string {
  if (rng.chance(0.45)) return rng.pick(['okhttp/4.12.0', 'okhttp/4.12.0', 'okhttp/4.11.0', 'okhttp/4.9.3']);
  const ios = rng.pick(['17.2', '17.1', '17.1', '17.0', '16.6', '16.5', '15.7']);
  const device = rng.chance(0.9) ? 'iPhone' : 'iPad';
  const scale = device === 'iPad' ? '2.00' : rng.pick(['3.00', '3.00', '2.00']);
  const build = rng.chance(0.8) ? '5.2' : rng.pick(['5.1', '5.0']);
  return `ShopApp/${build} (${device}; iOS ${ios}; Scale/${scale})`;
}

export const SCRAPER_USER_AGENTS = [
  'python-requests/2.31.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36',
] as const;

export const SCANNER_USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.129 Safari/537.36',
  'Mozilla/5.0 zgrab/0.x',
  'Mozilla/5.0 (l9explore/1.2.2)',
  'Go-http-client/1.1',
] as const;

/** The swarm's tooling: a handful of plausible but frozen browser strings, shared by every bot. */
export const SWARM_USER_AGENT_POOL = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/117.0',
] as const;
export const SWARM_ACCEPT_LANGUAGE = 'en-US,en;q=0.9';

export const CREDENTIAL_STUFFER_USER_AGENT =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36';
