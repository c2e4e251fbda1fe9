/**
 * Ground truth: what each client address really is. Detection tests score themselves against it.
 */

export type Role =
  | 'human'
  | 'nat'
  | 'crawler'
  | 'fake-crawler'
  | 'monitor'
  | 'feed-reader'
  | 'mobile-app'
  | 'scraper'
  | 'scanner'
  | 'swarm'
  | 'swarm-buster'
  | 'residential-swarm'
  | 'credential-stuffer'
  | 'xff-spoofer'
  | 'xff-victim';

export interface ClientLabel {
  /** The real client address (after X-Forwarded-For resolution), canonical text form. */
  ip: string;
  role: Role;
  /** True for abusive automation that detection should act on. */
  bot: boolean;
  /**
   * Never block or challenge: the look-alikes (NAT, verified crawlers, monitors, feed readers, the
   * app, the spoofing victim). Blocking one is a failure, not a mere false positive.
   */
  protected: boolean;
  /** Event time of the client's first request in the output, epoch ms (the log itself has 1 s resolution). */
  firstSeen: number;
  /** Lines in the output whose resolved client is this address. */
  requests: number;
}

export interface RoleTraits {
  bot: boolean;
  protected: boolean;
}

export const ROLE_TRAITS: Readonly<Record<Role, RoleTraits>> = {
  human: { bot: false, protected: false },
  nat: { bot: false, protected: true },
  crawler: { bot: false, protected: true },
  'fake-crawler': { bot: true, protected: false },
  monitor: { bot: false, protected: true },
  'feed-reader': { bot: false, protected: true },
  'mobile-app': { bot: false, protected: true },
  scraper: { bot: true, protected: false },
  scanner: { bot: true, protected: false },
  swarm: { bot: true, protected: false },
  'swarm-buster': { bot: true, protected: false },
  'residential-swarm': { bot: true, protected: false },
  'credential-stuffer': { bot: true, protected: false },
  'xff-spoofer': { bot: true, protected: false },
  'xff-victim': { bot: false, protected: true },
};

export const ROLES = Object.keys(ROLE_TRAITS) as Role[];

/** Roles that need a proxy chain (X-Forwarded-For) to exist: only generated in `edge` format. */
export const EDGE_ONLY_ROLES: ReadonlySet<Role> = new Set<Role>(['xff-spoofer', 'xff-victim']);
