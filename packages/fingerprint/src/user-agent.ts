import { LRUCache } from 'lru-cache';
import {
  CRAWLER_NAME_MARKERS,
  GENERIC_UA_WORDS,
  KNOWN_CRAWLER_PREFIXES,
  KNOWN_CRAWLERS,
  NOT_CRAWLER_PREFIXES,
  RUNTIME_TOOL_FAMILIES,
  TOOLS,
} from './ua-vocabulary.js';

/**
 * What a user-agent string claims to be. It is a claim, not a verdict: a scraper sending a Chrome
 * UA is classified `browser` here; behaviour (packages/detect) and address verification
 * (verifyCrawlerClaim) decide whether the claim holds.
 *
 * - `empty`: no UA (null, `""`, `"-"`, or only spaces).
 * - `crawler`: an agent that declares itself automated: its name says bot/crawler/spider/fetcher/
 *   monitor/..., it is a known crawler or AI agent, or it carries a contact URL or e-mail address.
 * - `tool`: HTTP libraries, command-line clients, crawler frameworks with their default UA,
 *   headless browsers and scanners: automation that does not say who runs it.
 * - `browser`: a `Mozilla/…` or `Opera/…` UA naming a known browser or rendering engine.
 * - `other`: anything else, mostly native apps (`Dalvik/…`, `MyApp/5.2 CFNetwork/…`) and
 *   unrecognised clients. Apps do not load page assets, so they must not be judged as browsers.
 */
export type UaKind = 'browser' | 'crawler' | 'tool' | 'empty' | 'other';

export interface UaInfo {
  readonly kind: UaKind;
  /** Browser family (`Chrome`, `Safari`, …), tool family (`curl`), crawler name, or first product. */
  readonly family: string;
  /** Major version of that family, when the UA gives one. */
  readonly major: number | null;
  /** Coarse operating system (`Windows`, `macOS`, `iOS`, `Android`, `Linux`, …), when stated. */
  readonly os: string | null;
  /** Canonical crawler name when the UA declares one (e.g. `Googlebot`, `GPTBot`); else null. */
  readonly crawler: string | null;
}

/** UAs are scanned up to this many characters: tokens later than this are ignored. */
export const MAX_SCANNED_UA_LENGTH = 1024;

const EMPTY: UaInfo = Object.freeze({ kind: 'empty', family: 'none', major: null, os: null, crawler: null });

/**
 * Distinct UA strings remembered. Traffic repeats a few thousand UA strings, so hits dominate; a
 * flood of random UAs only costs re-classification (a few microseconds each), never memory.
 * maxSize bounds the characters held (UAs longer than the scanned length are not cached), so the
 * cache cannot pin more than about 8 MB.
 */
const uaCache = new LRUCache<string, UaInfo>({
  max: 10_000,
  maxSize: 4_000_000,
  sizeCalculation: (_info, ua) => ua.length + 64,
});

/** Classifies a UA string (cached; see {@link parseUserAgent} for the rules). */
export function classifyUserAgent(ua: string | null): UaInfo {
  if (ua === null || ua.length === 0 || ua === '-') return EMPTY;
  // Only the first MAX_SCANNED_UA_LENGTH characters are read, so they are the key: a flood of
  // long UAs that differ further on is classified once, not once per request.
  const key = ua.length > MAX_SCANNED_UA_LENGTH ? ua.slice(0, MAX_SCANNED_UA_LENGTH) : ua;
  const cached = uaCache.get(key);
  if (cached !== undefined) return cached;
  const info = parseUserAgent(key);
  uaCache.set(key, info);
  return info;
}

/**
 * Classifies a UA string without the cache. Precedence, first match wins:
 * empty → a crawler name → a tool → a contact URL or e-mail (crawler) → a browser → other.
 * A declared crawler name beats a tool word, so `MyBot/1.0 python-requests/2.31` is a crawler;
 * a tool beats a bare URL, so Scrapy's default `Scrapy/2.11 (+https://scrapy.org)` is a tool.
 */
