import { BadInput, suggest } from '@edgeguard/schema';

/**
 * Validates untrusted configuration against a defaults object and returns a typed copy with every
 * field the user left out taken from the defaults. The defaults ARE the schema: a field the
 * defaults do not have is unknown, and a value must have the type of its default. This keeps one
 * source of truth for names, types and default values (documented where the defaults are declared).
 *
 * Errors are `BadInput` with reason `bad-config`, naming the source, the dotted field path, what
 * was expected and what was found.
 */
export function withDefaults<T extends object>(defaults: T, raw: unknown, source: string, path = ''): T {
  if (raw === undefined || raw === null) return structuredClone(defaults);
  if (!isPlainObject(raw)) throw configError(source, path || '(top level)', 'an object', raw);
  const result = structuredClone(defaults) as Record<string, unknown>;
  const known = Object.keys(defaults);
  for (const [name, value] of Object.entries(raw)) {
    const field = path ? `${path}.${name}` : name;
    if (!Object.hasOwn(defaults, name)) {
      throw new BadInput(
        'bad-config',
        `unknown field '${field}'${suggest(name, known)} (known fields${path ? ` of '${path}'` : ''}: ${known.join(', ')})`,
        field,
        source,
      );
    }
    result[name] = checkValue((defaults as Record<string, unknown>)[name], value, source, field);
  }
  return result as T;
}

function checkValue(fallback: unknown, value: unknown, source: string, field: string): unknown {
  if (fallback === null || fallback === undefined) {
    // Optional fields are declared with a null default: any scalar of a JSON type is accepted.
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return value;
    throw configError(source, field, 'a string, number, boolean or null', value);
  }
  if (Array.isArray(fallback)) {
    if (!Array.isArray(value)) throw configError(source, field, 'an array', value);
    const sample = fallback[0];
    return value.map((item, i) =>
      sample === undefined
        ? checkScalar('string', item, source, `${field}[${i}]`)
        : checkValue(sample, item, source, `${field}[${i}]`),
    );
  }
  if (isPlainObject(fallback)) return withDefaults(fallback, value, source, field);
  return checkScalar(typeof fallback, value, source, field);
}

function checkScalar(type: string, value: unknown, source: string, field: string): unknown {
  if (typeof value !== type) throw configError(source, field, `a ${type}`, value);
  if (type === 'number' && !Number.isFinite(value))
    throw configError(source, field, 'a finite number', value);
  return value;
}

function configError(source: string, field: string, expected: string, got: unknown): BadInput {
  return new BadInput(
    'bad-config',
    `field '${field}': expected ${expected}, got ${describe(got)}`,
    field,
    source,
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
