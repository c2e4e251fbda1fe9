import assert from 'node:assert/strict';
import { type AccessLog, type BadInput, isBadInput } from '@edgeguard/schema';
import type { LineParser } from '../src/index.js';

/** The record `parser` reads from `line`, failing the test on a rejection. */
export function parsed(parser: LineParser, line: string): AccessLog {
  const result = parser.parse(line);
  if (isBadInput(result)) assert.fail(`expected a record, got ${result.reason}: ${result.message}`);
  return result;
}

/** The rejection `parser` returns for `line` (at location `test.log:1`), failing the test on a record. */
export function rejected(parser: LineParser, line: string): BadInput {
  const result = parser.parse(line, 'test.log:1');
  if (!isBadInput(result)) assert.fail(`expected a rejection, got ${JSON.stringify(result)}`);
  return result;
}
