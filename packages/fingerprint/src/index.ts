export { addressKey, fingerprintKey, prefixKey, tlsFingerprint } from './client-keys.js';
export { Fnv1a64, fnv1a64Hex } from './fnv.js';
export {
  createHttpFingerprinter,
  exactUserAgentHash,
  fingerprintLabel,
  type HttpFingerprinter,
  type HttpFingerprintOptions,
  type HttpFingerprintParts,
  httpFingerprint,
  httpFingerprintParts,
  normaliseAcceptLanguage,
  normaliseHeaderOrder,
} from './http-fingerprint.js';
export {
  classifyUserAgent,
  MAX_SCANNED_UA_LENGTH,
  parseUserAgent,
  type UaInfo,
  type UaKind,
} from './user-agent.js';
export {
  CRAWLER_RANGES_DATE,
  type CrawlerClaim,
  cdnProviderOf,
  cdnProviderOfIpv4,
  isCdnAddress,
  isCdnIpv4,
  isVerifiedCrawlerAddress,
  verifiedCrawlerRanges,
  verifyCrawlerClaim,
  verifyCrawlerHostname,
} from './verified-crawlers.js';
