import avro from 'avsc';
import { AvroBatchFormat, AvroBatchWriter } from './avro-batch.js';
import { BadInput } from './bad-input.js';
import { STAGE_RECORD_ENCODER_FINGERPRINT, StageRecordEncoder } from './stage-record-encoder.js';

/**
 * Avro wire format of the stage records on `signals` and `content-partials` (the profiler's
 * outputs): one batch envelope of keyed records per output partition and input batch. The message
 * types are declared in @edgeguard/detect (messages.ts); these schemas mirror them field for field,
 * in the same order, so a decoded value is what `JSON.parse` of its JSON encoding gives: the same
 * own properties in the same order, plain objects, `null`s kept, `Signal.threshold` absent when it
 * was. Number types follow the values' ranges: event times and counts are `long` (integers, exact
 * to 2^53), content and path hashes are unsigned 32-bit so `long` too, scores, ratios, decayed and
 * weighted counts and millisecond sums are `double`.
 *
 * A value that does not fit its schema (an unknown `kind`, a count that is not an integer, a
 * field of the wrong type) travels as JSON text in the union's `string` branch, so nothing is
 * ever encoded wrongly; what JSON cannot represent differs only there: a `double` keeps NaN,
 * ±Infinity and -0, which JSON turns into null, null and 0.
 */

const NS = 'io.edgeguard';
const record = (name: string, fields: object[]) => ({ type: 'record', name, fields });
const string = (name: string) => ({ name, type: 'string' });
const nullableString = (name: string) => ({ name, type: ['null', 'string'] });
const boolean = (name: string) => ({ name, type: 'boolean' });
const long = (name: string) => ({ name, type: 'long' });
const double = (name: string) => ({ name, type: 'double' });
const hashes = (name: string) => ({ name, type: { type: 'array', items: 'long' } });
/** The message's `kind` (the union branch says it too, but the value carries it as JSON did). */
const kind = string('kind');

const signalSchema = record('Signal', [
  string('name'),
  double('value'),
  { name: 'threshold', type: ['null', 'double'], default: null },
]);

const clientSignalSchema = record('ClientSignal', [
  kind,
  string('ip'),
  nullableString('prefix'),
  string('fingerprint'),
  long('time'),
  double('score'),
  string('reason'),
  { name: 'signals', type: { type: 'array', items: signalSchema } },
  boolean('humanLooking'),
  boolean('botShaped'),
  hashes('paths'),
  double('burstRequests'),
  boolean('established'),
  long('firstSeen'),
  long('requests'),
]);

const fingerprintPartialSchema = record('FingerprintPartial', [
  kind,
  string('fingerprint'),
  long('time'),
  ...['requests', 'pages', 'assets', 'repeats', 'pathRepeats'].map(long),
  double('busts'), // weighted (`client.cacheBust.unconfirmedWeight`)
  ...['loginPosts', 'authFailures', 'sensitiveHits', 'errors'].map(long),
  ...['clients', 'humanClients', 'establishedClients', 'flaggedClients'].map(long),
  hashes('paths'),
  boolean('pathsOverflow'),
  nullableString('userAgent'),
  boolean('declaredCrawler'),
]);

const prefixCountSchema = record('PrefixCount', [
  string('prefix'),
  ...['clients', 'humanClients', 'establishedClients', 'protectedClients'].map(long),
]);

const trafficTickSchema = record('TrafficTick', [
  kind,
  ...['partition', 'time', 'requests', 'late', 'clients', 'establishedClients'].map(long),
  { name: 'prefixes', type: { type: 'array', items: prefixCountSchema } },
]);

const contentPartialFields = [
  nullableString('host'),
  string('path'),
  long('time'),
  ...['requests', 'withQuery', 'newVisitors', 'hits', 'misses', 'expired', 'stale', 'uncacheable'].map(long),
  ...['plainRequests', 'plainCached', 'busts', 'queryMisses', 'serverErrors'].map(long),
  double('originMsSum'),
  long('originCount'),
  hashes('queryHashes'),
  long('queryOverflow'),
];
/**
 * Since 2026-11: a query answer's size compared with the plain page's, and the parameter names
 * of answers that were not the plain page (older writers: 0 and none).
 */
