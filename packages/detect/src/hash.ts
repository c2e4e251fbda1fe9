/**
 * FNV-1a 32-bit string hashing, continued across several strings so that a content key
 * (host + path) or a URL (host + path + query) is hashed without concatenating them on the hot
 * path. Hashes are never 0: 0 marks an empty slot in the fixed-size key sets.
 */
export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

export function hashContinue(hash: number, text: string): number {
  let h = hash;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return h;
}

/** Folds in a separator so that ("ab","c") and ("a","bc") differ. */
export function hashSeparator(hash: number): number {
  return Math.imul(hash ^ 0x1f, FNV_PRIME);
}

/** Finishes a hash into a non-zero unsigned 32-bit value. */
export function hashFinish(hash: number): number {
  const h = hash >>> 0;
  return h === 0 ? 1 : h;
}

export function hashString(text: string): number {
  return hashFinish(hashContinue(FNV_OFFSET, text));
}

/** Hash of host + path (the content key), with a separator between them. */
export function hashContent(host: string | null, path: string): number {
  return hashFinish(hashContentState(host, path));
}

/**
 * The content key's hash before {@link hashFinish}: `hashFinish` of it is {@link hashContent},
 * and the query hashed on from its {@link queryStart} gives {@link hashUrl}, so a request's two
 * hashes read host and path once.
 */
export function hashContentState(host: string | null, path: string): number {
  let h = FNV_OFFSET;
  if (host !== null) h = hashContinue(h, host);
  return hashContinue(hashSeparator(h), path);
}

/**
 * The state {@link hashUrl} reads the query from, after a content key's {@link hashContentState}
 * (for a caller hashing the query's characters itself, along with other work on them).
 */
export function queryStart(contentState: number): number {
  return hashSeparator(hashSeparator(contentState));
}

/**
 * {@link queryStart} of no host and an empty path: `hashUrl(null, '', query)`, a query's own hash
 * (as content partials list them), is `hashFinish(hashContinue(QUERY_HASH_START, query))`.
 */
export const QUERY_HASH_START = queryStart(hashContentState(null, ''));

/** Hash of a content key extended with the query (a full URL). */
export function hashUrl(host: string | null, path: string, query: string | null): number {
  let h = FNV_OFFSET;
  if (host !== null) h = hashContinue(h, host);
  h = hashSeparator(h);
  h = hashContinue(h, path);
  if (query !== null) {
    h = hashSeparator(hashSeparator(h));
    h = hashContinue(h, query);
  }
  return hashFinish(h);
}
