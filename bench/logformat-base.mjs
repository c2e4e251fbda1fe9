// `node --import ./bench/logformat-base.mjs ...` runs this checkout with @edgeguard/logformat taken
// from LOGFORMAT_BASE (a directory holding a built packages/logformat/dist), everything else from
// here: the old parser in the new pipeline, for A/B runs (bench/logformat-replay-ab.mjs). Worker
// threads inherit the --import, so they resolve the same way.
import { register } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const base = process.env.LOGFORMAT_BASE;
if (!base) throw new Error('LOGFORMAT_BASE is not set');
const url = pathToFileURL(join(resolve(base), 'packages/logformat/dist/index.js')).href;
const hooks = `export async function resolve(specifier, context, next) {
  if (specifier === '@edgeguard/logformat') return { url: ${JSON.stringify(url)}, format: 'module', shortCircuit: true };
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
