export {
  addressHex,
  type CanonicalKey,
  canonicalDecisionKey,
  networkField,
  parseDecisionKey,
  type StoreKeys,
  splitDecisionKey,
  storeKeys,
} from './keys.js';
export {
  type AllowEntry,
  type Change,
  type ChangesPage,
  compareStrength,
  type DecisionPage,
  DecisionStore,
  type DecisionStoreOptions,
  entryVersion,
  type ListOptions,
  PUT_REFUSED_DELETED,
  parseChangeEntry,
  type SweepResult,
} from './store.js';
