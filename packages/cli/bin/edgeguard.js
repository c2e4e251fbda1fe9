#!/usr/bin/env node
// Committed shim so that npm links the `edgeguard` bin at install time, before the first build.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('edgeguard: not built yet; run `npm run build` in the repository first');
  process.exit(2);
}
await import(main.href);
