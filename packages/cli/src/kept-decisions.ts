import {
  type Action,
  type Decision,
  type DecisionScope,
  isPlainSignal,
  type Signal,
} from '@edgeguard/schema';

/**
 * What the report keeps of a decision: what it counts and what explains a top offender. Not the
 * published Decision: tens of thousands of those with their evidence objects were the largest
 * thing a replay kept alive, and they were promoted to V8's old space one by one. Shared between
 * keys (see KeptDecisions): never modified.
 */
export interface KeptDecision {
  readonly scope: DecisionScope;
  readonly action: Action;
  readonly reason: string;
  readonly score: number;
  readonly signals: readonly Signal[];
}

/**
 * The latest decision per key, for the report, at most `maxKeys` keys (first-published order; a
 * key already kept is always updated). Keys with the same latest decision apart from its key,
 * value and times share one KeptDecision: a swarm's tens of thousands of address decisions carry
 * a few thousand distinct evidence lists (64k decisions, 10.6k distinct on the 1M-line bench log),
 * and a record and list per key was ~300 B of old space each (~18 MB per 1M lines).
 */
export class KeptDecisions {
  readonly latest = new Map<string, KeptDecision>();
  /** Distinct records by content hash (one per hash: a colliding record is kept unshared). */
  private readonly shared = new Map<number, KeptDecision>();
  /** Ids of the texts hashed (names, reasons, scopes, actions: a few dozen in practice). */
  private readonly textIds = new Map<string, number>();
  private readonly bits = new Float64Array(1);
  private readonly words = new Int32Array(this.bits.buffer);

  constructor(
    readonly maxKeys: number,
    /** Distinct records shared; past it the table starts over (sharing lost, results unchanged). */
    readonly maxShared = 65_536,
  ) {}

  /** Decisions of keys not kept (past `maxKeys`): the report says so rather than undercount silently. */
  notKept = 0;

  /** Keeps `decision` as the latest of its key. */
  note(decision: Decision): void {
    if (this.latest.size >= this.maxKeys && !this.latest.has(decision.key)) {
      this.notKept++;
      return;
    }
    this.latest.set(decision.key, this.share(decision));
  }

  /** The shared record equal to `decision`'s, or a new one (shared from now on when it can be). */
  private share(decision: Decision): KeptDecision {
    const hash = this.hash(decision);
    const known = hash === undefined ? undefined : this.shared.get(hash);
    if (known !== undefined && sameRecord(known, decision)) return known;
    const kept: KeptDecision = {
      scope: decision.scope,
      action: decision.action,
      reason: decision.reason,
      score: decision.score,
      // An exact-size copy of the list: the evidence objects are shared with other decisions.
      signals: decision.signals.slice(),
    };
    if (hash !== undefined && known === undefined) {
      if (this.shared.size >= this.maxShared) this.shared.clear();
      this.shared.set(hash, kept);
    }
    return kept;
  }

  /** A hash of what a KeptDecision holds; undefined when a signal is not plain (kept unshared). */
  private hash(decision: Decision): number | undefined {
    let h = this.text(decision.scope);
    h = mix(h, this.text(decision.action));
    h = mix(h, this.text(decision.reason));
    h = this.number(h, decision.score);
    for (const signal of decision.signals) {
      if (!isPlainSignal(signal)) return undefined;
      h = mix(h, this.text(signal.name));
      h = this.number(h, signal.value);
      h = signal.threshold === undefined ? mix(h, 0x5bd1e995) : this.number(h, signal.threshold);
    }
    return h;
  }

  private text(text: string): number {
    let id = this.textIds.get(text);
    if (id === undefined) {
      if (this.textIds.size >= 4096) this.textIds.clear();
      id = this.textIds.size + 1;
      this.textIds.set(text, id);
    }
    return id;
  }

  private number(h: number, value: number): number {
    this.bits[0] = value;
    return mix(mix(h, this.words[0]!), this.words[1]!);
  }
}

function mix(h: number, word: number): number {
  return Math.imul(h ^ word, 0x9e3779b1) ^ (h >>> 15);
}

/**
 * Whether `kept` serialises as `decision` would: the same fields and the same signals (names,
 * values, thresholds). Both lists hold plain signals (see isPlainSignal), so equal fields give equal
 * JSON.
 */
function sameRecord(kept: KeptDecision, decision: Decision): boolean {
  if (
    kept.scope !== decision.scope ||
    kept.action !== decision.action ||
    kept.reason !== decision.reason ||
    !Object.is(kept.score, decision.score) ||
    kept.signals.length !== decision.signals.length
  ) {
    return false;
  }
  for (let i = 0; i < kept.signals.length; i++) {
    const a = kept.signals[i]!;
    const b = decision.signals[i]!;
    if (a === b) continue;
    if (a.name !== b.name || !Object.is(a.value, b.value) || !Object.is(a.threshold, b.threshold))
      return false;
  }
  return true;
}
