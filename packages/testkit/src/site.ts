/**
 * The site under attack: a web shop with a product catalogue, category listings, a blog, an RSS
 * feed, a JSON API for its mobile app and a login form. Page popularity is Zipf-shaped, so humans
 * naturally repeat the popular pages (the home page, the top products) without being bots.
 */
import { type Rng, WeightedChoice, zipf } from './rng.js';

export const SITE_HOST = 'www.example.com';
export const API_HOST = 'api.example.com';
export const SITE_ORIGIN = `https://${SITE_HOST}`;

/** Products are /products/1 .. /products/PRODUCT_COUNT; ids above it answer 404. */
export const PRODUCT_COUNT = 4000;

export type PageKind =
  | 'home'
  | 'category'
  | 'product'
  | 'blog'
  | 'info'
  | 'deals'
  | 'search'
  | 'cart'
  | 'login'
  | 'account';

export interface Page {
  kind: PageKind;
  path: string;
  /** Raw query string without `?`, or null. */
  query: string | null;
  /** Product id for product pages (drives which images the page loads). */
  product?: number;
  slug?: string;
}

export function targetOf(page: { path: string; query: string | null }): string {
  return page.query === null ? page.path : `${page.path}?${page.query}`;
}

export const CATEGORIES = [
  'shoes',
  'running',
  'hiking',
  'jackets',
  'bags',
  'watches',
  'accessories',
  'outdoor',
  'kids',
  'sale',
  'new-arrivals',
  'electronics',
] as const;

export const BLOG_POSTS = [
  'winter-sale-2024',
  'how-to-choose-running-shoes',
  'trail-guide-alps',
  'care-for-leather-boots',
  'our-new-store',
  'packing-list-weekend-hike',
  'sizing-guide',
  'sustainable-materials',
  'gift-ideas',
  'marathon-training-plan',
  'waterproof-jackets-tested',
  'behind-the-scenes',
  'spring-collection-preview',
  'customer-stories',
  'warranty-explained',
] as const;

const INFO_PAGES = ['/about', '/contact', '/faq.html', '/shipping.html', '/returns.html', '/privacy.html'];

const SEARCH_TERMS = [
  'running shoes',
  'rain jacket',
  'hiking boots',
  'backpack',
  'smart watch',
  'trail runners',
  'kids shoes',
  'wool socks',
  'gift card',
  'down jacket',
  'sandals',
  'leather bag',
  'headlamp',
  'gore-tex',
  'size 44',
];

// Product popularity: rank 1 is the best seller. Ranks map to ids through a fixed bijection
// (2731 is coprime with PRODUCT_COUNT) so best sellers are not simply /products/1, /products/2.
const PRODUCT_POPULARITY = zipf(PRODUCT_COUNT, 1.05);
export function productIdOfRank(rank: number): number {
  return 1 + (((rank - 1) * 2731 + 17) % PRODUCT_COUNT);
}
export function popularProduct(rng: Rng): number {
  return productIdOfRank(PRODUCT_POPULARITY.draw(rng));
}

/**
 * Whether the edge cache is likely to hold this page: popular pages stay warm, the long tail of
 * the catalogue mostly is not cached when a crawler or scraper walks through it.
 */
const WARM_PRODUCTS = new Set(Array.from({ length: 300 }, (_, i) => productIdOfRank(i + 1)));
export function isWarm(path: string): boolean {
  if (!path.startsWith('/products/')) return true;
  return WARM_PRODUCTS.has(Number(path.slice('/products/'.length)));
}

/**
 * Visits every product id in 1..limit exactly once, in a scrambled order (a stride coprime with
 * `limit`), without remembering which ones were seen: crawlers and scrapers never repeat a page.
 */
export class ProductSweep {
  private step = 0;
  private readonly offset: number;
  private readonly stride: number;

  constructor(
    rng: Rng,
    readonly limit: number,
  ) {
    this.offset = rng.int(0, limit - 1);
    let stride = rng.int(Math.floor(limit / 3), limit - 1);
    while (gcd(stride, limit) !== 1) stride++;
    this.stride = stride;
  }

