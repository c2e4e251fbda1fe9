import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type ReplaceResult = 'installed' | 'unavailable' | 'too-late';

/**
 * Replaces the export of one of kafkajs' internal CommonJS modules (`path` inside the package,
 * e.g. `src/protocol/recordBatch/crc32C/index.js`) in Node's module cache, for the modules that
 * require it from then on. kafkajs has no hooks for its encoders, but requires several of them
 * lazily (at the first produce or fetch), and it is frozen upstream (2.2.4), so its paths are
 * stable. `too-late` when one of `dependents` (modules that keep the export they were given at
 * load) is loaded already; `unavailable` when the module is missing or not a function. Either way
 * kafkajs keeps its own module. `replace` gets the original export and a loader for other kafkajs
 * internals, and returns the new export.
 */
export function replaceKafkajsModule(
  path: string,
  dependents: string[],
  replace: (original: (...args: never[]) => unknown, load: (path: string) => unknown) => unknown,
): ReplaceResult {
  const require = createRequire(import.meta.url);
  let root: string;
  try {
    root = dirname(require.resolve('kafkajs/package.json'));
  } catch {
    return 'unavailable';
  }
  const cache = require.cache;
  if (dependents.some((dependent) => cache[join(root, dependent)])) return 'too-late';
  const target = join(root, path);
  const load = (internal: string) => require(join(root, internal)) as unknown;
  let original: unknown;
  try {
    original = load(path);
  } catch {
    return 'unavailable';
  }
  const entry = cache[target];
  if (typeof original !== 'function' || !entry) return 'unavailable';
  try {
    entry.exports = replace(original as (...args: never[]) => unknown, load);
  } catch {
    return 'unavailable';
  }
  return 'installed';
}
