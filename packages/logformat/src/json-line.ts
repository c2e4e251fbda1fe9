import { type AccessLog, type BadInput, isBadInput } from '@edgeguard/schema';
import {
  checkLine,
  type FieldCut,
  type LineParser,
  NO_FIELD_CUTS,
  type ParserOptions,
  type ResolvedOptions,
  resolveOptions,
  withFieldCut,
} from './parser.js';
import { REJECT_REASONS, reject } from './reasons.js';
import { epochToMs, parseRfc3339 } from './time.js';

/**
 * One JSON object per line, as the JSON formats (cloudflare, envoy-json) read it: the checks
 * every format makes (checkLine: empty, oversized, binary), then JSON.parse. A BadInput names why
 * a line is not an object: `bad-json`, or `truncated` when it does not end with `}` (a line cut
 * by the source or a writer that died mid-line).
 */
export function readJsonObject(
  line: string,
  maxLineLength: number,
  location: string | undefined,
  plain: boolean,
): Record<string, unknown> | BadInput {
  const bad = checkLine(line, maxLineLength, location, plain);
  if (bad) return bad;
  let start = 0;
  while (line.charCodeAt(start) === 32 || line.charCodeAt(start) === 9) start++;
  if (line.charCodeAt(start) !== 123) {
    return reject(
      REJECT_REASONS.badJson,
      'line is not a JSON object (does not start with {)',
      undefined,
      location,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    const truncated = line.trimEnd().charCodeAt(line.trimEnd().length - 1) !== 125;
    return reject(
      truncated ? REJECT_REASONS.truncated : REJECT_REASONS.badJson,
      `line is not valid JSON: ${(error as Error).message}`,
      undefined,
      location,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return reject(REJECT_REASONS.badJson, 'line is JSON but not an object', undefined, location);
  }
  return value as Record<string, unknown>;
}

/**
 * The string fields of one JSON line, as an AccessLog takes them: `text(name)` is null when the
 * field is absent, not a string or empty (and, with `dashIsEmpty`, `-`, Envoy's rendering of an
 * unset value in a text format); a field longer than maxFieldLength is noted in `cuts` (the
 * caller cuts the record's fields once built, see cutLongFields).
 */
export class JsonFields {
  cuts: readonly FieldCut[];

  constructor(
    private readonly entry: Record<string, unknown>,
    private readonly maxFieldLength: number,
    noCuts: readonly FieldCut[],
    private readonly dashIsEmpty = false,
  ) {
    this.cuts = noCuts;
  }

  text(name: string): string | null {
    const raw = this.entry[name];
    if (typeof raw !== 'string' || raw === '' || (this.dashIsEmpty && raw === '-')) return null;
    if (raw.length > this.maxFieldLength) this.cuts = withFieldCut(this.cuts, name, raw.length);
    return raw;
  }

  /** `text` of the first of `names` the line has a value for. */
  first(...names: string[]): string | null {
    for (const name of names) {
      const value = this.text(name);
      if (value !== null) return value;
    }
    return null;
  }

  /** Notes a value read some other way (a header of a nested object) that is over maxFieldLength. */
  noteLength(name: string, value: string | null): void {
    if (value !== null && value.length > this.maxFieldLength)
      this.cuts = withFieldCut(this.cuts, name, value.length);
  }
}

/** RFC 3339 text, or a Unix time (number or digits) in s, ms, µs or ns told apart by magnitude. */
export function timestampMs(raw: unknown): number {
  if (typeof raw === 'number') return epochToMs(raw);
  if (typeof raw !== 'string') return Number.NaN;
  if (/^\d+(\.\d+)?$/.test(raw)) return epochToMs(Number(raw));
  return parseRfc3339(raw);
}

export function missingJsonField(field: string, location: string | undefined): BadInput {
  return reject(REJECT_REASONS.missingField, `${field} is missing from the JSON line`, field, location);
}

/**
 * A format of one JSON object per line (cloudflare, envoy-json): readJsonObject, then the format's
 * `build` maps the object to a record, setting `fieldCuts` for a record whose fields it cut.
 */
export abstract class JsonLineParser implements LineParser {
  abstract readonly format: string;
  protected readonly options: ResolvedOptions;
  fieldCuts: readonly FieldCut[] = NO_FIELD_CUTS;

  constructor(options?: ParserOptions) {
    this.options = resolveOptions(options);
  }

  parse(line: string, location?: string, plain = false): AccessLog | BadInput {
    this.fieldCuts = NO_FIELD_CUTS;
    const entry = readJsonObject(line, this.options.maxLineLength, location, plain);
    return isBadInput(entry) ? entry : this.build(entry, location);
  }

  protected abstract build(
    entry: Record<string, unknown>,
    location: string | undefined,
  ): AccessLog | BadInput;
}
