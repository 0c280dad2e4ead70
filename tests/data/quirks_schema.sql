-- Every quirk the core issue lists, in one schema. Loaded by tests/test_upgrade.py.
CREATE SCHEMA audit;
CREATE SCHEMA billing;

CREATE TABLE users (
    id bigint PRIMARY KEY,
    tenant_id integer NOT NULL DEFAULT 1,
    email text NOT NULL,
    UNIQUE (id, tenant_id)
);

-- PostgreSQL's default FK name
CREATE TABLE posts (id serial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));

-- names that differ from the default, and two FKs to users in one table
CREATE TABLE documents (
    id serial PRIMARY KEY,
    owner_id bigint NOT NULL,
    reviewed_by bigint,
    CONSTRAINT documents_belong_to_owner FOREIGN KEY (owner_id) REFERENCES users (id),
    CONSTRAINT documents_reviewer FOREIGN KEY (reviewed_by) REFERENCES users (id)
);

-- duplicate FKs on the same column
CREATE TABLE comments (
    id serial PRIMARY KEY,
    user_id bigint NOT NULL,
    CONSTRAINT comments_user_fk_a FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT comments_user_fk_b FOREIGN KEY (user_id) REFERENCES users (id)
);

-- composite FK, declared in another column order than the manifest's
CREATE TABLE memberships (
    user_id bigint NOT NULL,
    tenant_id integer NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);

-- properties that must survive: MATCH FULL, ON UPDATE CASCADE, DEFERRABLE INITIALLY DEFERRED
CREATE TABLE sessions (
    id serial PRIMARY KEY,
    user_id bigint,
    CONSTRAINT sessions_user FOREIGN KEY (user_id) REFERENCES users (id)
        MATCH FULL ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED
);

-- the same table and constraint name in two schemas
CREATE TABLE audit.events (user_id bigint CONSTRAINT events_user_fk REFERENCES users (id));
CREATE TABLE billing.events (user_id bigint CONSTRAINT events_user_fk REFERENCES users (id));

-- quoted mixed-case table and column
CREATE TABLE "UserSettings" ("UserId" bigint NOT NULL REFERENCES users (id), "Theme" text);

-- a table named with a keyword, and a keyword column
CREATE TABLE "order" (id serial PRIMARY KEY, "user" bigint REFERENCES users (id));

-- a 60-character table name and a 63-byte constraint name
CREATE TABLE user_preference_notification_channel_subscription_settings_x (
    user_id bigint NOT NULL,
    CONSTRAINT user_preference_notification_channel_subscription_settings_fk1
        FOREIGN KEY (user_id) REFERENCES users (id)
);

-- a partitioned table whose per-partition FK names are not the parent's
CREATE TABLE measurements (id bigint, user_id bigint NOT NULL, taken date NOT NULL)
    PARTITION BY RANGE (taken);
CREATE TABLE measurements_2024 PARTITION OF measurements
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE measurements ADD CONSTRAINT measurements_user_fk
    FOREIGN KEY (user_id) REFERENCES users (id);
CREATE TABLE measurements_2025 (
    id bigint, user_id bigint NOT NULL, taken date NOT NULL,
    CONSTRAINT m2025_owner_fk FOREIGN KEY (user_id) REFERENCES users (id)
);
ALTER TABLE measurements ATTACH PARTITION measurements_2025
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');

-- already what the manifest wants: must be left untouched
CREATE TABLE tokens (user_id bigint REFERENCES users (id) ON DELETE CASCADE);

-- no FK at all yet: the upgrade creates it
CREATE TABLE devices (id serial PRIMARY KEY, user_id bigint NOT NULL);

-- a chain: messages go with their session, sessions with their user
CREATE TABLE chat_sessions (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));
CREATE TABLE chat_messages (
    id serial PRIMARY KEY,
    session_id bigint NOT NULL REFERENCES chat_sessions (id)
);

-- a hostile name: only ever an identifier
CREATE TABLE "x""; DROP TABLE users; --" ("y""; DROP TABLE users; --" bigint REFERENCES users (id));

-- an FK to users that the manifest does not list (verify warns about it)
CREATE TABLE unlisted_notes (user_id bigint REFERENCES users (id));

INSERT INTO users (id, email) SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 10) g;
INSERT INTO posts (user_id) SELECT 1 + g % 10 FROM generate_series(1, 50) g;
INSERT INTO documents (owner_id, reviewed_by) SELECT 1 + g % 10, 1 + (g + 3) % 10 FROM generate_series(1, 30) g;
INSERT INTO comments (user_id) SELECT 1 + g % 10 FROM generate_series(1, 30) g;
INSERT INTO memberships SELECT g, 1 FROM generate_series(1, 10) g;
INSERT INTO sessions (user_id) SELECT 1 + g % 10 FROM generate_series(1, 20) g;
INSERT INTO audit.events SELECT 1 + g % 10 FROM generate_series(1, 20) g;
INSERT INTO billing.events SELECT 1 + g % 10 FROM generate_series(1, 20) g;
INSERT INTO "UserSettings" SELECT g, 'dark' FROM generate_series(1, 10) g;
INSERT INTO "order" ("user") SELECT 1 + g % 10 FROM generate_series(1, 20) g;
INSERT INTO user_preference_notification_channel_subscription_settings_x SELECT g FROM generate_series(1, 10) g;
INSERT INTO measurements SELECT g, 1 + g % 10, DATE '2024-06-01' + (g * 7) FROM generate_series(1, 60) g;
INSERT INTO tokens SELECT g FROM generate_series(1, 10) g;
INSERT INTO devices (user_id) SELECT 1 + g % 10 FROM generate_series(1, 20) g;
INSERT INTO chat_sessions SELECT g, 1 + g % 10 FROM generate_series(1, 20) g;
INSERT INTO chat_messages (session_id) SELECT 1 + g % 20 FROM generate_series(1, 60) g;
INSERT INTO "x""; DROP TABLE users; --" SELECT 1 + g % 10 FROM generate_series(1, 10) g;
INSERT INTO unlisted_notes SELECT 1 + g % 10 FROM generate_series(1, 10) g;