export function parseUserAgent(ua: string): UaInfo {
  const text = ua.length > MAX_SCANNED_UA_LENGTH ? ua.slice(0, MAX_SCANNED_UA_LENGTH) : ua;
  // Lower-casing keeps ASCII offsets; the rare UA where it would not is scanned in ASCII form.
  let lower = text.toLowerCase();
  let scanned = text;
  if (lower.length !== text.length) {
    scanned = text.replace(/[^\x20-\x7e]/g, '?');
    lower = scanned.toLowerCase();
  }
  const words = splitWords(scanned, lower);
  if (words.length === 0) return EMPTY;
  const os = detectOs(words, lower);

  const declared = findCrawlerWord(words);
  if (declared) return info('crawler', declared.name, declared.major, os, declared.name);

  const tool = findToolWord(words);
  if (tool) return info('tool', tool.family, tool.major, os, null);

  if (words.some((w) => w.isUrl || w.isEmail)) {
    const name = agentNameOf(words);
    return info('crawler', name.name, name.major, os, name.name);
  }

  const engineNote = extraEngineNote(scanned);
  if (engineNote) return info('crawler', engineNote, null, os, engineNote);

  const browser = detectBrowser(words, os);
  const browserLike = lower.startsWith('mozilla/') || lower.startsWith('opera/');
  if (browser && browserLike) return info('browser', browser.family, browser.major, os, null);

  // Apps and unknown clients: name them by their first own product (`Mozilla/5.0 (compatible;
  // Cloudinary/1.0)` is `Cloudinary`), not by the `Mozilla` compatibility prefix.
  const own = words.find((w) => isNameLike(w) && !BROWSER_PRODUCT_WORDS.has(w.lname)) ?? words[0]!;
  return info('other', own.name || 'unknown', own.major, os, null);
}

function info(kind: UaKind, family: string, major: number | null, os: string | null, crawler: string | null) {
  return Object.freeze({ kind, family, major, os, crawler }) as UaInfo;
}

/**
 * One product of a UA (`Name/version`). Only the lower-case name is sliced eagerly (it keys the
 * lexicon); the rest is read from the UA text when a rule needs it, which is rarely on the
 * classification of a cache miss.
 */
class UaWord {
  constructor(
    private readonly text: string,
    private readonly lower: string,
    private readonly start: number,
    private readonly end: number,
    private readonly nameStart: number,
    private readonly nameEnd: number,
    /** Index of the `/` ending the name, or `end` when there is none. */
    private readonly slash: number,
    /** Product name, lower-case, without `+`, quotes and trailing punctuation. */
    readonly lname: string,
    /** Index of the `;`/`()`/`,` delimited segment holding the word. */
    readonly segment: number,
    readonly isUrl: boolean,
    readonly isEmail: boolean,
    /** Role, browser and OS ranks of the name (see lexemeOf). */
    readonly lexeme: number,
  ) {}

  /** What the name says about the agent (ROLE_*). */
  get role(): number {
    return roleOfLexeme(this.lexeme);
  }

  /** Product name as written. */
  get name(): string {
    return this.text.slice(this.nameStart, this.nameEnd);
  }

  get hasVersion(): boolean {
    return this.slash < this.end - 1;
  }

  /** Leading digits of the version (`v2.0` counts as 2), or null. */
  get major(): number | null {
    if (!this.hasVersion) return null;
    const at = this.slash + 1;
    return majorAt(this.text, this.text.charCodeAt(at) === 118 /* v */ ? at + 1 : at);
  }

  /** The whole word, lower-case (URLs keep their path here). */
  get lraw(): string {
    return this.lower.slice(this.start, this.end);
  }
}

/** Character classes for the tokenizer, by char code (< 128): 1 ends a word, 2 also a segment. */
const BREAKS = new Uint8Array(128);
for (const ch of ' \t"\'') BREAKS[ch.charCodeAt(0)] = 1;
for (const ch of ';(),[]{}') BREAKS[ch.charCodeAt(0)] = 2;
/** Decoration trimmed around product names: `+http`, `Name:`, `Name!`, `*Name*`. */
const TRIMMED = new Uint8Array(128);
for (const ch of '+-_:.!*#=?') TRIMMED[ch.charCodeAt(0)] = 1;

