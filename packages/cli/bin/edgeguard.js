#!/usr/bin/env node
// Committed shim so that npm links the `edgeguard` bin at install time, before the first build.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('edgeguard: not built yet; run `npm run build` in the repository first');
  process.exit(2);
}
// `edgeguard run`: a SIGTERM/SIGINT while the CLI still loads is one log line and exit 0, not death
// by the signal (src/stop-signals.ts); installed first, before the CLI's imports are loaded.
const signals = await import(new URL('../dist/stop-signals.js', import.meta.url).href);
signals.exitOnStopSignalsWhileLoading(process.argv.slice(2));
await import(main.href);
