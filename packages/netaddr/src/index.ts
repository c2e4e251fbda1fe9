export {
  type Cidr,
  cidrOf,
  cidrsOverlap,
  type Ipv4Cidr,
  type Ipv6Cidr,
  maskIpv6Words,
  parseCidr,
  parseExactCidr,
  wordMask,
} from './cidr.js';
export { CidrSet } from './cidr-set.js';
export {
  canonicalIp,
  canonicalIpAt,
  formatIpv4,
  formatIpv6Words,
  type IpAddress,
  type Ipv4Address,
  type Ipv6Address,
  ipVersion,
  parseIp,
  parseIpInto,
  parseIpv4Value,
} from './ip.js';
export { prefixOf } from './prefix.js';
export { isPrivateOrReserved } from './ranges.js';
