import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClfTimeReader, epochToMs, parseEpochSeconds, parseRfc3339, unescapeValue } from '../src/index.js';

describe('ClfTimeReader', () => {
  it('converts CLF time at any position of a line', () => {
    const reader = new ClfTimeReader();
    const line = 'x [17/May/2015:10:05:03 +0000] y';
    assert.equal(reader.read(line, 3, 29), Date.UTC(2015, 4, 17, 10, 5, 3));
  });

  it('agrees with Date.UTC across months, leap days and zones', () => {
    const reader = new ClfTimeReader();
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    let checked = 0;
    for (let year = 1999; year <= 2031; year += 4) {
      for (let month = 0; month < 12; month++) {
        for (const day of [1, 15, 28]) {
          const zone = month % 2 === 0 ? '+0200' : '-0930';
          const offsetMinutes = month % 2 === 0 ? 120 : -570;
          const text = `${String(day).padStart(2, '0')}/${months[month]}/${year}:23:59:58 ${zone}`;
          const expected = Date.UTC(year, month, day, 23, 59, 58) - offsetMinutes * 60_000;
          assert.equal(reader.read(text, 0, text.length), expected, text);
          checked++;
        }
      }
    }
    assert.ok(checked > 300);
  });

  it('remembers a day per zone: a new date or zone on the same clock is converted anew', () => {
    const reader = new ClfTimeReader();
    const read = (text: string) => reader.read(text, 0, text.length);
    assert.equal(read('21/Jan/2024:09:30:12 +0000'), Date.UTC(2024, 0, 21, 9, 30, 12));
    assert.equal(read('21/Jan/2024:09:30:13 +0000'), Date.UTC(2024, 0, 21, 9, 30, 13));
    assert.equal(read('21/Jan/2024:09:30:13 +0100'), Date.UTC(2024, 0, 21, 8, 30, 13));
    assert.equal(read('22/Jan/2024:09:30:13 +0100'), Date.UTC(2024, 0, 22, 8, 30, 13));
    assert.ok(Number.isNaN(read('22/Jan/2024:09:30:13 +01x0')));
    assert.ok(Number.isNaN(read('22/Jan/2024:09:30:60 -2400')));
    assert.equal(read('22/Jan/2024:09:30:60 +0100'), Date.UTC(2024, 0, 22, 8, 31, 0));
    // A bad date after a good one of the same clock and zone.
    assert.ok(Number.isNaN(read('30/Feb/2024:09:30:13 +0100')));
    assert.ok(Number.isNaN(read('22/Jan/2024-09:30:13 +0100')));
    assert.equal(read('22/Jan/2024:09:30:14 +0100'), Date.UTC(2024, 0, 22, 8, 30, 14));
  });

  it('returns NaN for impossible dates and malformed text', () => {
    const reader = new ClfTimeReader();
    for (const text of [
      '29/Feb/2023:00:00:00 +0000',
      '31/Apr/2024:00:00:00 +0000',
      '00/Jan/2024:00:00:00 +0000',
      '21/Jan/2024:24:00:00 +0000',
      '21/Jan/2024:09:60:00 +0000',
      '21/Jan/2024:09:30:61 +0000',
      '21/Jan/2024:09:30:12 +2400',
      '21/Jan/2024:09:30:12 0000 ',
      '21-Jan-2024:09:30:12 +0000',
      '21/Jan/2024 09:30:12 +0000',
      '21/Jan/2024:09:30:12',
    ]) {
      assert.ok(Number.isNaN(reader.read(text, 0, text.length)), text);
    }
  });
});

describe('parseRfc3339', () => {
  it('reads Z, offsets with and without colon, and fractions to milliseconds', () => {
    const base = Date.UTC(2024, 0, 21, 9, 30, 12);
    assert.equal(parseRfc3339('2024-01-21T09:30:12Z'), base);
    assert.equal(parseRfc3339('2024-01-21T10:30:12+01:00'), base);
    assert.equal(parseRfc3339('2024-01-21T10:30:12+0100'), base);
    assert.equal(parseRfc3339('2024-01-21t09:30:12.5z'), base + 500);
    assert.equal(parseRfc3339('2024-01-21T09:30:12.123456789Z'), base + 123);
    assert.equal(parseRfc3339('2024-01-21 09:30:12Z'), base);
  });

  it('returns NaN without a zone or with impossible fields', () => {
    for (const text of [
      '2024-01-21T09:30:12',
      '2024-13-01T00:00:00Z',
      '2024-01-21T09:30:12.Z',
      '2024/01/21T09:30:12Z',
    ]) {
      assert.ok(Number.isNaN(parseRfc3339(text)), text);
    }
  });
});

describe('Unix times', () => {
  it('tells seconds, milliseconds, microseconds and nanoseconds apart by magnitude', () => {
    assert.equal(epochToMs(1705829412), 1705829412000);
    assert.equal(epochToMs(1705829412.5), 1705829412500);
    assert.equal(epochToMs(1705829412123), 1705829412123);
    assert.equal(epochToMs(1705829412123456), 1705829412123);
    assert.equal(epochToMs(1705829412123456800), 1705829412123);
    assert.ok(Number.isNaN(epochToMs(-1)));
  });

  it('reads nginx $msec text', () => {
    assert.equal(parseEpochSeconds('1705829412.123', 0, 14), 1705829412123);
    assert.equal(parseEpochSeconds('1705829412', 0, 10), 1705829412000);
    assert.ok(Number.isNaN(parseEpochSeconds('17058x9412.1', 0, 12)));
  });
});

describe('unescapeValue', () => {
  it('undoes nginx, Apache and JSON escaping', () => {
    const un = (text: string, mode: 'default' | 'json' | 'none' = 'default') =>
      unescapeValue(text, 0, text.length, mode);
    assert.equal(un('a\\x22b\\x5Cc'), 'a"b\\c');
    assert.equal(un('\\xE6\\x97\\xA5'), '日');
    assert.equal(un('tab\\there \\"q\\" \\\\'), 'tab\there "q" \\');
    assert.equal(un('keep \\q and \\x4'), 'keep \\q and \\x4');
    assert.equal(un('\\u00e9\\n', 'json'), 'é\n');
    assert.equal(un('\\x41', 'none'), '\\x41');
  });
});
