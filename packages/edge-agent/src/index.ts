export {
  type AgentCounters,
  type AgentLogger,
  type AgentStats,
  type CounterName,
  EdgeAgent,
  type EdgeAgentOptions,
  type Feed,
  type FeedSink,
  type Source,
} from './agent.js';
export { type AllowEntry, AllowIndex, MAX_ALLOW_ENTRIES, parseAllowEntry } from './allowlist.js';
export { Backoff } from './backoff.js';
export {
  ALLOW,
  type CheckRequest,
  type CheckResult,
  DEFAULT_MAX_ENTRIES,
  DecisionIndex,
  type DecisionIndexOptions,
  type DecisionIndexStats,
} from './decision-index.js';
export { HttpSource, type HttpSourceOptions } from './http-source.js';
export { KafkaSource, type KafkaSourceOptions } from './kafka-source.js';
export { cacheKeyQuery, DEFAULT_MAX_POLICIES, PolicyIndex, type PolicyIndexOptions } from './policy-index.js';
export {
  type DecisionTarget,
  decisionTarget,
  normaliseHost,
  parseCachePolicy,
  parseDecision,
  parseDecisionKey,
} from './records.js';
export { SseError, type SseEvent, SseParser } from './sse.js';
