-- One tenant of the tenant isolation tests: created unqualified, loaded into one schema per
-- tenant (search_path set first). posts.user_id and comments.user_id have no index (the upgrade
-- builds them); comments.user_id has no FK yet and two rows that reference no user.
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id), body text);
CREATE TABLE comments (
    id bigint PRIMARY KEY,
    user_id bigint,
    post_id bigint NOT NULL REFERENCES posts (id),
    body text
);
INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 20) g;
INSERT INTO posts SELECT g, 1 + g % 20, 'post' FROM generate_series(1, 40) g;
INSERT INTO comments SELECT g, 1 + g % 20, 1 + g % 40, 'comment' FROM generate_series(1, 60) g;
INSERT INTO comments VALUES (61, 4242, 1, 'orphan'), (62, 4343, 2, 'orphan');
