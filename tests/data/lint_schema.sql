-- A hand-made schema with every kind of finding `cascade-tool lint` reports, and the shapes
-- `discover` must handle (self-reference, partitioned table, composite FK in another column
-- order, duplicate FKs, a quoted mixed-case name, look-alike columns without an FK).
-- Loads on PostgreSQL 13 and later. tests/test_lint.py and tests/test_discover.py say what
-- each table is for; the data makes some users impossible to delete.

CREATE TABLE users (
    id bigint PRIMARY KEY,
    -- self-reference, nullable, NO ACTION: blocks deleting an inviter (discover: SET NULL)
    inviter_id bigint REFERENCES users (id)
);
CREATE INDEX users_inviter_id_idx ON users (inviter_id);

-- Seed 000: rooms go with their owner, but messages (NO ACTION) then stop the delete.
CREATE TABLE chat_rooms (
    id bigint PRIMARY KEY,
    owner_id bigint NOT NULL REFERENCES users ON DELETE CASCADE
);
CREATE INDEX chat_rooms_owner_id_idx ON chat_rooms (owner_id);
CREATE TABLE chat_messages (
    id bigint PRIMARY KEY,
    chat_room_id bigint NOT NULL REFERENCES chat_rooms,
    reply_to_id bigint REFERENCES chat_messages ON DELETE SET NULL
);
CREATE INDEX chat_messages_chat_room_id_idx ON chat_messages (chat_room_id);
CREATE INDEX chat_messages_reply_to_id_idx ON chat_messages (reply_to_id);