const contentPartialSizeFields = [
  { name: 'queryCompared', type: 'long', default: 0 },
  { name: 'querySameAsPlain', type: 'long', default: 0 },
  { name: 'contentParams', type: { type: 'array', items: 'string' }, default: [] },
];

const contentPartialBatchSchema = (fields: object[]) =>
  record('ContentPartialBatch', [
    kind,
    long('time'),
    { name: 'partials', type: { type: 'array', items: record('ContentPartial', fields) } },
  ]);

/** The value branches, in union order; `kind` picks the branch. */
const BRANCHES = [
  ['client', clientSignalSchema],
  ['fingerprint', fingerprintPartialSchema],
  ['tick', trafficTickSchema],
  ['content-batch', contentPartialBatchSchema([...contentPartialFields, ...contentPartialSizeFields])],
] as const;

/** Batch of stage records (namespace `io.edgeguard`, version 1): the `eg-schema` fingerprint's schema. */
export const stageRecordBatchSchema = batchSchema(BRANCHES.map(([, schema]) => schema));

/**
 * The batch schema profilers wrote before content partials carried answer sizes: still read (a
 * content-watch upgraded before the profilers reads their batches, the sizes 0).
 */
export const stageRecordBatchSchemaWithoutSizes = batchSchema([
  ...BRANCHES.slice(0, 3).map(([, schema]) => schema),
  contentPartialBatchSchema(contentPartialFields),
]);

function batchSchema(branches: object[]) {
  return {
    type: 'record',
    name: 'StageRecordBatch',
    namespace: NS,
    fields: [
      {
        name: 'records',
        type: {
          type: 'array',
          items: {
            type: 'record',
            name: 'StageRecord',
            fields: [
              { name: 'key', type: 'string' },
              { name: 'time', type: 'long', doc: 'event time, epoch ms' },
              { name: 'seq', type: 'long', doc: 'per-source sequence number' },
              {
                name: 'value',
                doc: 'a stage message by its kind, or its JSON text when it does not fit a schema',
                type: [...branches, 'string'],
              },
            ],
          },
        },
      },
    ],
  };
}

/** One record of a batch: its own key, event time and per-source sequence number. */
export interface StageRecord {
  key: string;
  time: number;
  seq: number;
  value: unknown;
}

/** A wrapped union value as avsc reads it. */
interface Branch {
  unwrap(): unknown;
}

/**
 * Reads and writes stage record batches with one reader schema (`stageRecordBatchSchema`; tests
 * build others to check schema evolution).
 */
export class StageRecordCodec {
  private readonly format: AvroBatchFormat;
  private readonly branches = new Map<string, avro.Type>();
  private readonly jsonBranch: avro.Type;
  /** Writers use the hand-written encoder (stage-record-encoder.ts): this is its schema. */
  readonly handWritten: boolean;

  constructor(
    schema: object = stageRecordBatchSchema,
    /** false: avsc writes every record (tests compare the two). */
    handWritten = true,
  ) {
    const registry: Record<string, avro.Type> = {};
    this.format = new AvroBatchFormat('record batch', schema, { registry, omitRecordMethods: true });
    // Decoded records are plain objects, as JSON.parse gives: the generated record classes would
    // otherwise sit between them and Object.prototype (assert.deepStrictEqual and structuredClone
    // see the difference). Without record methods (`omitRecordMethods`) the class adds nothing.
    for (const type of Object.values(registry)) {
      if (type instanceof avro.types.RecordType) type.recordConstructor.prototype = Object.prototype;
    }
    const union = (this.format.itemType as avro.types.RecordType).fields[3]!
      .type as avro.types.WrappedUnionType;
    BRANCHES.forEach(([kind], index) => {
      this.branches.set(kind, union.types[index]!);
    });
    this.jsonBranch = union.types.find((type) => type.typeName === 'string')!;
    this.handWritten = handWritten && this.format.fingerprint === STAGE_RECORD_ENCODER_FINGERPRINT;
    if (schema === stageRecordBatchSchema) this.format.register(stageRecordBatchSchemaWithoutSizes);
  }

