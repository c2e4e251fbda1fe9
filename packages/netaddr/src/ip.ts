/**
 * IP address parsing and canonical text (RFC 5952 for IPv6). Hand-written char-code scanning:
 * addresses are parsed once per log line, so this is on the hot path.
 *
 * Accepted: IPv4 dotted quads (no leading zeros: `010.0.0.1` is ambiguous between decimal and
 * the octal inet_aton reading, so it is refused), IPv6 in any RFC 4291 text form (with an
 * embedded dotted quad and a zone id, which is stripped). IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is
 * the IPv4 address. Refused: brackets and ports (`[2001:db8::1]:443`, `1.2.3.4:80`): they are an
 * endpoint, not an address.
 */

export interface Ipv4Address {
  version: 4;
  /** Canonical dotted quad. */
  text: string;
  /** The address as an unsigned 32-bit integer. */
  value: number;
}

export interface Ipv6Address {
  version: 6;
  /** Canonical RFC 5952 text: lower case, no leading zeros, longest zero run as `::`. */
  text: string;
  /** The 128 bits as four unsigned 32-bit words, most significant first. */
  words: readonly [number, number, number, number];
}

export type IpAddress = Ipv4Address | Ipv6Address;

/**
 * Parses a strict dotted quad in `text[start, end)` to an unsigned 32-bit integer, or -1.
 * Exposed for the hot paths of this package (CidrSet, prefixOf) that must not allocate.
 */
export function parseIpv4Value(text: string, start = 0, end = text.length): number {
  // Octet by octet: each char is read once, and the digit count of an octet decides its checks
  // (no per-char state of digits seen and leading zeros).
  let value = 0;
  let i = start;
  for (let part = 0; ; part++) {
    if (i >= end) return -1;
    let octet = text.charCodeAt(i++) - 48;
    if (!(octet >= 0 && octet <= 9)) return -1;
    // A leading zero ends its octet (`0` is one; `01` is refused at the separator check below).
    if (octet !== 0 && i < end) {
      const d1 = text.charCodeAt(i) - 48;
      if (d1 >= 0 && d1 <= 9) {
        octet = octet * 10 + d1;
        i++;
        if (i < end) {
          const d2 = text.charCodeAt(i) - 48;
          if (d2 >= 0 && d2 <= 9) {
            octet = octet * 10 + d2;
            i++;
            if (octet > 255) return -1;
          }
        }
      }
    }
    value = value * 256 + octet;
    if (part === 3) return i === end ? value : -1;
    if (i >= end || text.charCodeAt(i) !== 46) return -1;
    i++;
  }
}

export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/**
 * Character classes for the IPv6 scanner, indexed by char code (< 128): a hex digit is its value
 * (0–15), then the separators. A table read instead of range tests: hex digits in addresses are
 * random, so branches on "digit or letter" would be mispredicted about every other character.
 */
const COLON = 16;
const DOT = 17;
const PERCENT = 18;
const OTHER = 19;
const CHAR_CLASS = new Uint8Array(128).fill(OTHER);
for (let c = 48; c <= 57; c++) CHAR_CLASS[c] = c - 48;
for (let c = 97; c <= 102; c++) CHAR_CLASS[c] = c - 87;
for (let c = 65; c <= 70; c++) CHAR_CLASS[c] = c - 55;
CHAR_CLASS[58] = COLON;
CHAR_CLASS[46] = DOT;
CHAR_CLASS[37] = PERCENT;

/**
 * Set by each parseIpv6Groups that accepts its text: whether every group was written as RFC 5952
 * writes it (lower case, no leading zeros; no embedded dotted quad, no zone id), and where `::`
 * stood (`gapAt`, -1: nowhere) and how many zero groups it stood for. Read by ipv6Text, which
 * checks the `::` against the longest zero run (one more pass over the text would cost as much as
 * building the canonical text).
 */
let plainGroups = false;
let gapStart = -1;
let gapLength = 0;

/**
 * Parses IPv6 text in `text[start, end)` into eight 16-bit groups, in one pass over the char codes
 * (no substring, no split): a tight loop over each group's hex digits, then its separator. Returns
 * false when the text is not an IPv6 address. A zone id (`%eth0`, not empty) ends the address and
 * is ignored. `groups` is written in place (the caller owns it; no allocation here).
 */
