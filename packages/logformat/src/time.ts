/**
 * Log timestamps to epoch milliseconds, by char codes (no Date parsing, no regexes). A log's
 * timestamps repeat line after line, so {@link ClfTimeReader} remembers the last day it converted.
 */

function digit(text: string, i: number): number {
  const d = text.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : -1;
}

/** Two decimal digits at `i`, or -1. */
function twoDigits(text: string, i: number): number {
  const a = digit(text, i);
  const b = digit(text, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

function fourDigits(text: string, i: number): number {
  const high = twoDigits(text, i);
  const low = twoDigits(text, i + 2);
  return high < 0 || low < 0 ? -1 : high * 100 + low;
}

/** Month index (0-11) of an English three-letter abbreviation, any case, or -1. */
function monthIndex(text: string, i: number): number {
  const key =
    ((text.charCodeAt(i) | 32) << 16) | ((text.charCodeAt(i + 1) | 32) << 8) | (text.charCodeAt(i + 2) | 32);
  switch (key) {
    case 0x6a616e:
      return 0; // jan
    case 0x666562:
      return 1; // feb
    case 0x6d6172:
      return 2; // mar
    case 0x617072:
      return 3; // apr
    case 0x6d6179:
      return 4; // may
    case 0x6a756e:
      return 5; // jun
    case 0x6a756c:
      return 6; // jul
    case 0x617567:
      return 7; // aug
    case 0x736570:
      return 8; // sep
    case 0x6f6374:
      return 9; // oct
    case 0x6e6f76:
      return 10; // nov
    case 0x646563:
      return 11; // dec
    default:
      return -1;
  }
}

function daysInMonth(year: number, month: number): number {
  if (month === 1) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 3 || month === 5 || month === 8 || month === 10 ? 30 : 31;
}

/** Epoch ms of a civil UTC time after range checks (Date.UTC would silently roll 31 Feb over). */
function utcMs(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number {
  if (year < 1970 || month < 0 || month > 11 || day < 1 || day > daysInMonth(year, month)) return Number.NaN;
  if (hour > 23 || minute > 59 || second > 60) return Number.NaN;
  return Date.UTC(year, month, day, hour, minute, second);
}

/** `+hhmm`, `-hhmm`, `+hh:mm` at `i` as minutes east of UTC, or NaN. */
function zoneOffsetMinutes(text: string, i: number, end: number): number {
  const sign = text.charCodeAt(i);
  if (sign !== 43 && sign !== 45) return Number.NaN;
  const hours = twoDigits(text, i + 1);
  const withColon = text.charCodeAt(i + 3) === 58;
  const minutes = twoDigits(text, withColon ? i + 4 : i + 3);
  if (hours < 0 || minutes < 0 || hours > 23 || minutes > 59) return Number.NaN;
  if ((withColon ? i + 6 : i + 5) !== end) return Number.NaN;
  const offset = hours * 60 + minutes;
  return sign === 45 ? -offset : offset;
}

/**
 * Reads Common Log Format time, `21/Jan/2024:09:30:12 +0000` (nginx `$time_local`, Apache `%t`
 * without the brackets). One reader per parser. Consecutive lines mostly share the day and the
 * zone and differ in the clock, so each line's clock and zone are read by char codes, and its date
 * (`21/Jan/2024:`) is compared with the last one converted as a 12-character substring: V8 copies
 * a substring that short into a flat string and compares two flat strings inline. (Comparing the
 * whole 26-character text, a slice of its line that V8 compares through a runtime call, or reading
 * every char of it, each cost about twice as much in the whole parser.) The Date math and the
 * calendar checks run once per day (and zone).
 */
export class ClfTimeReader {
  /** The date text (`21/Jan/2024:`) and zone offset in minutes of the last day converted. */
  private lastDate = '';
  private lastOffset = Number.NaN;
  /** Epoch ms of 00:00 of that day in that zone. */
  private lastDayStartMs = Number.NaN;

  /** Epoch ms of `line[start, end)`, or NaN when it is not CLF time. */
  read(line: string, start: number, end: number): number {
    if (end - start !== 26) return Number.NaN;
    const s = start;
    if (line.charCodeAt(s + 14) !== 58 || line.charCodeAt(s + 17) !== 58 || line.charCodeAt(s + 20) !== 32) {
      return Number.NaN;
    }
    const hour = twoDigits(line, s + 12);
    const minute = twoDigits(line, s + 15);
    const second = twoDigits(line, s + 18);
    // A leap second (60) is accepted and counts into the next minute, as Date.UTC would.
    if (hour < 0 || minute < 0 || second < 0 || hour > 23 || minute > 59 || second > 60) return Number.NaN;
    const offset = zoneOffsetMinutes(line, s + 21, end);
    const date = line.slice(s, s + 12);
    // NaN offset: never equal to the remembered one, and utcMs - NaN is NaN.
    if (date !== this.lastDate || offset !== this.lastOffset) {
      const dayStart = dayStartMs(line, s) - offset * 60_000;
      if (Number.isNaN(dayStart)) return Number.NaN;
      this.lastDate = date;
      this.lastOffset = offset;
      this.lastDayStartMs = dayStart;
    }
    return this.lastDayStartMs + hour * 3_600_000 + minute * 60_000 + second * 1000;
  }
}

/** Epoch ms of 00:00 UTC of the CLF date `21/Jan/2024:` at `s`, or NaN. */
function dayStartMs(line: string, s: number): number {
  if (line.charCodeAt(s + 2) !== 47 || line.charCodeAt(s + 6) !== 47 || line.charCodeAt(s + 11) !== 58) {
    return Number.NaN;
  }
  const day = twoDigits(line, s);
  const month = monthIndex(line, s + 3);
  const year = fourDigits(line, s + 7);
  if (day < 0 || month < 0 || year < 0) return Number.NaN;
  return utcMs(year, month, day, 0, 0, 0);
}

/**
 * RFC 3339 / ISO 8601 time in `text[start, end)`: `2024-01-21T09:30:12+00:00` (nginx
 * `$time_iso8601`), `2024-01-21T09:30:12.345Z` (Cloudflare Logpush). Fractions beyond
 * milliseconds are truncated. A zone (`Z` or an offset) is required. NaN when unreadable.
 */
export function parseRfc3339(text: string, start = 0, end = text.length): number {
  const s = start;
  if (end - s < 20) return Number.NaN;
  if (
    text.charCodeAt(s + 4) !== 45 ||
    text.charCodeAt(s + 7) !== 45 ||
    text.charCodeAt(s + 13) !== 58 ||
    text.charCodeAt(s + 16) !== 58
  ) {
    return Number.NaN;
  }
  const separator = text.charCodeAt(s + 10) | 32;
  if (separator !== 116 && separator !== 32) return Number.NaN; // T, t or a space (RFC 3339 5.6 note)
  const year = fourDigits(text, s);
  const month = twoDigits(text, s + 5);
  const day = twoDigits(text, s + 8);
  const hour = twoDigits(text, s + 11);
  const minute = twoDigits(text, s + 14);
  const second = twoDigits(text, s + 17);
  if (year < 0 || month < 1 || day < 0 || hour < 0 || minute < 0 || second < 0) return Number.NaN;
  let i = s + 19;
  let millis = 0;
  if (text.charCodeAt(i) === 46) {
    i++;
    let digits = 0;
    for (; i < end; i++) {
      const d = digit(text, i);
      if (d < 0) break;
      if (digits < 3) millis = millis * 10 + d;
      digits++;
    }
    if (digits === 0) return Number.NaN;
    for (let k = digits; k < 3; k++) millis *= 10;
  }
  let offset: number;
  if ((text.charCodeAt(i) | 32) === 122 && i + 1 === end) offset = 0;
  else offset = zoneOffsetMinutes(text, i, end);
  const ms = utcMs(year, month - 1, day, hour, minute, second);
  return ms + millis - offset * 60_000;
}

/**
 * Epoch ms of a Unix time whose unit is told by its magnitude: seconds (up to year ~5138),
 * milliseconds, microseconds or nanoseconds (Cloudflare `timestamps=unix|unixnano`). NaN when
 * negative or not finite.
 */
export function epochToMs(value: number): number {
  if (!Number.isFinite(value) || value < 0) return Number.NaN;
  if (value < 1e11) return Math.floor(value * 1000);
  if (value < 1e14) return Math.floor(value);
  if (value < 1e17) return Math.floor(value / 1e3);
  return Math.floor(value / 1e6);
}

/** nginx `$msec`: seconds with a millisecond fraction, `1705829412.123`. NaN when unreadable. */
export function parseEpochSeconds(text: string, start: number, end: number): number {
  let seconds = 0;
  let i = start;
  for (; i < end; i++) {
    const d = digit(text, i);
    if (d < 0) break;
    seconds = seconds * 10 + d;
  }
  if (i === start || i - start > 12) return Number.NaN;
  let millis = 0;
  if (i < end) {
    if (text.charCodeAt(i) !== 46) return Number.NaN;
    let digits = 0;
    for (i++; i < end; i++) {
      const d = digit(text, i);
      if (d < 0) return Number.NaN;
      if (digits < 3) millis = millis * 10 + d;
      digits++;
    }
    for (let k = digits; k < 3; k++) millis *= 10;
  }
  return seconds * 1000 + millis;
}

/**
 * How far ahead of this machine's clock an event time may be (24 h: any time zone mistake, a
 * skewed edge clock). A line stamped later (a wrong clock, a forged `$msec`, year 9999) would move
 * event time ahead by years in one step: every window would expire, every later line count as late,
 * and decisions would be dated far in the future.
 */
export const MAX_FUTURE_SKEW_MS = 24 * 3_600_000;
let ceiling = Date.now() + MAX_FUTURE_SKEW_MS;

/** Whether an event time is more than MAX_FUTURE_SKEW_MS ahead of the wall clock (read only when
 *  the time is past the last ceiling: no clock read per line). */
export function isTooFarAhead(ms: number): boolean {
  if (ms <= ceiling) return false;
  ceiling = Date.now() + MAX_FUTURE_SKEW_MS;
  return ms > ceiling;
}

/** Longest request or origin time believed: a day. Beyond it (`$upstream_response_time` of 1e303)
 *  the value is null, not a number that overflows the record's float and every sum it joins. */
export const MAX_DURATION_MS = 86_400_000;

export function plausibleDurationMs(ms: number | null): number | null {
  return ms !== null && ms >= 0 && ms <= MAX_DURATION_MS ? ms : null;
}

/**
 * Whole milliseconds in `line[start, end)` (Envoy's `%DURATION%`, `x-envoy-upstream-service-time`),
 * as plausibleDurationMs keeps them; null for `-`, empty or anything but up to 15 digits.
 */
export function integerMsAt(line: string, start: number, end: number): number | null {
  if (end <= start || end - start > 15) return null;
  let ms = 0;
  for (let i = start; i < end; i++) {
    const d = digit(line, i);
    if (d < 0) return null;
    ms = ms * 10 + d;
  }
  return plausibleDurationMs(ms);
}
