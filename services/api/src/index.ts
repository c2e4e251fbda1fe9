export { Authenticator, KEY_CACHE_TTL_MS } from './auth.js';
export { decisionId, toCrowdsec } from './crowdsec.js';
export { ApiError } from './errors.js';
export { type ApiKeyInfo, type ApiKeyRecord, ApiKeyStore, apiKeys, SCOPES, type Scope } from './keys.js';
export { type ApiOptions, apiOptions } from './options.js';
export { CachePolicyState } from './policies.js';
export { type RunningApi, runApi } from './run.js';
export { BODY_LIMIT, createApiServer, URL_LIMIT } from './server.js';
export { DEFAULT_TOMBSTONES, type TombstoneOptions, TombstoneRecorder, Tombstones } from './tombstones.js';