-- SET NULL on a NOT NULL column (GitLab's resource_link_events): deleting fails.
CREATE TABLE link_events (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users ON DELETE SET NULL
);
CREATE INDEX link_events_user_id_idx ON link_events (user_id);

-- SET DEFAULT whose default (0) is no user: deleting fails with an FK violation.
CREATE TABLE reviews (
    id bigint PRIMARY KEY,
    reviewer_id bigint NOT NULL DEFAULT 0 REFERENCES users ON DELETE SET DEFAULT
);
CREATE INDEX reviews_reviewer_id_idx ON reviews (reviewer_id);

-- SET DEFAULT on a NOT NULL column without a default: it writes NULL, and fails.
CREATE TABLE approvals (
    id bigint PRIMARY KEY,
    approver_id bigint NOT NULL REFERENCES users ON DELETE SET DEFAULT
);
CREATE INDEX approvals_approver_id_idx ON approvals (approver_id);

-- No index at all on the FK column.
CREATE TABLE api_tokens (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE
);

-- Only a partial index whose predicate a lookup by user_id does not imply: unindexed.
CREATE TABLE sessions (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    revoked boolean NOT NULL DEFAULT false
);
CREATE INDEX sessions_live_user_id_idx ON sessions (user_id) WHERE NOT revoked;

-- Posts go with their author; comments are reached through posts (CASCADE) and directly
-- (SET NULL): several paths with different actions. editor_id has only an
-- "IS NOT NULL" partial index, which FK lookups use.
CREATE TABLE posts (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE
);
CREATE INDEX posts_user_id_idx ON posts (user_id);
CREATE TABLE comments (
    id bigint PRIMARY KEY,
    post_id bigint NOT NULL REFERENCES posts ON DELETE CASCADE,
    editor_id bigint REFERENCES users ON DELETE SET NULL
);
CREATE INDEX comments_post_id_idx ON comments (post_id);
CREATE INDEX comments_editor_id_idx ON comments (editor_id) WHERE editor_id IS NOT NULL;

-- RESTRICT behind a CASCADE, on a table a CASCADE also reaches: order-dependent.
CREATE TABLE attachments (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    post_id bigint REFERENCES posts ON DELETE RESTRICT
);
CREATE INDEX attachments_user_id_idx ON attachments (user_id);
CREATE INDEX attachments_post_id_idx ON attachments (post_id);

-- RESTRICT on the user, CASCADE through the post: PostgreSQL runs the RESTRICT check before
-- the cascade through posts reaches the share, so deleting its owner fails.
CREATE TABLE shares (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users ON DELETE RESTRICT,
    post_id bigint NOT NULL REFERENCES posts ON DELETE CASCADE
);
CREATE INDEX shares_user_id_idx ON shares (user_id);
CREATE INDEX shares_post_id_idx ON shares (post_id);

-- A NOT VALID FK.
CREATE TABLE devices (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL
);
CREATE INDEX devices_user_id_idx ON devices (user_id);
ALTER TABLE devices ADD CONSTRAINT devices_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users ON DELETE CASCADE NOT VALID;

-- A cycle: teams <-> memberships. A user's delete nulls teams.created_by, so the teams stay
-- and their memberships' CASCADE does not fire for it (SET NULL, then cascade).
CREATE TABLE teams (
    id bigint PRIMARY KEY,
    created_by bigint REFERENCES users ON DELETE SET NULL,
    lead_membership_id bigint
);
CREATE INDEX teams_created_by_idx ON teams (created_by);
CREATE INDEX teams_lead_membership_id_idx ON teams (lead_membership_id);
CREATE TABLE memberships (
    id bigint PRIMARY KEY,
    team_id bigint NOT NULL REFERENCES teams ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE
);
CREATE INDEX memberships_team_id_idx ON memberships (team_id);
CREATE INDEX memberships_user_id_idx ON memberships (user_id);
ALTER TABLE teams ADD CONSTRAINT teams_lead_membership_id_fkey
    FOREIGN KEY (lead_membership_id) REFERENCES memberships ON DELETE SET NULL;

-- NO ACTION that a user's delete does not reach (projects are nulled, not deleted).
CREATE TABLE projects (
    id bigint PRIMARY KEY,
    creator_id bigint REFERENCES users ON DELETE SET NULL
);
CREATE INDEX projects_creator_id_idx ON projects (creator_id);
CREATE TABLE project_tasks (
    id bigint PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects
);
CREATE INDEX project_tasks_project_id_idx ON project_tasks (project_id);

-- A partitioned table: one declared FK, two per-partition copies.
CREATE TABLE events (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    created date NOT NULL,
    PRIMARY KEY (id, created)
) PARTITION BY RANGE (created);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE INDEX events_user_id_idx ON events (user_id);
ALTER TABLE events ADD CONSTRAINT events_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users ON DELETE CASCADE;

-- A composite chain FK whose columns pair in another order than the parent's key.
CREATE TABLE user_settings (
    user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    key text NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE TABLE setting_history (
    id bigint PRIMARY KEY,
    setting_key text NOT NULL,
    setting_user_id bigint NOT NULL,
    FOREIGN KEY (setting_key, setting_user_id) REFERENCES user_settings (key, user_id)
);
CREATE INDEX setting_history_key_idx ON setting_history (setting_key, setting_user_id);

-- Two FKs on the same column (real schemas have these): one manifest entry.
CREATE TABLE favorites (
    id bigint PRIMARY KEY,
    user_id bigint NOT NULL
);
CREATE INDEX favorites_user_id_idx ON favorites (user_id);
ALTER TABLE favorites ADD CONSTRAINT favorites_user_fk1 FOREIGN KEY (user_id) REFERENCES users;
ALTER TABLE favorites ADD CONSTRAINT favorites_user_fk2 FOREIGN KEY (user_id) REFERENCES users;

-- A quoted, mixed-case table and column, nullable actor: discover proposes SET NULL.
CREATE TABLE "AuditLog" (
    "Id" bigint PRIMARY KEY,
    "actorId" bigint REFERENCES users
);
CREATE INDEX "AuditLog_actorId_idx" ON "AuditLog" ("actorId");

-- Look-alike columns without an FK: discover lists them as candidates.
CREATE TABLE legacy_notes (
    id bigint PRIMARY KEY,
    user_id bigint
);
CREATE TABLE audit_trail (
    id bigint PRIMARY KEY,
    acting_user_id integer NOT NULL
);
-- Not a candidate: its user_id references another table.
CREATE TABLE members (id bigint PRIMARY KEY);
CREATE TABLE member_notes (
    id bigint PRIMARY KEY,
    user_id bigint REFERENCES members
);

-- Unrelated to users: for manifest entries that cannot be applied.
CREATE TABLE tags (name text);
CREATE TABLE post_tags (post_id bigint, tag_name text);

-- Data: users 1, 2, 3, 4 and 6 cannot be deleted today; 5 can.
INSERT INTO users (id, inviter_id) VALUES (1, NULL), (2, 1), (3, NULL), (4, NULL), (5, NULL), (6, NULL);
INSERT INTO chat_rooms VALUES (10, 1), (11, 2), (12, 3);
INSERT INTO chat_messages VALUES (100, 10, NULL), (101, 11, NULL), (102, 11, 101);
INSERT INTO link_events VALUES (1, 3);
INSERT INTO reviews VALUES (1, 4);
INSERT INTO posts VALUES (1, 1), (2, 5), (3, 6);
INSERT INTO shares VALUES (1, 6, 3);
INSERT INTO comments VALUES (1, 1, 5);
INSERT INTO attachments VALUES (1, 2, 1);
INSERT INTO legacy_notes VALUES (1, 1), (2, 999), (3, NULL);
