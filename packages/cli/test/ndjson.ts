import { readFileSync } from 'node:fs';

/** The records of an NDJSON file `replay` wrote (decisions, verdicts, policies). */
export function readNdjson(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
