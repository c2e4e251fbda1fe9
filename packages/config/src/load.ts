import { readFileSync } from 'node:fs';
import { BadInput, systemErrorText } from '@edgeguard/schema';

/**
 * Reads a JSON config file. Errors name the file and, for syntax errors, the line and column.
 * `//` line comments are allowed (operators annotate configs); they are blanked before parsing so
 * positions stay exact.
 */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    // The OS's words and the code; the path leads (the location).
    throw new BadInput('bad-config', `cannot read config file: ${systemErrorText(error)}`, undefined, path);
  }
  return parseConfigText(text, path);
}

export function parseConfigText(text: string, source: string): unknown {
  // A byte order mark (Windows editors save one) is not JSON, and JSON.parse's error shows it as
  // an invisible character: dropped, as a BOM at the start of a file says nothing.
  const stripped = stripLineComments(text.replace(/^\uFEFF/, ''));
  try {
    return JSON.parse(stripped);
  } catch (error) {
    const message = (error as Error).message;
    const position = /position (\d+)/.exec(message);
    let where = source;
    if (position) {
      const offset = Number(position[1]);
      const before = stripped.slice(0, offset);
      const line = before.split('\n').length;
      const column = offset - before.lastIndexOf('\n');
      where = `${source}:${line}:${column}`;
    }
    throw new BadInput(
      'bad-config',
      `invalid JSON: ${message.replace(/ in JSON at position \d+.*$/, '')}`,
      undefined,
      where,
    );
  }
}

/** Blanks `//` comments outside strings, keeping every other character (and so every offset) in place. */
function stripLineComments(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') {
        out += text[i + 1] ?? '';
        i++;
      } else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') {
        out += ' ';
        i++;
      }
      if (i < text.length) out += '\n';
    } else out += c;
  }
  return out;
}
