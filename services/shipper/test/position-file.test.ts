// The shipper's saved position in a followed file: written whole, read back, and refused with the
// file named when it is not a position or is another file's.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { readPosition, savePosition } from '../src/index.js';

describe('position file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eg-position-'));
  const log = join(dir, 'access.log');

  it('reads back what was saved, and nothing when there is no file yet', async () => {
    const file = join(dir, 'a.position');
    assert.equal(await readPosition(file, log), null);
    await savePosition(file, log, { dev: 64768, ino: 1234567, offset: 98765 });
    await savePosition(file, log, { dev: 64768, ino: 1234567, offset: 99000 });
    assert.deepEqual(await readPosition(file, log), { dev: 64768, ino: 1234567, offset: 99000 });
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.startsWith('a.position')),
      ['a.position'],
      'no temporary file left behind',
    );
  });

  it('refuses a file that is not a saved position, naming it', async () => {
    const file = join(dir, 'b.position');
    for (const text of [
      'not json',
      '{"path":"x","dev":1,"ino":2}',
      '{"path":"x","dev":1,"ino":2,"offset":-5}',
    ]) {
      writeFileSync(file, text);
      await assert.rejects(readPosition(file, log), (error: Error) => {
        assert.match(error.message, /b\.position is not a saved position/);
        return true;
      });
    }
  });

  it("refuses another file's position", async () => {
    const file = join(dir, 'c.position');
    await savePosition(file, join(dir, 'other.log'), { dev: 1, ino: 2, offset: 3 });
    await assert.rejects(
      readPosition(file, log),
      new RegExp(`is for ${resolve(dir, 'other.log')}, not ${resolve(log)}`),
    );
  });
});
