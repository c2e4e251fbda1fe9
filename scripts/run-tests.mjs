#!/usr/bin/env node
// Runs the whole test suite in one node:test run, so that a single summary closes the output.
// Test files: packages/*/test, services/*/test and test/integration, all *.test.ts (through tsx).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const roots = [];
for (const group of ['packages', 'services']) {
  if (!existsSync(group)) continue;
  for (const name of readdirSync(group).sort()) roots.push(join(group, name, 'test'));
}
roots.push(join('test', 'integration'));

const files = [];
const walk = (dir) => {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir).sort()) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) walk(full);
    else if (entry.endsWith('.test.ts')) files.push(full);
  }
};
roots.forEach(walk);
// A filter, e.g. `npm test -- logformat`, keeps the files whose path contains it.
const filters = process.argv.slice(2);
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error(`run-tests: no test files matched ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}
// Integration tests talk to a real Kafka broker and Redis: start them (idempotent; reuses what
// already answers) unless the caller manages them (EDGEGUARD_INFRA=external).
if (
  selected.some((f) => f.startsWith(join('test', 'integration'))) &&
  process.env.EDGEGUARD_INFRA !== 'external'
) {
  const infra = spawnSync('bash', ['infra/local.sh', 'start'], { stdio: 'inherit' });
  if (infra.status !== 0) {
    console.error(
      'run-tests: could not start Kafka/Redis (see above); on Debian, `bash infra/ensure-packages.sh` installs Java, Maven and Redis',
    );
    process.exit(infra.status ?? 1);
  }
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', ...selected],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
