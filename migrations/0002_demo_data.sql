-- Demo data: a small blog about edge computing, so that the demo page, the
-- feed and the tests have something real to show and to invalidate.
-- Ids are explicit so that the relations below read plainly; AUTOINCREMENT
-- continues after the largest one. Timestamps are milliseconds since the
-- Unix epoch (2026-08-20 to 2026-11-12, UTC).

INSERT INTO types (id, name, created_at, updated_at) VALUES
  (1, 'Topic',        1787220000000, 1787220000000),
  (2, 'Series',       1787220000000, 1787220000000),
  (3, 'Site section', 1787220000000, 1787220000000);

INSERT INTO categories (id, name, type_id, created_at, updated_at) VALUES
  (1, 'Caching',         1, 1787220000000, 1787220000000),
  (2, 'Durable Objects', 1, 1787220000000, 1787220000000),
  (3, 'Edge Basics',     2, 1787306400000, 1787306400000),
  (4, 'About',           3, 1787306400000, 1787306400000);

INSERT INTO pictures (id, url, alt, created_at, updated_at) VALUES
  (1, 'https://picsum.photos/seed/polycache-edge-map/1200/630',
      'A world map with glowing points where edge locations serve requests',
      1787306400000, 1787306400000),
  (2, 'https://picsum.photos/seed/polycache-server-rack/1200/630',
      'A rack of servers lit in blue, cables neatly bundled',
      1787306400000, 1787306400000),
  (3, 'https://picsum.photos/seed/polycache-fibre/1200/630',
      'Fibre-optic strands carrying light across a dark background',
      1787306400000, 1787306400000),
  (4, 'https://picsum.photos/seed/polycache-notebook/1200/630',
      'An open notebook with a hand-drawn cache diagram',
      1787306400000, 1787306400000);

INSERT INTO translations (id, lang, key, value, created_at, updated_at) VALUES
  (1, 'de', 'page.about.title', 'Über dieses Blog', 1787396400000, 1787396400000),
  (2, 'fr', 'page.colophon.title', 'Colophon : comment ce site est construit',
      1787396400000, 1787396400000),
  (3, 'es', 'page.newsletter.title', 'Boletín: una carta al mes sobre el edge',
      1787396400000, 1787396400000);

INSERT INTO posts (id, title, body, category_id, picture_id, created_at, updated_at) VALUES
  (1, 'What "the edge" actually means',
      'The edge is not a place but a distance: code that runs in the data centre nearest to the visitor, a few milliseconds away instead of a hundred. This post walks through what moves to the edge well (routing, auth checks, cached reads) and what does not (large joins, long transactions).',
      3, 1, 1788339600000, 1788339600000),
  (2, 'Cache invalidation by generation',
      'Scanning keys to delete them does not scale and races with readers. Instead, every type gets a generation counter; a cached entry records the generations it was built from, and bumping a counter turns every older entry into a miss at once. Old entries simply age out by TTL.',
      1, 4, 1789482600000, 1789482600000),
  (3, 'One Durable Object per deployment',
      'A Durable Object is a single-threaded actor with its own storage, addressed by name. We use exactly one per deployment as the hub for generation counters, the event log and the open streams, which gives us strong consistency without a lock service.',
      2, 2, 1790669700000, 1790669700000),
  (4, 'Server-Sent Events that survive proxies',
      'SSE is just a long HTTP response, which is both its charm and its trap: idle proxies cut it, and a closed client is only noticed on the next write. A comment line every fifteen seconds keeps the stream alive and lets the runtime notice who has left.',
      3, 3, 1791481500000, 1791481500000),
  (5, 'Leases without memcache',
      'A reader that takes the generation before reading the origin, and stores its result under that generation, can never re-fill the cache with a row that a concurrent write just replaced. It is the same guarantee memcache leases give, with no extra round trip.',
      1, NULL, 1792576800000, 1792576800000),
  (6, 'Mirroring invalidations between deployments',
      'When a developer edits production data from a local instance, production''s cache and visitors must hear about it. Every invalidation goes into a durable outbox per mirror, delivered by an alarm with exponential backoff, and deduplicated by origin and event id on arrival.',
      2, NULL, 1793708400000, 1793708400000);

INSERT INTO pages (id, title, slug, body, category_id, picture_id, translation_id, created_at, updated_at) VALUES
  (1, 'About this blog', 'about',
      'Notes from building polycache, a cache-invalidation layer for applications that run at the edge. Written by the people who keep getting paged when the cache is stale.',
      4, 4, 1, 1787396400000, 1787396400000),
  (2, 'Colophon', 'colophon',
      'This site is a Rust Worker on Cloudflare with its content in D1. Reads go through a generation-stamped cache; writes invalidate it and tell every open browser over Server-Sent Events.',
      4, 2, 2, 1793350800000, 1793350800000),
  (3, 'Newsletter', 'newsletter',
      'One letter a month about edge computing: what we shipped, what broke, and what we learned from it. No tracking pixels, unsubscribe with one click.',
      NULL, NULL, 3, 1794499500000, 1794499500000);
