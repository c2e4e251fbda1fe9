import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logLevel } from '../src/index.js';

describe('LOG_LEVEL', () => {
  it('defaults to info and takes the levels and silent', () => {
    assert.equal(logLevel(undefined), 'info');
    assert.equal(logLevel(''), 'info');
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
      assert.equal(logLevel(level), level);
  });

  it('refuses anything else, naming the variable and what it takes', () => {
    assert.throws(() => logLevel('loud'), /^Error: LOG_LEVEL must be one of .*silent, not "loud"$/);
    assert.throws(() => logLevel('INFO'), /LOG_LEVEL/);
  });
});
