export {
  addressHex,
  type CanonicalKey,
  canonicalDecisionKey,
  networkField,
  parseDecisionKey,
  type StoreKeys,
  storeKeys,
} from './keys.js';
export {
  type AllowEntry,
  type Change,
  type ChangesPage,
  compareStrength,
  type DecisionPage,
  type DecisionRecord,
  DecisionStore,
  type DecisionStoreOptions,
  type ListOptions,
  parseChangeEntry,
  type RebuildResult,
  restoreIfEmpty,
  type SweepResult,
} from './store.js';