  /** Hex SHA-256 of the reader's (and writer's) batch schema: the `eg-schema` header value. */
  get fingerprint(): string {
    return this.format.fingerprint;
  }

  /** Makes batches of an older/newer writer schema readable; returns its fingerprint. */
  register(schema: object): string {
    return this.format.register(schema);
  }

  /** A writer of batches of this schema (one per open batch; keep it for the next one). */
  writer(): StageRecordWriter {
    const own = this.handWritten ? new StageRecordEncoder() : undefined;
    return new StageRecordWriter(this.format.itemType, this.branches, this.jsonBranch, own);
  }

  /** The records of a batch; throws `BadInput` (`unknown-schema`, `undecodable`). */
  decode(value: Buffer, fingerprint: string): StageRecord[] {
    const records = this.format.decode(value, fingerprint) as { value: unknown }[];
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      const branch = (record.value as Branch).unwrap();
      if (typeof branch === 'string') {
        try {
          record.value = JSON.parse(branch);
        } catch (error) {
          throw new BadInput(
            'undecodable',
            `record batch: record ${i}: not JSON: ${(error as Error).message}`,
          );
        }
      } else {
        record.value = branch;
        if ((branch as { kind: string }).kind === 'client') dropNullThresholds(branch as ClientSignalValue);
      }
    }
    return records as StageRecord[];
  }
}

interface ClientSignalValue {
  signals: { name: string; value: number; threshold?: number | null }[];
}

/** `Signal.threshold` is optional: absent, not null, where it was absent (the decider relies on it). */
function dropNullThresholds(signal: ClientSignalValue): void {
  const signals = signal.signals;
  for (let k = 0; k < signals.length; k++) {
    const s = signals[k]!;
    if (s.threshold === null) signals[k] = { name: s.name, value: s.value };
  }
}

/** Appends stage records to one open batch (see {@link AvroBatchWriter}). */
export class StageRecordWriter {
  private readonly batch: AvroBatchWriter;
  /** The record as the union needs it: the value wrapped in its branch (reused; avsc only). */
  private readonly wire = { key: '', time: 0, seq: 0, value: null as unknown };
  private avscJsonRecords = 0;

  constructor(
    itemType: avro.Type,
    private readonly branches: ReadonlyMap<string, avro.Type>,
    private readonly jsonBranch: avro.Type,
    /** Writes records of this build's schema (checks and JSON fallback included); else avsc. */
    private readonly own?: StageRecordEncoder,
  ) {
    this.batch = new AvroBatchWriter(own ?? itemType);
  }

  get count(): number {
    return this.batch.count;
  }

  /** Records written as JSON text because their value fits no schema (0 for the profiler's outputs). */
  get jsonRecords(): number {
    return this.own?.jsonRecords ?? this.avscJsonRecords;
  }

  /** See {@link AvroBatchWriter.add}: returns the batch finished because `record` did not fit. */
  add(record: StageRecord, limit: number): Buffer | null {
    // Encoded as Avro longs, which would silently write a fraction or NaN wrong.
    if (!Number.isSafeInteger(record.time) || !Number.isSafeInteger(record.seq))
      throw new Error(
        `stage record '${record.key}': time ${record.time} or seq ${record.seq} is not an integer`,
      );
    if (this.own !== undefined) return this.batch.add(record, limit);
    const wire = this.wire;
    wire.key = record.key;
    wire.time = record.time;
    wire.seq = record.seq;
    const value = record.value;
    const kind = value !== null && typeof value === 'object' ? (value as { kind?: unknown }).kind : undefined;
    const branch = typeof kind === 'string' ? this.branches.get(kind) : undefined;
    if (branch?.isValid(value) === true) {
      wire.value = branch.wrap(value);
    } else {
      wire.value = this.jsonBranch.wrap(JSON.stringify(value) ?? 'null');
      this.avscJsonRecords++;
    }
    return this.batch.add(wire, limit);
  }

  finish(): Buffer | null {
    return this.batch.finish();
  }
}

/** The stage record batches this build writes and reads. */
export const stageRecords = new StageRecordCodec();
