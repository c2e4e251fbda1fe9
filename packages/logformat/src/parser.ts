import type { CidrSet } from '@edgeguard/netaddr';
import type { AccessLog, BadInput } from '@edgeguard/schema';
import { type TrustedProxies, toTrustedSet } from './client-address.js';
import { REJECT_REASONS, reject } from './reasons.js';

export interface ParserOptions {
  /**
   * Proxies (CIDRs) whose X-Forwarded-For is believed; see resolveClientAddress. Default: none,
   * so the client is always the logged peer.
   */
  trustedProxies?: TrustedProxies;
  /**
   * Lines longer than this many characters are rejected as `oversized-line`. Default 64 KiB: a
   * request line and several headers of nginx's 8 KiB each (`large_client_header_buffers 4 8k`).
   */
  maxLineLength?: number;
  /**
   * A field longer than this many characters (as logged) is cut to it and the line kept, the cut
   * noted in the parser's `fieldCuts` (X-Forwarded-For keeps its rightmost hops; see FieldCut).
   * Default 4 KiB.
   */
  maxFieldLength?: number;
}

export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;
export const DEFAULT_MAX_FIELD_LENGTH = 4 * 1024;

/**
 * A field of the line just parsed that was longer than maxFieldLength as logged, and was cut
 * rather than rejecting the line: a client pads its User-Agent or Referer (nginx takes headers up
 * to 8 KiB) to make its every request a rejected line, invisible to detection. `field` is the
 * format's name for it (`http_user_agent`, `$request_uri`'s `request_uri`, `ClientRequestUserAgent`):
 * a vocabulary fixed by the format, never by the input.
 */
export interface FieldCut {
  readonly field: string;
  /** Its length as logged, in characters. */
  readonly length: number;
}

/** `fieldCuts` of a line with no field cut (shared: nothing is allocated per line). */
export const NO_FIELD_CUTS: readonly FieldCut[] = Object.freeze([]);

/** `cuts` with one more cut (a new array the first time: NO_FIELD_CUTS is shared). */
export function withFieldCut(cuts: readonly FieldCut[], field: string, length: number): FieldCut[] {
  const list = cuts === NO_FIELD_CUTS ? [] : (cuts as FieldCut[]);
  list.push({ field, length });
  return list;
}

/** One log format's line parser. `parse` never throws: a bad line is a BadInput to count. */
export interface LineParser {
  /** The format name (`auto` resolves to the sniffed format once it has seen enough lines). */
  readonly format: string;
  /**
   * `location` (e.g. `access.log:42`) is carried into the BadInput for the operator. `plain`: the
   * caller knows the line is ASCII and holds no NUL and no backslash (a LineBatch's `plain`), so
   * the parser skips its scans for binary data and escapes. A caller that passes it for a line that
   * is not plain gets that line's escapes kept as written and its binary data not rejected.
   */
  parse(line: string, location?: string, plain?: boolean): AccessLog | BadInput;
  /**
   * The fields the last `parse` cut to maxFieldLength (NO_FIELD_CUTS, empty, nearly always). Read
   * it after a parse that returned a record, before the next parse: a caller counts them (e.g. in
   * a FieldCutCounter), since the record alone does not say it was cut.
   */
  readonly fieldCuts: readonly FieldCut[];
}

export interface ResolvedOptions {
  trustedProxies: CidrSet | null;
  maxLineLength: number;
  maxFieldLength: number;
}

export function resolveOptions(options: ParserOptions | undefined): ResolvedOptions {
  return {
    trustedProxies: toTrustedSet(options?.trustedProxies),
    maxLineLength: options?.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH,
    maxFieldLength: options?.maxFieldLength ?? DEFAULT_MAX_FIELD_LENGTH,
  };
}

/**
 * The checks every format makes before looking at fields: empty, oversized, binary. Null when
 * the line may be parsed. NUL and U+FFFD are searched with indexOf (a memchr-speed scan), unless
 * the line is known to be `plain` (see LineParser.parse).
 */
export function checkLine(
  line: string,
  maxLineLength: number,
  location: string | undefined,
  plain = false,
): BadInput | null {
  // A plain line that starts with a visible character and is not too long: nothing to check
  // (kept this small so that the parsers' hot paths inline it).
  if (plain && line.charCodeAt(0) > 32 && line.length <= maxLineLength) return null;
  return checkLineFully(line, maxLineLength, location, plain);
}

function checkLineFully(
  line: string,
  maxLineLength: number,
  location: string | undefined,
  plain: boolean,
): BadInput | null {
  if (line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim().length === 0)) {
    return reject(REJECT_REASONS.empty, 'empty line', undefined, location);
  }
  if (line.length > maxLineLength) {
    return reject(
      REJECT_REASONS.oversizedLine,
      // Not its length: a far longer line reaches the parser cut by the source (see openLogSource).
      `line longer than maxLineLength ${maxLineLength}`,
      undefined,
      location,
    );
  }
  if (!plain && (line.indexOf('\0') >= 0 || line.indexOf('\ufffd') >= 0)) {
    return reject(
      REJECT_REASONS.binary,
      'line holds NUL or bytes that are not UTF-8: binary data, not a log line',
      undefined,
      location,
    );
  }
  return null;
}
