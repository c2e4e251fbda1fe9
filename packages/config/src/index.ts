export * from './duration.js';
export * from './load.js';
export * from './validate.js';
