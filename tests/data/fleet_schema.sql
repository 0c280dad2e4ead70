-- A small tenant schema for the fleet tests: created unqualified, so it can be loaded into a
-- database's public schema or into one schema per tenant (with search_path set first).
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id), body text);
CREATE TABLE comments (
    id bigint PRIMARY KEY,
    user_id bigint REFERENCES users (id) ON DELETE NO ACTION,
    post_id bigint NOT NULL REFERENCES posts (id),
    body text
);
-- No FK yet: the manifest creates one (a row pointing at no user blocks it).
CREATE TABLE sessions (id bigint PRIMARY KEY, user_id bigint NOT NULL);
-- Present in older tenants only: the manifest marks it optional.
CREATE TABLE legacy_notes (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));

INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 20) g;
INSERT INTO posts SELECT g, 1 + g % 20, 'post' FROM generate_series(1, 50) g;
INSERT INTO comments SELECT g, 1 + g % 20, 1 + g % 50, 'comment' FROM generate_series(1, 100) g;
INSERT INTO sessions SELECT g, 1 + g % 20 FROM generate_series(1, 30) g;
INSERT INTO legacy_notes SELECT g, 1 + g % 20 FROM generate_series(1, 10) g;