function parseIpv6Groups(text: string, start: number, end: number, groups: Uint16Array): boolean {
  let count = 0; // groups written
  let gapAt = -1; // group index where `::` stands
  let plain = true; // see plainGroups
  let i = start;
  if (end - start < 2) return false;
  if (text.charCodeAt(start) === 58) {
    // Only `::` may open an address.
    if (text.charCodeAt(start + 1) !== 58) return false;
    gapAt = 0;
    i = start + 2;
  }
  // After `::` the address may end (or its zone id begin); anywhere else a group must follow.
  while (gapAt !== count || (i < end && text.charCodeAt(i) !== 37)) {
    const groupStart = i;
    let value = 0;
    let kind = OTHER;
    // Bit 5 is set in the codes of digits and lower-case letters, clear in upper-case letters.
    let lowerCase = 32;
    for (; i < end; i++) {
      const c = text.charCodeAt(i);
      kind = c < 128 ? CHAR_CLASS[c]! : OTHER;
      if (kind >= 16) break;
      value = (value << 4) | kind;
      lowerCase &= c;
    }
    if (kind === DOT) {
      plain = false;
      // An embedded dotted quad: the last 32 bits, to the end (or to a zone id).
      if (count > 6) return false;
      let quadEnd = text.indexOf('%', i);
      if (quadEnd < 0 || quadEnd > end) quadEnd = end;
      const v4 = parseIpv4Value(text, groupStart, quadEnd);
      if (v4 < 0) return false;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      i = quadEnd;
      break;
    }
    const digits = i - groupStart;
    if (digits === 0 || digits > 4 || count === 8) return false;
    if (lowerCase === 0 || digits !== (value < 0x10 ? 1 : value < 0x100 ? 2 : value < 0x1000 ? 3 : 4)) {
      plain = false;
    }
    groups[count++] = value;
    if (i === end || kind === PERCENT) break;
    if (kind !== COLON || ++i === end) return false; // a stray character, or a single trailing colon
    if (text.charCodeAt(i) === 58) {
      if (gapAt >= 0) return false; // a second `::`
      gapAt = count;
      i++;
    }
  }
  // A zone id scopes a link-local address to an interface; it is not part of the address, but it
  // is not empty either.
  if (i < end && i === end - 1) return false;
  if (gapAt >= 0) {
    // `::` stands for at least one zero group (RFC 4291 section 2.2).
    if (count === 8) return false;
    const tail = count - gapAt;
    for (let k = 0; k < tail; k++) groups[7 - k] = groups[count - 1 - k]!;
    for (let k = gapAt; k < 8 - tail; k++) groups[k] = 0;
  } else if (count !== 8) {
    return false;
  }
  plainGroups = plain && i === end; // i < end: a zone id follows
  gapStart = gapAt;
  gapLength = 8 - count;
  return true;
}

/** Hex text of 0–255 without leading zeros, and of 0–255 as two digits (a group's low byte). */
const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, b) => b.toString(16));
const HEX_BYTE_PADDED: readonly string[] = Array.from({ length: 256 }, (_, b) =>
  b.toString(16).padStart(2, '0'),
);

/**
 * The longest run of two or more zero groups, the first one on a tie (RFC 5952 section 4.2.3):
 * `start << 4 | length`, or `-1 << 4 | 1` when there is none (start -1).
 */
function longestZeroRun(groups: ArrayLike<number>): number {
  let bestStart = -1;
  let bestLength = 1;
  for (let k = 0; k < 8; ) {
    if (groups[k] !== 0) {
      k++;
      continue;
    }
    let run = k;
    while (run < 8 && groups[run] === 0) run++;
    if (run - k > bestLength) {
      bestStart = k;
      bestLength = run - k;
    }
    k = run;
  }
  return (bestStart << 4) | bestLength;
}

/**
 * RFC 5952 section 4 text of eight groups. Each group's text is one or two table strings (by byte)
 * instead of a Number#toString(16) call, which costs as much as parsing the whole address.
 */
function formatIpv6Groups(groups: ArrayLike<number>): string {
  const run = longestZeroRun(groups);
  const bestStart = run >> 4;
  const bestLength = run & 15;
  let text = '';
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      text += '::';
      k += bestLength - 1;
      continue;
    }
    if (k > 0 && k !== bestStart + bestLength) text += ':';
    const group = groups[k] as number;
    text += group < 0x100 ? HEX_BYTE[group]! : HEX_BYTE[group >>> 8]! + HEX_BYTE_PADDED[group & 0xff]!;
  }
  return text;
}

export function formatIpv6Words(words: readonly number[]): string {
  const groups = new Uint16Array(8);
  for (let k = 0; k < 4; k++) {
    groups[2 * k] = (words[k] as number) >>> 16;
    groups[2 * k + 1] = (words[k] as number) & 0xffff;
  }
  return formatIpv6Groups(groups);
}

// Scratch space for parseIpv6Groups; parsing is synchronous, so one buffer serves every call.
const scratchGroups = new Uint16Array(8);

function isIpv4Mapped(groups: Uint16Array): boolean {
  return (
    groups[0] === 0 &&
    groups[1] === 0 &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0 &&
    groups[5] === 0xffff
  );
}

/**
 * Parses an address into `words` without allocating (the hot paths of CidrSet): returns 4 with the
 * value in `words[0]`, 6 with the four words, or 0 when `text` is not an address. Same rules as
 * {@link parseIp}; IPv4-mapped IPv6 is 4.
 */
export function parseIpInto(text: string, words: Uint32Array): 0 | 4 | 6 {
  const v4 = parseIpv4Value(text);
  if (v4 >= 0) {
    words[0] = v4;
    return 4;
  }
  if (!parseIpv6Groups(text, 0, text.length, scratchGroups)) return 0;
  const groups = scratchGroups;
  if (isIpv4Mapped(groups)) {
    words[0] = ((groups[6] as number) * 65536 + (groups[7] as number)) >>> 0;
    return 4;
  }
  words[0] = ((groups[0] as number) * 65536 + (groups[1] as number)) >>> 0;
  words[1] = ((groups[2] as number) * 65536 + (groups[3] as number)) >>> 0;
  words[2] = ((groups[4] as number) * 65536 + (groups[5] as number)) >>> 0;
  words[3] = ((groups[6] as number) * 65536 + (groups[7] as number)) >>> 0;
  return 6;
}

