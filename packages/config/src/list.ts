/**
 * The items of flags given as comma-separated lists, repeated or not (`--allow 10.0.0.0/8,192.0.2.1
 * --allow ::1`): split at commas, trimmed, empty items dropped.
 */
export function commaList(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}
