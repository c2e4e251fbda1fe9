// docs/CONFIG.md against the code: every field it documents exists in the defaults with the default
// it states, every field of the defaults is documented, its example is a valid config and its error
// examples are what the loader says. Drift between the two fails here, not in an operator's hands.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultDetectConfig } from '@edgeguard/detect';
import { BadInput } from '@edgeguard/schema';
import { defaultConfig, parseConfigText, validateConfig, withDefaults } from '../src/index.js';

const root = new URL('../../../', import.meta.url).pathname;
const doc = readFileSync(join(root, 'docs/CONFIG.md'), 'utf8');

/** The `### \`name\`` sections of the doc's "Sections" part, by name, each with its text. */
function sections(): Map<string, string> {
  const part = doc.slice(doc.indexOf('## Sections'), doc.indexOf('\n## ', doc.indexOf('## Sections') + 1));
  const out = new Map<string, string>();
  for (const chunk of part.split(/\n### /).slice(1)) {
    const name = /^`([^`]+)`/.exec(chunk)?.[1];
    assert.ok(name, `a section heading without a \`field\`: ${chunk.slice(0, 40)}`);
    out.set(name, chunk);
  }
  return out;
}

/**
 * The rows of a section's first table (its fields; later tables, such as the Envoy JSON keys under
 * `input`, are about something else) as [first column, second column], header and rule left out.
 */
function rows(text: string): [string, string][] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith('|'));
  const end = lines.findIndex((line, i) => i > start && !line.startsWith('|'));
  return lines
    .slice(start, end === -1 ? undefined : end)
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const cells = line.split(' | ');
      return [cells[0]!.slice(2), cells[1]!];
    });
}

/** The backticked names of a table cell: "`a`, `b`" → [a, b]. */
const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/** A documented default ("`65536`", "`600000` (10 min)", "`[]`", "`auto`") as a value. */
function documentedDefault(cell: string): unknown {
  const text = /`([^`]*)`/.exec(cell)?.[1];
  assert.notEqual(text, undefined, `no default in '${cell}'`);
  try {
    return JSON.parse(text!);
  } catch {
    return text;
  }
}

describe('docs/CONFIG.md and the config defaults', () => {
  const documented = sections();

  it('documents every top-level section of the defaults, and no other', () => {
    assert.deepEqual([...documented.keys()].sort(), Object.keys(defaultConfig).sort());
  });

  for (const section of ['input', 'pipeline'] as const) {
    it(`documents every '${section}' field with its default, and no field the defaults lack`, () => {
      const table = rows(documented.get(section)!);
      const defaults = defaultConfig[section] as Record<string, unknown>;
      assert.deepEqual(table.map(([name]) => names(name)[0]).sort(), Object.keys(defaults).sort());
      for (const [name, cell] of table) {
        const field = names(name)[0]!;
        assert.deepEqual(documentedDefault(cell), defaults[field], `${section}.${field}: ${cell}`);
      }
    });
  }

  it("names every group of 'detect' in its table, and no group the defaults lack", () => {
    const groups = rows(documented.get('detect')!).flatMap(([cell]) => names(cell));
    assert.deepEqual(groups.sort(), Object.keys(defaultDetectConfig).sort());
  });

  it('gives an example that is a valid config', () => {
    const example = /```jsonc\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(example, 'no jsonc example');
    const config = withDefaults(defaultConfig, parseConfigText(example, 'example'), 'example');
    validateConfig(config, 'example');
  });

  it('shows the errors the loader gives, word for word', () => {
    const block = /Validation happens at load[\s\S]*?```\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(block, 'no error examples');
    const shown = block.trim().split('\n');
    const files = [{ input: { trustedProxys: ['10.0.0.0/8'] } }, { detect: { allowedLatenessMs: '60s' } }];
    assert.equal(shown.length, files.length);
    files.forEach((file, i) => {
      assert.throws(
        () => withDefaults(defaultConfig, file, 'edgeguard.json'),
        (error: unknown) => {
          assert.ok(error instanceof BadInput);
          assert.equal(`edgeguard replay: ${error.message}`, shown[i]);
          return true;
        },
      );
    });
  });
});