/** Splits a UA into words (`Name/version`), remembering which comment segment each came from. */
function splitWords(text: string, lower: string): UaWord[] {
  const words: UaWord[] = [];
  let segment = 0;
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const code = i < text.length ? text.charCodeAt(i) : 32;
    const kind = code < 128 ? BREAKS[code]! : 0;
    if (kind !== 0) {
      if (start >= 0) {
        pushProducts(words, text, lower, start, i, segment);
        start = -1;
      }
      if (kind === 2) segment++;
    } else if (start < 0) {
      start = i;
    }
  }
  return words;
}

/**
 * One whitespace-delimited run can hold several products: `XiaoMi/MiuiBrowser/10.8`,
 * `Firefox/3.6.8/Nutch-1.7`, or two glued by a missing space, `Chrome/105.0.0.0MQQBrowser/6.2`.
 * A part after `/` begins a new product when it starts with a letter and either follows a version
 * or has a version of its own; `Build/MMB29P` and `FBPN/com.facebook.katana` stay one product.
 * URLs stay whole.
 */
function pushProducts(
  words: UaWord[],
  text: string,
  lower: string,
  start: number,
  end: number,
  segment: number,
): void {
  const firstSlash = text.indexOf('/', start);
  if (firstSlash < 0 || firstSlash >= end || isUrlRun(lower, start, end, firstSlash)) {
    const word = makeWord(text, lower, start, end, segment);
    if (word) words.push(word);
    return;
  }
  let productStart = start;
  let afterName = true;
  for (let slash = firstSlash; slash >= 0 && slash < end; slash = text.indexOf('/', slash + 1)) {
    const partStart = slash + 1;
    let nextSlash = text.indexOf('/', partStart);
    if (nextSlash < 0 || nextSlash > end) nextSlash = end;
    if (isLetter(text.charCodeAt(partStart))) {
      const versioned = nextSlash < end && isDigit(text.charCodeAt(nextSlash + 1));
      if (!afterName || versioned) {
        const word = makeWord(text, lower, productStart, slash, segment);
        if (word) words.push(word);
        productStart = partStart;
        afterName = true;
        continue;
      }
    } else if (nextSlash < end) {
      const glued = GLUED_PRODUCT.exec(text.slice(partStart, nextSlash));
      if (glued) {
        const word = makeWord(text, lower, productStart, partStart + glued[1]!.length, segment);
        if (word) words.push(word);
        productStart = partStart + glued[1]!.length;
        afterName = true;
        continue;
      }
    }
    afterName = false;
  }
  const word = makeWord(text, lower, productStart, end, segment);
  if (word) words.push(word);
}

/** A version running into the next product's name: `105.0.0.0` + `MQQBrowser`. */
const GLUED_PRODUCT = /^([\d.]+)[A-Za-z][\w-]{3,}$/;

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isLetter(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** `http://…`, `www.…`, `ahrefs.com/robot/`: the run is a contact URL, slashes and all. */
function isUrlRun(lower: string, start: number, end: number, slash: number): boolean {
  if (lower.startsWith('://', slash - 1)) return true;
  const nameStart = skipTrimmed(lower, start, slash);
  if (lower.startsWith('www.', nameStart)) return true;
  const host = lower.slice(nameStart, slash);
  return host.includes('.') && isDomain(host, slash + 1 < end ? lower.charCodeAt(slash + 1) : 0);
}

function makeWord(text: string, lower: string, start: number, end: number, segment: number): UaWord | null {
  let slash = text.indexOf('/', start);
  if (slash < 0 || slash >= end) slash = end;
  const nameStart = skipTrimmed(text, start, slash);
  const nameEnd = backTrimmed(text, nameStart, slash);
  // The version test first: it is computed for every word, the name test for most (see skipTrimmed).
  if (slash >= end - 1 && nameStart === nameEnd) return null;
  const lname = lower.slice(nameStart, nameEnd);
  const isUrl =
    (slash < end && lower.startsWith('://', slash - 1)) ||
    lower.startsWith('www.', nameStart) ||
    (lname.includes('.') && isDomain(lname, slash + 1 < end ? text.charCodeAt(slash + 1) : 0));
  const at = isUrl ? -1 : lower.indexOf('@', start);
  const isEmail = at >= 0 && at < end && EMAIL.test(lower.slice(start, end));
  const lexeme = isUrl || isEmail ? ROLE_NONE : lexemeOf(lname);
  return new UaWord(
    text,
    lower,
    start,
    end,
    nameStart,
    nameEnd,
    slash,
    lname,
    segment,
    isUrl,
    isEmail,
    lexeme,
  );
}

function isTrimmed(code: number): boolean {
  return code < 128 && TRIMMED[code] === 1;
}

/**
 * The first index of `text[from, to)` that is not decoration (`to` when none). Stepped in a
 * do-while from `from - 1`, so the step runs on every call: most names carry no decoration, and a
 * `while` loop's step, run for the first time by the first decorated name (`+http://…`, `Name:`)
 * long after makeWord was optimised, had no type feedback there and deoptimised it (and splitWords,
 * which inlines it), 3–4 times a run on the 1M-line benchmark. Likewise backTrimmed, and makeWord
 * tests `slash >= end - 1` before `nameStart === nameEnd`, so `end - 1` is computed for every word.
 */
function skipTrimmed(text: string, from: number, to: number): number {
  let i = from - 1;
  do i++;
  while (i < to && isTrimmed(text.charCodeAt(i)));
  return i;
}

/** The end of `text[from, to)` without its trailing decoration (`from` when all of it is). */
function backTrimmed(text: string, from: number, to: number): number {
  let i = to + 1;
  do i--;
  while (i > from && isTrimmed(text.charCodeAt(i - 1)));
  return i;
}

/** A contact address; `android@111.0` (an app version) is not one: the domain needs a TLD. */
const EMAIL = /^[^@]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$/;
const HOST = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,6}$/;

