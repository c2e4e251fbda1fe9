import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { FORMAT_NAMES, NGINX_VARIABLES, REJECT_REASONS } from '../src/index.js';

// The README is the operator's reference: it must list every name the code accepts or emits.
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every rejection reason in its table', () => {
    for (const reason of Object.values(REJECT_REASONS)) {
      // A table row per reason; the formatter pads the cells.
      assert.ok(new RegExp(`^\\| \`${reason}\` +\\|`, 'm').test(readme), reason);
    }
  });

  it('documents every supported nginx variable', () => {
    for (const name of Object.keys(NGINX_VARIABLES)) assert.ok(readme.includes(`\`$${name}\``), name);
  });

  it('documents every format name', () => {
    for (const name of FORMAT_NAMES) assert.ok(readme.includes(`\`${name}\``), name);
  });
});
