export * from './access-log.js';
export * from './bad-input.js';
export * from './codec.js';
export * from './decision.js';
export * from './envelope.js';