/**
 * `ahrefs.com/robot/`, `quillbot.com`: a host name standing in for a contact URL. A host followed
 * by a version (`ricardo.ch/8.28.2`, `UP.Link/6.3`) is a product name instead, and so is
 * `Node.js` (`.NET CLR` never gets here: trimming takes its leading dot).
 */
function isDomain(lname: string, afterSlash: number): boolean {
  if (isDigit(afterSlash)) return false;
  return !lname.endsWith('.js') && HOST.test(lname);
}

const ROLE_NONE = 0;
/** The name declares an automated agent (`AhrefsBot`, `ChatGPT-User`). */
const ROLE_CRAWLER = 1;
/** A bare marker (`spider`, `robot`): the words before it name whose agent it is. */
const ROLE_BARE_CRAWLER = 2;
const ROLE_KNOWN_CRAWLER = 3;
const ROLE_TOOL = 4;
/** A language runtime (`Java`, `Python`): a tool only when no library word is beside it. */
const ROLE_RUNTIME = 5;

/**
 * What one product name says, packed in a small integer: role (ROLE_*, bits 0-2), rank in
 * BROWSER_TOKENS + 1 (bits 3-8), rank in OS_MARKERS + 1 (bits 9-14). Memoised per distinct name:
 * UAs repeat a small vocabulary (`Mozilla`, `AppleWebKit`, `Chrome`, ...), so cache misses skip
 * the marker scans. At most 4,096 names, cleared when full (a flood of random names only costs
 * the scans again).
 */
const lexemeMemo = new Map<string, number>();
const MAX_MEMOISED_NAMES = 4096;

function lexemeOf(lname: string): number {
  let lexeme = lexemeMemo.get(lname);
  if (lexeme !== undefined) return lexeme;
  lexeme = computeRole(lname) | (((BROWSER_RANK.get(lname) ?? -1) + 1) << 3) | ((osRankOf(lname) + 1) << 9);
  if (lexemeMemo.size >= MAX_MEMOISED_NAMES) lexemeMemo.clear();
  lexemeMemo.set(lname, lexeme);
  return lexeme;
}

const roleOfLexeme = (lexeme: number): number => lexeme & 7;
const browserRankOfLexeme = (lexeme: number): number => ((lexeme >> 3) & 63) - 1;
const osRankOfLexeme = (lexeme: number): number => ((lexeme >> 9) & 63) - 1;

