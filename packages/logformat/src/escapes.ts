/**
 * Undoing the escaping web servers apply to logged values.
 *
 * - nginx `escape=default` writes `"`, `\` and bytes below 0x20 or from 0x7f as `\xHH`
 *   (ngx_http_log_module documentation), so a logged value never holds a raw quote.
 * - Apache mod_log_config writes `"` and `\` as `\"` and `\\`, whitespace in C style (`\n`, `\t`)
 *   and other non-printable bytes as `\xhh` (mod_log_config documentation, "Format Notes").
 * - nginx `escape=json` writes JSON string escapes (`\"`, `\\`, `\uXXXX`, `\n`...).
 *
 * `default` mode accepts both the nginx and the Apache forms, since they do not conflict.
 */
export type EscapeMode = 'default' | 'json' | 'none';

const utf8 = new TextDecoder('utf-8', { fatal: true });

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function simpleEscape(c: number): string | null {
  switch (c) {
    case 34:
      return '"';
    case 92:
      return '\\';
    case 110:
      return '\n';
    case 116:
      return '\t';
    case 114:
      return '\r';
    case 118:
      return '\v';
    case 102:
      return '\f';
    case 98:
      return '\b';
    case 47:
      return '/';
    default:
      return null;
  }
}

/**
 * Unescapes `text[start, end)`. A run of `\xHH` bytes is decoded as UTF-8 (nginx escapes every
 * byte of a multi-byte character); a run that is not valid UTF-8 is kept escaped as logged, so
 * that no information is lost and no U+FFFD is invented. Unknown escapes are kept as logged.
 */
export function unescapeValue(text: string, start: number, end: number, mode: EscapeMode): string {
  if (mode === 'none') return text.slice(start, end);
  let out = '';
  let plainFrom = start;
  let i = start;
  while (i < end) {
    if (text.charCodeAt(i) !== 92 || i + 1 >= end) {
      i++;
      continue;
    }
    out += text.slice(plainFrom, i);
    const next = text.charCodeAt(i + 1);
    if (mode === 'default' && (next === 120 || next === 88)) {
      // Collect a run of \xHH bytes and decode them together.
      const runStart = i;
      const bytes: number[] = [];
      while (i + 3 < end && text.charCodeAt(i) === 92 && (text.charCodeAt(i + 1) | 32) === 120) {
        const high = hexDigit(text.charCodeAt(i + 2));
        const low = hexDigit(text.charCodeAt(i + 3));
        if (high < 0 || low < 0) break;
        bytes.push(high * 16 + low);
        i += 4;
      }
      if (bytes.length === 0) {
        out += '\\';
        i++;
      } else {
        try {
          out += utf8.decode(Uint8Array.from(bytes));
        } catch {
          out += text.slice(runStart, i);
        }
      }
      plainFrom = i;
      continue;
    }
    if (mode === 'json' && next === 117 && i + 5 < end) {
      let code = 0;
      let k = i + 2;
      for (; k < i + 6; k++) {
        const h = hexDigit(text.charCodeAt(k));
        if (h < 0) break;
        code = code * 16 + h;
      }
      if (k === i + 6) {
        out += String.fromCharCode(code);
        i += 6;
        plainFrom = i;
        continue;
      }
    }
    const simple = simpleEscape(next);
    if (simple !== null) {
      out += simple;
      i += 2;
    } else {
      out += '\\';
      i++;
    }
    plainFrom = i;
  }
  return out + text.slice(plainFrom, end);
}

/**
 * Index of the `"` closing a quoted value that starts at `from`, skipping quotes escaped with an
 * odd number of backslashes (Apache's `\"`, nginx `escape=json`); -1 when the line ends first.
 */
export function findClosingQuote(line: string, from: number): number {
  let i = from;
  for (;;) {
    const quote = line.indexOf('"', i);
    if (quote < 0) return -1;
    if (line.charCodeAt(quote - 1) !== 92 || quote === from) return quote;
    let backslashes = 0;
    for (let k = quote - 1; k >= from && line.charCodeAt(k) === 92; k--) backslashes++;
    if (backslashes % 2 === 0) return quote;
    i = quote + 1;
  }
}
