-- The origin data of polycache: the content tables whose cached reads the
-- cache service invalidates (README, "API"). One table per
-- content type, named after the type's canonical plural.
--
-- Conventions, relied on by src/db/schema.rs (whose `TABLES` describe the
-- same columns, limits and references; a unit test there checks that the
-- two agree):
-- - `id INTEGER PRIMARY KEY AUTOINCREMENT`: AUTOINCREMENT so that an id is
--   never reused after a delete; a cached `null` for a deleted id, or an SSE
--   event naming it, can then never be mistaken for a later row.
-- - `created_at`, `updated_at`: integer milliseconds since the Unix epoch,
--   set by the Worker (not by SQLite defaults, which have second precision).
-- - Text limits count characters, as SQLite's length() does; the CHECKs are a
--   backstop for writes that bypass the API (`wrangler d1 execute`), the API
--   answers 422 before they are reached.
-- - References: D1 in production enforces foreign keys, local D1 does not
--   unless asked, so the Worker checks every reference itself and, on
--   delete, clears nullable references to the row in the same batch (the
--   ON DELETE SET NULL below says the same for other writers) and refuses
--   (409) to delete a row still referenced by a required column
--   (ON DELETE RESTRICT).

-- Kinds of categories (a topic, a series, a section of the site).
CREATE TABLE types (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE categories (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  type_id    INTEGER NOT NULL REFERENCES types (id) ON DELETE RESTRICT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX categories_type_id ON categories (type_id);

CREATE TABLE pictures (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  url        TEXT    NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  alt        TEXT    NOT NULL DEFAULT '' CHECK (length(alt) BETWEEN 0 AND 300),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- One translated string: `value` is `key` in the language `lang` (a BCP 47 tag).
CREATE TABLE translations (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  lang       TEXT    NOT NULL CHECK (length(lang) BETWEEN 2 AND 35),
  key        TEXT    NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
  value      TEXT    NOT NULL CHECK (length(value) BETWEEN 0 AND 10000),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE posts (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  title       TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  body        TEXT    NOT NULL CHECK (length(body) BETWEEN 0 AND 50000),
  category_id INTEGER REFERENCES categories (id) ON DELETE SET NULL,
  picture_id  INTEGER REFERENCES pictures (id) ON DELETE SET NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE INDEX posts_category_id ON posts (category_id);
CREATE INDEX posts_picture_id ON posts (picture_id);
-- The feed reads newest first.
CREATE INDEX posts_created_at ON posts (created_at DESC, id DESC);

CREATE TABLE pages (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  title          TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  -- Lower-case words joined by single hyphens ("about-this-blog").
  slug           TEXT    NOT NULL UNIQUE
                         CHECK (length(slug) BETWEEN 1 AND 100 AND slug NOT GLOB '*[^a-z0-9-]*'),
  body           TEXT    NOT NULL CHECK (length(body) BETWEEN 0 AND 50000),
  category_id    INTEGER REFERENCES categories (id) ON DELETE SET NULL,
  picture_id     INTEGER REFERENCES pictures (id) ON DELETE SET NULL,
  translation_id INTEGER REFERENCES translations (id) ON DELETE SET NULL,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
);
CREATE INDEX pages_category_id ON pages (category_id);
CREATE INDEX pages_picture_id ON pages (picture_id);
CREATE INDEX pages_translation_id ON pages (translation_id);
CREATE INDEX pages_created_at ON pages (created_at DESC, id DESC);