function computeRole(lname: string): number {
  if (lname.length < 2 || lname.length > MAX_NAME_LENGTH) return ROLE_NONE;
  if (knownCrawlerName(lname) !== null) return ROLE_KNOWN_CRAWLER;
  if (lname.length >= 3 && isCrawlerName(lname)) {
    return BARE_MARKER_NAMES.has(lname) ? ROLE_BARE_CRAWLER : ROLE_CRAWLER;
  }
  const tool = TOOLS.get(lname);
  if (tool !== undefined) return RUNTIME_TOOL_FAMILIES.has(tool) ? ROLE_RUNTIME : ROLE_TOOL;
  // `python-requests`, `Python-urllib` and friends; products named as HTTP clients
  // (`RPT-HTTPClient`, `WinHttpRequest`) are libraries too.
  if (lname.startsWith('python-') || isHttpClientName(lname)) return ROLE_TOOL;
  return ROLE_NONE;
}

/** Markers that name only the kind of agent; the words before them say whose agent it is. */
const BARE_MARKER_NAMES = new Set([
  'bot',
  'robot',
  'spider',
  'crawler',
  'webcrawler',
  'fetcher',
  'scanner',
  'inspector',
  'analyzer',
  'grader',
  'favicon',
  'preview',
  'feed',
  'rss',
  'monitor',
  'monitoring',
  'checker',
  'indexer',
  'validator',
]);

function findCrawlerWord(words: UaWord[]): { name: string; major: number | null } | null {
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word.role === ROLE_KNOWN_CRAWLER) {
      return { name: knownCrawlerName(word.lname)!, major: word.major };
    }
    if (word.role === ROLE_CRAWLER) return { name: word.name, major: word.major };
    if (word.role === ROLE_BARE_CRAWLER) {
      // `Sogou web spider/4.0`, `AddThis.com robot`: keep up to three words of the same segment.
      const parts = [word.name];
      for (let j = i - 1; j >= 0 && j >= i - 3; j--) {
        const before = words[j]!;
        if (before.segment !== word.segment || before.hasVersion || before.isEmail) break;
        parts.unshift(before.name);
      }
      return { name: parts.join(' '), major: word.major };
    }
  }
  return null;
}

function knownCrawlerName(lname: string): string | null {
  const known = KNOWN_CRAWLERS.get(lname);
  if (known !== undefined) return known;
  for (const [prefix, name] of KNOWN_CRAWLER_PREFIXES) if (lname.startsWith(prefix)) return name;
  return null;
}

function isCrawlerName(lname: string): boolean {
  for (const prefix of NOT_CRAWLER_PREFIXES) if (lname.startsWith(prefix)) return false;
  // AI agents fetching for a user (`ChatGPT-User`, `Perplexity-User`), AI data crawlers
  // (`anthropic-ai`), and Google's product tokens (`Mediapartners-Google`, `Google-Extended`).
  if (lname.endsWith('-user') || lname.endsWith('-ai')) return true;
  if (lname.endsWith('-google') || lname.startsWith('google-')) return true;
  if (lname === 'scanner' || hasBotWord(lname)) return true;
  return CRAWLER_MARKER.test(lname);
}

