export * from './access-log.js';
export * from './avro-batch.js';
export * from './bad-input.js';
export * from './codec.js';
export * from './decision.js';
export * from './envelope.js';
export * from './record-batch.js';
export * from './suggest.js';
