-- The application the first-deploy page walks through: a few tables that reference users with
-- the default NO ACTION, so deleting a user fails.
CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE posts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users,
    title text NOT NULL
);
CREATE INDEX posts_user_id_idx ON posts (user_id);
CREATE TABLE comments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id bigint NOT NULL REFERENCES posts,
    user_id bigint NOT NULL REFERENCES users,
    body text NOT NULL
);
CREATE TABLE sessions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users ON UPDATE CASCADE,
    started_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE audit_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id bigint REFERENCES users,
    action text NOT NULL
);
INSERT INTO users (email) SELECT 'user' || g || '@example.org' FROM generate_series(1, 20) g;
INSERT INTO posts (user_id, title) SELECT 1 + g % 20, 'post ' || g FROM generate_series(1, 100) g;
INSERT INTO comments (post_id, user_id, body) SELECT 1 + g % 100, 1 + g % 20, 'comment' FROM generate_series(1, 300) g;
INSERT INTO sessions (user_id) SELECT 1 + g % 20 FROM generate_series(1, 40) g;
INSERT INTO audit_events (actor_id, action) SELECT 1 + g % 20, 'login' FROM generate_series(1, 50) g;
