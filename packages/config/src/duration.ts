import { BadInput } from '@edgeguard/schema';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as `90s`, `15m`, `4h`, `1h30m` or `500ms` into milliseconds. A bare number
 * is milliseconds, unless `unitRequired` (what operators type: `3600` meant as seconds must not
 * become a 3.6-second decision). Throws `BadInput` naming the text.
 */
export function parseDuration(
  text: string,
  field = 'duration',
  options: { unitRequired?: boolean } = {},
): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    if (!options.unitRequired) return Number(trimmed);
    throw new BadInput(
      'bad-duration',
      `${field}: give a unit, e.g. ${trimmed}h, ${trimmed}m or ${trimmed}d`,
      field,
    );
  }
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = part.exec(trimmed); match; match = part.exec(trimmed)) {
    total += Number(match[1]) * UNITS[match[2]!]!;
    consumed = part.lastIndex;
  }
  if (consumed === 0 || consumed !== trimmed.length) {
    throw new BadInput(
      'bad-duration',
      `${field}: '${text}' is not a duration (examples: 500ms, 90s, 15m, 4h, 1h30m, 7d)`,
      field,
    );
  }
  return total;
}

/** Formats milliseconds as Go duration syntax (`4h0m0s`, `1m30s`, `500ms`), as CrowdSec bouncers expect. */
export function formatGoDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(Math.round(ms));
  if (rest < 1000) return `${sign}${rest}ms`;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = rest / 1000;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}
