// Moved to @edgeguard/schema (logformat, which config depends on, needs it too); kept here for callers.
export { suggest } from '@edgeguard/schema';
export * from './duration.js';
export * from './edgeguard-config.js';
export * from './list.js';
export * from './load.js';
export * from './validate.js';
