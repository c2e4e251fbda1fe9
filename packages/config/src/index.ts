export * from './duration.js';
export * from './edgeguard-config.js';
export * from './list.js';
export * from './load.js';
export * from './validate.js';
