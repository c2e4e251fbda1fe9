/**
 * @edgeguard/testkit: deterministic, labelled access-log traffic (humans, look-alike legitimate
 * automation and the bots of the 21 January incident) for detection tests, the demo and benchmarks.
 */
export {
  BINGBOT_RANGES,
  formatIPv6,
  GOOGLEBOT_RANGES,
  LOAD_BALANCER_COUNT,
  loadBalancerAddress,
  UPTIMEROBOT_ADDRESSES,
} from './addresses.js';
export {
  DEFAULT_POPULATIONS,
  DEFAULT_START,
  type Incident,
  NAT_CONCURRENT_SESSIONS,
  type ScenarioOptions,
} from './cast.js';
export { ORIGIN_TIMEOUT_MS } from './edge-cache.js';
export {
  COMBINED_LOG_FORMAT,
  EDGE_LOG_FORMAT,
  EDGE_TRUSTED_PROXIES,
  type OutputFormat,
  TimeLocalFormatter,
} from './formats.js';
export {
  type ClientLabel,
  EDGE_ONLY_ROLES,
  ROLE_TRAITS,
  ROLES,
  type Role,
  type RoleTraits,
} from './labels.js';
export { deriveSeed, Rng } from './rng.js';
export { generateScenario, type Scenario, writeScenario } from './scenario.js';
export { API_HOST, PRODUCT_COUNT, SENSITIVE_PATHS, SITE_HOST } from './site.js';
