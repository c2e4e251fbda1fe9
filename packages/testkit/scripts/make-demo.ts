/**
 * Regenerates the demo fixtures: `node --import tsx packages/testkit/scripts/make-demo.ts`
 * (from the repository root). Writes fixtures/demo.log.gz, demo.labels.jsonl and demo.config.json.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DEMO_FILES, DEMO_OPTIONS, demoConfig } from '../src/demo.js';
import { writeScenario } from '../src/index.js';

const fixtures = new URL('../fixtures/', import.meta.url);
const path = (name: string) => fileURLToPath(new URL(name, fixtures));

const { lines } = await writeScenario(DEMO_OPTIONS, path(DEMO_FILES.log), path(DEMO_FILES.labels));

let existing: Record<string, unknown> = {};
try {
  existing = JSON.parse(await readFile(path(DEMO_FILES.config), 'utf8'));
} catch (error) {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
await writeFile(path(DEMO_FILES.config), `${JSON.stringify(demoConfig(existing), null, 2)}\n`);

process.stdout.write(`make-demo: ${lines.toLocaleString('en-US')} lines → ${path(DEMO_FILES.log)}\n`);
