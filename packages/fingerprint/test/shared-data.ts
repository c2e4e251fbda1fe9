/**
 * Readers for the labelled UA and log sets in the repository's sibling folder shared/data
 * (see each set's SOURCE.md there). Tests skip when the folder is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SHARED_DATA = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));

/** The `skip` option for node:test: false when present, else the reason (node skips on null too). */
export function missing(relativePath: string): string | false {
  return existsSync(SHARED_DATA + relativePath) ? false : `shared data absent: ${SHARED_DATA}${relativePath}`;
}

export function readShared(relativePath: string): string {
  return readFileSync(SHARED_DATA + relativePath, 'utf8');
}

/** YAML scalar as isbot and Matomo write them: plain, 'single' ('' escapes) or "double" (JSON escapes). */
function yamlScalar(raw: string): string {
  const value = raw.trim();
  if (value.startsWith('"') && value.endsWith('"')) return JSON.parse(value) as string;
  if (value.startsWith("'") && value.endsWith("'")) return value.slice(1, -1).replace(/''/g, "'");
  return value;
}

/** isbot fixtures (`Family:\n  - ua\n  - ua`): every list item, in file order. */
export function isbotList(relativePath: string): string[] {
  const items: string[] = [];
  for (const line of readShared(relativePath).split('\n')) {
    const item = /^\s+- (.*)$/.exec(line);
    if (item) items.push(yamlScalar(item[1]!));
  }
  return items;
}

/** Matomo bots.yml: each entry's user agent and expected bot name. */
export function matomoBots(): Array<{ userAgent: string; name: string }> {
  const lines = readShared('matomo-device-detector-bots/bots.yml').split('\n');
  const bots: Array<{ userAgent: string; name: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    const ua = /^ {2}user_agent: (.*)$/.exec(lines[i]!);
    if (!ua) continue;
    let name = '';
    for (let j = i + 1; j < lines.length && !lines[j]!.startsWith('-'); j++) {
      const found = /^ {4}name: (.*)$/.exec(lines[j]!);
      if (found) {
        name = yamlScalar(found[1]!);
        break;
      }
    }
    bots.push({ userAgent: yamlScalar(ua[1]!), name });
  }
  return bots;
}

/** Share of `items` for which `test` holds, and the ones it failed on. */
export function rate<T>(items: T[], test: (item: T) => boolean): { rate: number; failures: T[] } {
  const failures = items.filter((item) => !test(item));
  return { rate: (items.length - failures.length) / items.length, failures };
}

export const percent = (value: number): string => `${(value * 100).toFixed(2)}%`;
