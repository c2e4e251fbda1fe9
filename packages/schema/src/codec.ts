import avro from 'avsc';
import { type AccessLog, accessLogSchema } from './access-log.js';

/**
 * The compiled Avro type of the AccessLog record. avsc generates code per type, so it is built
 * once here and shared. Long values decode to JS numbers (safe for epoch ms up to 2^53).
 */
export const accessLogType = avro.Type.forSchema(accessLogSchema as unknown as avro.Schema);

export function encodeAccessLog(record: AccessLog): Buffer {
  return accessLogType.toBuffer(record);
}

/** Decodes one record; throws a descriptive error on truncated or trailing bytes. */
export function decodeAccessLog(buf: Buffer): AccessLog {
  return accessLogType.fromBuffer(buf) as AccessLog;
}
