/**
 * "did you mean" for typos: the known name at edit distance ≤ `maxDistance` (2) from `name`
 * (case ignored), if any, as ` (did you mean '<name>'?)`; else ''. Here, beside BadInput, so that
 * every package building an error about a mistyped name can use it (re-exported by
 * @edgeguard/config, where it began).
 */
export function suggest(name: string, known: readonly string[], maxDistance = 2): string {
  let best: string | undefined;
  let bestDistance = maxDistance + 1;
  for (const candidate of known) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best ? ` (did you mean '${best}'?)` : '';
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