const scratchWords = new Uint32Array(4);

/** Parses an address; returns null when `text` is not one (see the module comment for the rules). */
export function parseIp(text: string): IpAddress | null {
  const version = parseIpInto(text, scratchWords);
  if (version === 0) return null;
  const w = scratchWords;
  if (version === 4) {
    const value = w[0] as number;
    // A strict dotted quad is already canonical: keep the caller's string.
    return { version: 4, text: text.includes(':') ? formatIpv4(value) : text, value };
  }
  const words: [number, number, number, number] = [w[0]!, w[1]!, w[2]!, w[3]!];
  // parseIpInto left the eight groups in scratchGroups.
  return { version: 6, text: ipv6Text(text, 0, text.length), words };
}

/**
 * The canonical text of the IPv6 address `text[start, end)` whose groups parseIpv6Groups left in
 * scratchGroups: that text itself when it already is the canonical text (logs mostly carry
 * canonical text; a built one is a dozen concatenations, and the rope they make is flattened
 * again by every map that hashes it, such as the profiler's client table).
 */
function ipv6Text(text: string, start: number, end: number): string {
  if (plainGroups) {
    // `::` must stand for the longest run of two or more zero groups (the first on a tie), and
    // only for it; without one, no run of two or more zero groups may be left.
    const run = longestZeroRun(scratchGroups);
    if (run >> 4 === gapStart && (gapStart < 0 || (run & 15) === gapLength)) return text.slice(start, end);
  }
  return formatIpv6Groups(scratchGroups);
}

/**
 * Canonical text of an address, or null. Fast paths: a valid dotted quad (the common case in
 * logs) and IPv6 text that already is canonical are returned as is, without allocating.
 */
export function canonicalIp(text: string): string | null {
  return canonicalIpAt(text, 0, text.length);
}

/**
 * {@link canonicalIp} of `text[start, end)`, read in place: a parser hands in its whole log line,
 * and only an address that is valid is cut out of it (already canonical text, the common case) or
 * built. Scanning the line itself is cheaper than scanning a substring of it: V8 keeps a substring
 * of 13 or more characters as a slice of its parent, and every char read through a slice is
 * slower than one from a flat string.
 */
export function canonicalIpAt(text: string, start: number, end: number): string | null {
  // (slice(0, text.length) is the text itself: no copy for canonicalIp.)
  if (parseIpv4Value(text, start, end) >= 0 || isPlainCanonicalIpv6(text, start, end)) {
    return text.slice(start, end);
  }
  if (!parseIpv6Groups(text, start, end, scratchGroups)) return null;
  const groups = scratchGroups;
  // IPv4-mapped IPv6 is the IPv4 address.
  if (isIpv4Mapped(groups)) return formatIpv4(((groups[6] as number) * 65536 + (groups[7] as number)) >>> 0);
  return ipv6Text(text, start, end);
}

/**
 * IPv6 text of eight groups that already is canonical (RFC 5952: lower case, no leading zeros,
 * and no two zero groups in a row, which `::` would have to shorten): how most IPv6 clients
 * appear in logs. A group is `0` or starts with a non-zero digit, and a `0` group is not followed
 * by another (`:0` then no more hex). Sticky, so that it is tried at a position of a line.
 */
const PLAIN_CANONICAL_IPV6 =
  /(?:[1-9a-f][0-9a-f]{0,3}|0(?!:0(?![0-9a-f])))(?::(?:[1-9a-f][0-9a-f]{0,3}|0(?!:0(?![0-9a-f])))){7}/y;

/**
 * Whether `text[start, end)` is PLAIN_CANONICAL_IPV6, tried by V8's compiled regex (about half
 * the cost of parseIpv6Groups' char reads in JS). False also when a match ends elsewhere (then
 * parseIpv6Groups decides: the text may still be an address, in another spelling).
 */
function isPlainCanonicalIpv6(text: string, start: number, end: number): boolean {
  // A hex digit after the range would be read by the lookahead of a `0` group before the last
  // (`…:0:0` then `a` would pass as `…:0:0a`): leave such text to parseIpv6Groups.
  const next = text.charCodeAt(end);
  if (next < 128 && CHAR_CLASS[next]! < 16) return false;
  PLAIN_CANONICAL_IPV6.lastIndex = start;
  return PLAIN_CANONICAL_IPV6.test(text) && PLAIN_CANONICAL_IPV6.lastIndex === end;
}

/** 4 or 6 (IPv4-mapped IPv6 counts as 4), or null when `text` is not an address. */
export function ipVersion(text: string): 4 | 6 | null {
  if (parseIpv4Value(text) >= 0) return 4;
  return parseIp(text)?.version ?? null;
}
