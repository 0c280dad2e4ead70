-- The schema docs/validate.md's samples run on: NOT VALID FKs, one with orphan rows.
CREATE TABLE users (id bigint PRIMARY KEY);
INSERT INTO users SELECT g FROM generate_series(1, 10) g;
CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users);
INSERT INTO posts SELECT g, 1 + g % 10 FROM generate_series(1, 3000) g;
CREATE TABLE sessions (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users);
INSERT INTO sessions SELECT g, 1 + g % 10 FROM generate_series(1, 20) g;
-- comments: an FK added NOT VALID over rows of users 11 to 100, which never existed (540 orphans)
CREATE TABLE comments (id bigint PRIMARY KEY, user_id bigint NOT NULL);
INSERT INTO comments SELECT g, 1 + g % 100 FROM generate_series(1, 600) g;
CREATE INDEX ON comments (user_id);
ALTER TABLE comments ADD CONSTRAINT comments_user_id_fkey FOREIGN KEY (user_id) REFERENCES users
    ON DELETE CASCADE NOT VALID;
-- likes: NOT VALID too, but every row has its user
CREATE TABLE likes (id bigint PRIMARY KEY, user_id bigint NOT NULL);
INSERT INTO likes SELECT g, 1 + g % 10 FROM generate_series(1, 1500) g;
CREATE INDEX ON likes (user_id);
ALTER TABLE likes ADD CONSTRAINT likes_user_id_fkey FOREIGN KEY (user_id) REFERENCES users
    ON DELETE CASCADE NOT VALID;
CREATE INDEX ON posts (user_id);
CREATE INDEX ON sessions (user_id);