/** Any of CRAWLER_NAME_MARKERS: one regular-expression scan instead of one per marker. */
const CRAWLER_MARKER = new RegExp(
  CRAWLER_NAME_MARKERS.map((m) => m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'),
);

/** Product names longer than this are payloads or garbage, not names. */
const MAX_NAME_LENGTH = 64;

/** `bot` ending the name or followed by a non-letter or a plural `s` (see NOT_CRAWLER_PREFIXES). */
function hasBotWord(lname: string): boolean {
  for (let at = lname.indexOf('bot'); at >= 0; at = lname.indexOf('bot', at + 3)) {
    const next = lname.charCodeAt(at + 3);
    if (Number.isNaN(next) || next < 97 || next > 122 || next === 115 /* s */) return true;
  }
  return false;
}

function findToolWord(words: UaWord[]): { family: string; major: number | null } | null {
  let runtime: UaWord | null = null;
  for (const word of words) {
    if (word.role === ROLE_TOOL) {
      return { family: TOOLS.get(word.lname) ?? word.name, major: word.major };
    }
    // A runtime counts only as a product with a version (`Java/17`): J2ME phones say `(Java; U; …)`.
    if (word.role === ROLE_RUNTIME && word.hasVersion) runtime ??= word;
  }
  return runtime ? { family: TOOLS.get(runtime.lname)!, major: runtime.major } : null;
}

/** Browser, engine and platform product names: never an agent's own name. */
const BROWSER_PRODUCT_WORDS = new Set([
  'mozilla',
  'applewebkit',
  'gecko',
  'chrome',
  'safari',
  'firefox',
  'version',
  'mobile',
  'build',
  'trident',
  'presto',
  'opera',
  'edg',
  'like',
]);

function isHttpClientName(lname: string): boolean {
  return lname.includes('http') && (lname.includes('client') || lname.includes('request'));
}

/**
 * The agent's name when only a URL or e-mail says it is automated: the word beside the contact in
 * its comment (`(compatible; Name; +http://…)`), else the first product that is not a browser or
 * engine token, else the contact's host name.
 */
function agentNameOf(words: UaWord[]): { name: string; major: number | null } {
  const contact = words.findIndex((w) => w.isUrl || w.isEmail);
  for (let i = contact - 1; i >= 0 && words[i]!.segment === words[contact]!.segment; i--) {
    if (isNameLike(words[i]!)) return { name: words[i]!.name, major: words[i]!.major };
  }
  for (const word of words) {
    if (word.hasVersion && isNameLike(word) && !BROWSER_PRODUCT_WORDS.has(word.lname)) {
      return { name: word.name, major: word.major };
    }
  }
  for (const word of words) {
    if (isNameLike(word) && !BROWSER_PRODUCT_WORDS.has(word.lname)) return { name: word.name, major: null };
  }
  const contactWord = words[contact]!;
  const host = contactWord.lraw
    .replace(/^\+?(https?:)?\/\//, '')
    .replace(/^\+?www\./, '')
    .replace(/^[^@]*@/, '')
    .split('/')[0]!;
  return { name: host || 'unknown', major: null };
}

/** Not a contact, platform, locale or version word (`rv:41.0`, `10_15_7`, `zh-cn`, `x86_64`). */
function isNameLike(word: UaWord): boolean {
  const l = word.lname;
  if (word.isUrl || word.isEmail || l.length < 2 || GENERIC_UA_WORDS.has(l)) return false;
  if (l.includes(':') || /^[\d._x-]+$/.test(l) || /^[a-z]{2}([-_][a-z]{2})?$/.test(l)) return false;
  return /[a-z]/.test(l);
}

const ENGINE_NOTE_WORDS = new Set([
  'khtml',
  'like',
  'como',
  'linke',
  'link',
  'gecko',
  'safari',
  'compatible',
]);

/**
 * Browsers write `(KHTML, like Gecko)` (some localised or with an old `Safari/…` inside); monitoring
 * and preview services slip their name into that comment (`(KHTML, like Gecko; Google Page Speed
 * Insights)`, `(KHTML, like Gecko GomezAgent 3.0)`). Returns the slipped-in words, or null.
 */
function extraEngineNote(text: string): string | null {
  const open = text.indexOf('(KHTML');
  if (open < 0) return null;
  const close = text.indexOf(')', open);
  const inside = text.slice(open + 1, close < 0 ? text.length : close);
  const extra: string[] = [];
  for (const word of inside.split(/[\s,;]+/)) {
    const lword = word.toLowerCase();
    if (word === '' || ENGINE_NOTE_WORDS.has(lword) || lword.startsWith('safari/')) continue;
    if (!/[a-z]/.test(lword)) continue;
    extra.push(word);
  }
  return extra.length > 0 ? extra.join(' ') : null;
}

/**
 * Browser product names in precedence order: browsers built on Chromium also send `Chrome/` and
 * `Safari/`, and Edge on iOS also sends `Version/`, so the more specific name must come first.
 * A name counts only as a product with a version (`Chrome/120`). `opera mini` is the two words
 * `Opera Mini/8.0`.
 */
const BROWSER_TOKENS: ReadonlyArray<readonly [name: string, family: string]> = [
  ['edg', 'Edge'],
  ['edga', 'Edge'],
  ['edgios', 'Edge'],
  ['edge', 'Edge'],
  ['opr', 'Opera'],
  ['opt', 'Opera'],
  ['opios', 'Opera'],
  ['opera mini', 'Opera Mini'],
  ['samsungbrowser', 'Samsung Internet'],
  ['yabrowser', 'Yandex Browser'],
  ['ucbrowser', 'UC Browser'],
  ['vivaldi', 'Vivaldi'],
  ['brave', 'Brave'],
  ['miuibrowser', 'MIUI Browser'],
  ['huaweibrowser', 'Huawei Browser'],
  ['duckduckgo', 'DuckDuckGo'],
  ['silk', 'Amazon Silk'],
  ['whale', 'Whale'],
  ['qqbrowser', 'QQ Browser'],
  ['mqqbrowser', 'QQ Browser'],
  ['electron', 'Electron'],
  ['crios', 'Chrome'],
  ['fxios', 'Firefox'],
  ['seamonkey', 'SeaMonkey'],
  ['palemoon', 'Pale Moon'],
  ['waterfox', 'Waterfox'],
  ['firefox', 'Firefox'],
  ['chromium', 'Chromium'],
  ['chrome', 'Chrome'],
  ['konqueror', 'Konqueror'],
  ['opera', 'Opera'],
];
const BROWSER_RANK = new Map(BROWSER_TOKENS.map(([name], rank) => [name, rank]));
const OPERA_MINI_RANK = BROWSER_RANK.get('opera mini')!;
const OPERA_RANK = BROWSER_RANK.get('opera')!;

function detectBrowser(words: UaWord[], os: string | null): { family: string; major: number | null } | null {
  let best = -1;
  let bestWord: UaWord | null = null;
  let versionWord: UaWord | null = null;
  let msie = -1;
  let trident = false;
  let rv: UaWord | null = null;
  let safari = false;
  let webkit = false;
  let gecko = false;
  let presto = false;
  let webView = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    let rank = word.hasVersion ? browserRankOfLexeme(word.lexeme) : -1;
    if (word.lname === 'mini' && word.hasVersion && words[i - 1]?.lname === 'opera') rank = OPERA_MINI_RANK;
    if (rank >= 0 && (best < 0 || rank < best)) {
      best = rank;
      bestWord = word;
    }
    switch (word.lname) {
      case 'version':
        versionWord ??= word;
        break;
      case 'msie':
        if (msie < 0) msie = i;
        break;
      case 'trident':
        trident = true;
        break;
      case 'safari':
        safari ||= word.hasVersion;
        break;
      case 'applewebkit':
        webkit = true;
        break;
      case 'gecko':
        // `Gecko/20100101` or `like Gecko`; a bare `Gecko` is some other product's prose.
        gecko ||= word.hasVersion || words[i - 1]?.lname === 'like';
        break;
      case 'presto':
        presto = true;
        break;
      case 'wv':
        webView = true;
        break;
      default:
        if (word.lname.startsWith('rv:')) rv ??= word;
    }
  }
  const version = versionWord ? versionWord.major : null;
  if (bestWord) {
    const family = BROWSER_TOKENS[best]![1];
    // Opera 10+ kept `Opera/9.80` for old sniffers and put the real version in `Version/`.
    if (best === OPERA_RANK) return { family, major: version ?? bestWord.major };
    if (family === 'Chrome' && webView) return { family: 'Chrome WebView', major: bestWord.major };
    return { family, major: bestWord.major };
  }
  if (msie >= 0) return { family: 'Internet Explorer', major: parseMajor(words[msie + 1]?.name ?? '') };
  if (trident) return { family: 'Internet Explorer', major: rv ? parseMajor(rv.lname.slice(3)) : null };
  if (safari) {
    if (os === 'Android') return { family: 'Android Browser', major: version };
    if (version !== null) return { family: 'Safari', major: version };
  }
  // In-app browsers on Apple platforms send the WebKit part without `Safari/`.
  if (webkit) return { family: os === 'iOS' || os === 'macOS' ? 'WebView' : 'WebKit', major: null };
  if (gecko) return { family: 'Gecko', major: null };
  if (presto) return { family: 'Opera', major: version };
  return null;
}

/** Leading decimal digits of `text` from `at`, as a number; null when there are none. */
function majorAt(text: string, at: number): number | null {
  let value = 0;
  let digits = 0;
  for (let i = at; i < text.length && digits < 6; i++) {
    const code = text.charCodeAt(i) - 48;
    if (code < 0 || code > 9) break;
    value = value * 10 + code;
    digits++;
  }
  return digits === 0 ? null : value;
}

function parseMajor(version: string): number | null {
  return majorAt(version, version.startsWith('v') ? 1 : 0);
}

/**
 * Operating systems by product name, in precedence order: Windows Phone says Android, iOS says
 * "like Mac OS X", ChromeOS says X11 and Linux. Names match exactly, or as a prefix where devices
 * append a model (`iPhone11,8`, `BlackBerry9700`, `AmigaOS4.0`, `SymbianOS/9`).
 */
const OS_MARKERS: ReadonlyArray<readonly [name: string, os: string, prefix?: 'prefix']> = [
  ['windows phone', 'Windows Phone'],
  ['xbox', 'Xbox', 'prefix'],
  ['kaios', 'KaiOS'],
  ['tizen', 'Tizen'],
  ['harmonyos', 'HarmonyOS'],
  ['web0s', 'webOS'],
  ['webos', 'webOS'],
  ['android', 'Android'],
  ['playstation', 'PlayStation'],
  ['nintendo', 'Nintendo'],
  ['iphone', 'iOS', 'prefix'],
  ['ipad', 'iOS', 'prefix'],
  ['ipod', 'iOS', 'prefix'],
  ['ios', 'iOS'],
  ['macintosh', 'macOS'],
  ['mac', 'macOS'],
  ['windows', 'Windows'],
  ['win64', 'Windows'],
  ['win32', 'Windows'],
  ['cros', 'ChromeOS'],
  ['blackberry', 'BlackBerry', 'prefix'],
  ['bb10', 'BlackBerry'],
  ['symbian', 'Symbian', 'prefix'],
  ['freebsd', 'BSD'],
  ['openbsd', 'BSD'],
  ['netbsd', 'BSD'],
  ['linux', 'Linux'],
  ['x11', 'Linux'],
  ['ubuntu', 'Linux'],
  ['amigaos', 'AmigaOS', 'prefix'],
  ['darwin', 'Darwin'],
];
const OS_RANK = new Map(
  OS_MARKERS.flatMap(([name, , prefix], rank) => (prefix ? [] : [[name, rank] as const])),
);
const OS_PREFIXES = OS_MARKERS.flatMap(([name, , prefix], rank) => (prefix ? [[name, rank] as const] : []));
const WINDOWS_PHONE_RANK = 0;

function osRankOf(lname: string): number {
  const rank = OS_RANK.get(lname);
  if (rank !== undefined) return rank;
  for (const [prefix, prefixRank] of OS_PREFIXES) if (lname.startsWith(prefix)) return prefixRank;
  return -1;
}

function detectOs(words: UaWord[], lower: string): string | null {
  let best = -1;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    let rank = osRankOfLexeme(word.lexeme);
    if (word.lname === 'phone' && words[i - 1]?.lname === 'windows') rank = WINDOWS_PHONE_RANK;
    if (rank >= 0 && (best < 0 || rank < best)) best = rank;
  }
  if (best >= 0) return OS_MARKERS[best]![1];
  // Names glued to other text (`(Linux i686)x86`, `WindowsNT`): look for the distinctive ones anywhere.
  for (const [marker, os] of OS_SUBSTRINGS) if (lower.includes(marker)) return os;
  return null;
}

/** Substrings distinctive enough to find inside other words (not `ios`, `mac`: `radios`, `Macro`). */
const OS_SUBSTRINGS: ReadonlyArray<readonly [marker: string, os: string]> = [
  ['windows phone', 'Windows Phone'],
  ['xbox', 'Xbox'],
  ['kaios', 'KaiOS'],
  ['tizen', 'Tizen'],
  ['harmonyos', 'HarmonyOS'],
  ['android', 'Android'],
  ['playstation', 'PlayStation'],
  ['nintendo', 'Nintendo'],
  ['iphone', 'iOS'],
  ['ipad', 'iOS'],
  ['like mac os x', 'iOS'],
  ['mac os x', 'macOS'],
  ['macintosh', 'macOS'],
  ['windows', 'Windows'],
  ['blackberry', 'BlackBerry'],
  ['symbian', 'Symbian'],
  ['freebsd', 'BSD'],
  ['openbsd', 'BSD'],
  ['linux', 'Linux'],
  ['ubuntu', 'Linux'],
  ['amigaos', 'AmigaOS'],
  ['darwin', 'Darwin'],
];