  next(): number {
    const id = 1 + ((this.offset + this.step * this.stride) % this.limit);
    this.step++;
    return id;
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

const CATEGORY_POPULARITY = zipf(CATEGORIES.length, 0.8);
const BLOG_POPULARITY = zipf(BLOG_POSTS.length, 0.9);

function categoryPage(rng: Rng): Page {
  const slug = CATEGORIES[CATEGORY_POPULARITY.draw(rng) - 1] as string;
  let query: string | null = null;
  const variant = rng.float();
  // Legitimate, stable query strings: pagination and sort orders repeat across visitors.
  if (variant < 0.25) query = `page=${rng.int(2, 5)}`;
  else if (variant < 0.37) query = `sort=${rng.pick(['price-asc', 'price-desc', 'newest', 'popular'])}`;
  return { kind: 'category', path: `/category/${slug}`, query, slug };
}

function productPage(rng: Rng): Page {
  const product = popularProduct(rng);
  return { kind: 'product', path: `/products/${product}`, query: null, product };
}

function blogPage(rng: Rng): Page {
  const slug = BLOG_POSTS[BLOG_POPULARITY.draw(rng) - 1] as string;
  return { kind: 'blog', path: `/blog/${slug}.html`, query: null, slug };
}

const PAGE_BUILDERS: Record<PageKind, (rng: Rng) => Page> = {
  home: () => ({ kind: 'home', path: '/', query: null }),
  category: categoryPage,
  product: productPage,
  blog: blogPage,
  info: (rng) => ({ kind: 'info', path: rng.pick(INFO_PAGES), query: null }),
  deals: () => ({ kind: 'deals', path: '/deals', query: null }),
  search: (rng) => ({
    kind: 'search',
    path: '/search',
    query: `q=${rng.pick(SEARCH_TERMS).replaceAll(' ', '+')}`,
  }),
  cart: () => ({ kind: 'cart', path: '/cart', query: null }),
  login: () => ({ kind: 'login', path: '/login', query: null }),
  account: () => ({ kind: 'account', path: '/account', query: null }),
};

const LANDING = WeightedChoice.of<PageKind>([
  ['home', 35],
  ['product', 30],
  ['category', 15],
  ['blog', 10],
  ['deals', 8],
  ['search', 2],
]);
const NEXT_AFTER: Partial<Record<PageKind, WeightedChoice<PageKind>>> = {
  home: WeightedChoice.of<PageKind>([
    ['category', 35],
    ['product', 30],
    ['deals', 15],
    ['search', 10],
    ['blog', 5],
    ['login', 5],
  ]),
  category: WeightedChoice.of<PageKind>([
    ['product', 65],
    ['category', 20],
    ['home', 5],
    ['search', 5],
    ['cart', 5],
  ]),
  product: WeightedChoice.of<PageKind>([
    ['product', 45],
    ['category', 20],
    ['cart', 10],
    ['home', 8],
    ['search', 7],
    ['info', 5],
    ['login', 5],
  ]),
  search: WeightedChoice.of<PageKind>([
    ['product', 70],
    ['search', 15],
    ['category', 15],
  ]),
  cart: WeightedChoice.of<PageKind>([
    ['product', 40],
    ['login', 30],
    ['home', 15],
    ['category', 15],
  ]),
};
const NEXT_DEFAULT = WeightedChoice.of<PageKind>([
  ['home', 25],
  ['product', 35],
  ['category', 20],
  ['blog', 10],
  ['info', 10],
]);

export function landingPage(rng: Rng): Page {
  return PAGE_BUILDERS[LANDING.draw(rng)](rng);
}

/** Where a visitor goes next from `current` (a first-order model of shop navigation). */
export function nextPage(rng: Rng, current: PageKind): Page {
  return PAGE_BUILDERS[(NEXT_AFTER[current] ?? NEXT_DEFAULT).draw(rng)](rng);
}

/** Pages the swarm can fixate on: the ones a campaign (sale, launch) makes hot. */
export function hotPageCandidates(): string[] {
  return [
    '/',
    '/deals',
    `/products/${productIdOfRank(1)}`,
    '/category/sale',
    `/products/${productIdOfRank(2)}`,
    '/blog/winter-sale-2024.html',
    `/products/${productIdOfRank(3)}`,
    '/category/new-arrivals',
  ];
}

export type AssetType = 'css' | 'js' | 'font' | 'image' | 'icon';
export interface Asset {
  path: string;
  type: AssetType;
}

/** Site-wide assets every page references; browsers cache them after the first page view. */
export const SHARED_ASSETS: readonly Asset[] = [
  { path: '/assets/css/main.3f9a2c1e.css', type: 'css' },
  { path: '/assets/js/runtime.8b1d44e0.js', type: 'js' },
  { path: '/assets/js/vendor.5c2e91ab.js', type: 'js' },
  { path: '/assets/js/app.d41f0a77.js', type: 'js' },
  { path: '/assets/fonts/inter-latin-400.woff2', type: 'font' },
  { path: '/assets/fonts/inter-latin-600.woff2', type: 'font' },
  { path: '/assets/img/logo.webp', type: 'image' },
  { path: '/assets/img/icons.png', type: 'image' },
  { path: '/favicon.ico', type: 'icon' },
];
/** Fonts are requested by the stylesheet, so their referer is the CSS file, not the page. */
export const STYLESHEET_URL = `${SITE_ORIGIN}${SHARED_ASSETS[0]?.path}`;

/** Images a page of this kind loads (its own content, not the shared chrome). */
export function pageImages(rng: Rng, page: Page): string[] {
  const images: string[] = [];
  const thumbs = (count: number) => {
    for (let i = 0; i < count; i++) images.push(`/images/products/${popularProduct(rng)}/thumb.webp`);
  };
  switch (page.kind) {
    case 'home':
      for (let k = 1; k <= 3; k++) images.push(`/images/banners/hero-${k}.webp`);
      thumbs(rng.int(6, 10));
      break;
    case 'category':
    case 'deals':
      thumbs(rng.int(8, 16));
      break;
    case 'product':
      for (let k = 1; k <= rng.int(3, 6); k++) images.push(`/images/products/${page.product}/${k}.webp`);
      thumbs(rng.int(2, 6));
      break;
    case 'blog':
      for (let k = 1; k <= rng.int(1, 4); k++) images.push(`/images/blog/${page.slug}/${k}.png`);
      break;
    case 'search':
      thumbs(rng.int(4, 12));
      break;
    case 'cart':
      thumbs(rng.int(1, 3));
      break;
    default:
      break;
  }
  return images;
}

/** FNV-1a: a stable per-URL number, so one file always has the same size. */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

function sizeBetween(path: string, low: number, high: number): number {
  return low + (stableHash(path) % (high - low));
}

/**
 * Sizes already computed, per path. Bounded by the catalogue (every asset and page path is built
 * from a fixed list or a product id), and capped anyway: past the cap sizes are just recomputed.
 */
const SIZE_CACHE_MAX = 100_000;
const assetSizes = new Map<string, number>();

/** Body bytes of a static file (stable per URL, in the range typical of its type). */
export function assetBytes(path: string): number {
  const known = assetSizes.get(path);
  if (known !== undefined) return known;
  const bytes = computeAssetBytes(path);
  if (assetSizes.size < SIZE_CACHE_MAX) assetSizes.set(path, bytes);
  return bytes;
}

function computeAssetBytes(path: string): number {
  if (path.endsWith('.css')) return sizeBetween(path, 28_000, 60_000);
  if (path.includes('vendor')) return sizeBetween(path, 160_000, 240_000);
  if (path.includes('runtime')) return sizeBetween(path, 1_500, 3_000);
  if (path.endsWith('.js')) return sizeBetween(path, 40_000, 90_000);
  if (path.endsWith('.woff2')) return sizeBetween(path, 20_000, 32_000);
  if (path.endsWith('.ico')) return 15_086;
  if (path.includes('/thumb.')) return sizeBetween(path, 4_000, 14_000);
  if (path.includes('/banners/')) return sizeBetween(path, 80_000, 200_000);
  if (path.endsWith('.png')) return sizeBetween(path, 40_000, 300_000);
  return sizeBetween(path, 25_000, 120_000);
}

/** Compressed HTML body bytes of a page: stable per URL, a little variation from dynamic parts. */
const pageSizes = new Map<string, number>();
export function pageBytes(rng: Rng, path: string): number {
  let base = pageSizes.get(path);
  if (base === undefined) {
    base = sizeBetween(path, 7_000, 32_000);
    if (pageSizes.size < SIZE_CACHE_MAX) pageSizes.set(path, base);
  }
  return base + rng.int(0, 400);
}

/**
 * Paths vulnerability scanners probe for (leaked secrets, admin panels, known-vulnerable
 * components). The list is ours; the kinds of target follow what public scanner corpora contain.
 */
export const SENSITIVE_PATHS = [
  '/.env',
  '/.env.local',
  '/.env.production',
  '/.git/config',
  '/.git/HEAD',
  '/.svn/entries',
  '/.DS_Store',
  '/wp-login.php',
  '/wp-admin/',
  '/wp-config.php.bak',
  '/xmlrpc.php',
  '/wp-content/plugins/revslider/',
  '/phpmyadmin/',
  '/pma/',
  '/admin.php',
  '/admin/',
  '/administrator/',
  '/config.json',
  '/config.php.bak',
  '/.aws/credentials',
  '/.ssh/id_rsa',
  '/backup.sql',
  '/db.sql',
  '/dump.sql.gz',
  '/server-status',
  '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php',
  '/cgi-bin/luci',
  '/actuator/env',
  '/actuator/health',
  '/.vscode/sftp.json',
  '/info.php',
  '/phpinfo.php',
  '/debug/default/view',
  '/telescope/requests',
  '/_profiler/phpinfo',
  '/.well-known/security.txt',
  '/owa/auth/logon.aspx',
  '/solr/admin/info/system',
  '/console/',
  '/boaform/admin/formLogin',
  '/HNAP1/',
  '/.htpasswd',
  '/api/.env',
  '/storage/logs/laravel.log',
  '/docker-compose.yml',
  '/.npmrc',
  '/sftp-config.json',
] as const;

/** What the origin answers for a probe path on this site (it runs none of the probed software). */
export function probeStatus(rng: Rng, path: string): number {
  if (path === '/.well-known/security.txt') return 200;
  if (path.startsWith('/.git') || path.startsWith('/.ht') || path === '/server-status') return 403;
  if (path.startsWith('/actuator') || path === '/console/') return rng.chance(0.5) ? 404 : 401;
  return 404;
}
