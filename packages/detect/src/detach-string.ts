/**
 * A copy of `text` that shares no memory with the string it was cut from. Parsers slice fields
 * out of the log line (V8 keeps a slice as a pointer into its parent), so state that keeps a
 * field for long (a client's address, last path, user agent) would keep the whole line alive:
 * about 200 bytes per client instead of the few bytes of the field (V8 issue 2869). A JSON
 * round trip makes V8 build a new flat string: the copy is one sequential string, where the
 * older trick of slicing a concatenation (`flatstr`'s) leaves a 32-byte slice over a fresh copy.
 * Call it when a field enters long-lived state, not per request.
 */
export function detachString(text: string): string {
  // V8 copies slices shorter than 13 characters instead of pointing into the parent: those
  // already are copies (a shortcut only; the result is the same text either way).
  return text.length < 13 ? text : (JSON.parse(JSON.stringify(text)) as string);
}

/** {@link detachString} for optional fields. */
export function detachOptional<T extends string | null | undefined>(text: T): T {
  return (typeof text === 'string' ? detachString(text) : text) as T;
}

/**
 * One shared, detached copy per distinct text, for fields many clients have in common (user
 * agents, paths, prefixes): a client keeps a pointer instead of its own copy. Bounded: at most
 * `capacity` texts, all forgotten at once when full; texts handed out before stay valid, they are
 * just no longer shared with later copies (a memory trade-off, never a change in results).
 */
export class SharedStrings {
  private readonly texts = new Map<string, string>();

  constructor(readonly capacity: number) {}

  get(text: string): string {
    const shared = this.texts.get(text);
    if (shared !== undefined) return shared;
    if (this.texts.size >= this.capacity) this.texts.clear();
    const copy = detachString(text);
    this.texts.set(copy, copy);
    return copy;
  }

  /** {@link get} for optional fields. */
  getOptional<T extends string | null | undefined>(text: T): T {
    return (typeof text === 'string' ? this.get(text) : text) as T;
  }
}
