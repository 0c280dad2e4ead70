-- Demo schema for cascade-tool: a small health app before "migration 067".
--
-- Matches cascade_tool/data/example_manifest.toml. Every table that belongs to a
-- user points at users(id), but the foreign keys are still NO ACTION, so
-- DELETE FROM users fails today. The tool's job is to change them.
--
-- Deliberate variety, so the demo exercises the tool:
--   * most FKs have PostgreSQL's default names (<table>_<column>_fkey); some are
--     table constraints with custom names, one of them mixed case and quoted
--     ("FK_lab_reports_userId");
--   * health_data_history: ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED;
--     password_reset_tokens: DEFERRABLE (initially immediate);
--     chat_messages.session_id: DEFERRABLE INITIALLY DEFERRED (a chain link);
--   * user_profiles is already ON DELETE CASCADE (nothing to change);
--   * user_devices.user_id has no foreign key at all (the tool must add one;
--     its data has no orphans);
--   * appointments.doctor_id, consultation_requests.doctor_id and
--     feedback.user_id are nullable (the manifest sets them to SET NULL);
--   * audit.login_events lives outside public;
--   * only two of the nine legacy tables exist (vitals, nutrition_logs);
--   * a few FK columns have no index (agent_memory, user_nutrient_focus,
--     feedback, appointments.doctor_id, the legacy tables).
--
-- Load into an empty database (PostgreSQL 15 to 18), either way:
--   psql -v ON_ERROR_STOP=1 -f demo_schema.sql
--   psycopg.connect(url, autocommit=True).execute(text)
-- Plain SQL only: no psql meta-commands, no COPY. Data is deterministic
-- (generate_series, no random()): 50 users, users 1-5 also act as doctors.
-- The whole load is one transaction.

BEGIN;

SET LOCAL search_path = public;

CREATE SCHEMA audit;

CREATE TABLE public.users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL UNIQUE,
    hashed_password text NOT NULL,
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------
-- Raw Data Tables
-- ---------------------------------------------------------------------------

CREATE TABLE vitals_raw_data (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL,
    metric_type text NOT NULL,
    value       numeric(8, 2),
    recorded_at timestamptz NOT NULL,
    CONSTRAINT vitals_raw_data_owner_fk FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE INDEX ix_vitals_raw_data_user_id ON vitals_raw_data (user_id);

CREATE TABLE nutrition_raw_data (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    food_item   text NOT NULL,
    calories    integer,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX ix_nutrition_raw_data_user_id ON nutrition_raw_data (user_id);

CREATE TABLE pharmacy_raw_data (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id),
    medication_name text NOT NULL,
    recorded_at     timestamptz NOT NULL
);
CREATE INDEX ix_pharmacy_raw_data_user_id ON pharmacy_raw_data (user_id);

CREATE TABLE healthkit_raw_data (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL,
    metric_type text NOT NULL,
    value       numeric(10, 2),
    recorded_at timestamptz NOT NULL,
    CONSTRAINT healthkit_raw_data_owner_fk FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE INDEX ix_healthkit_raw_data_user_recorded ON healthkit_raw_data (user_id, recorded_at);

-- ---------------------------------------------------------------------------
-- Categorized Data
-- ---------------------------------------------------------------------------

CREATE TABLE vitals_raw_categorized (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    category    text NOT NULL,
    value       numeric(8, 2),
    recorded_at timestamptz NOT NULL
);
CREATE INDEX ix_vitals_raw_categorized_user_id ON vitals_raw_categorized (user_id);

CREATE TABLE lab_report_categorized (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   bigint NOT NULL REFERENCES users (id),
    test_name text NOT NULL,
    value     numeric(8, 2)
);
CREATE INDEX ix_lab_report_categorized_user_id ON lab_report_categorized (user_id);

-- ---------------------------------------------------------------------------
-- Hourly Aggregates
-- ---------------------------------------------------------------------------

CREATE TABLE vitals_hourly_aggregates (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    hour_start timestamptz NOT NULL,
    avg_value  numeric(8, 2),
    UNIQUE (user_id, hour_start)
);

-- ---------------------------------------------------------------------------
-- Daily Aggregates (UNIQUE (user_id, date) doubles as the FK index)
-- ---------------------------------------------------------------------------

CREATE TABLE vitals_daily_aggregates (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   bigint NOT NULL REFERENCES users (id),
    date      date NOT NULL,
    avg_value numeric(8, 2),
    UNIQUE (user_id, date)
);

CREATE TABLE nutrition_daily_aggregates (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id),
    date           date NOT NULL,
    total_calories integer,
    UNIQUE (user_id, date)
);

CREATE TABLE mental_health_daily (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    date       date NOT NULL,
    mood_score smallint,
    UNIQUE (user_id, date)
);

CREATE TABLE pharmacy_daily_aggregates (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    date        date NOT NULL,
    doses_taken integer,
    UNIQUE (user_id, date)
);

CREATE TABLE healthkit_daily_aggregates (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    date    date NOT NULL,
    steps   integer,
    UNIQUE (user_id, date)
);

CREATE TABLE lab_reports_daily (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    date         date NOT NULL,
    report_count integer,
    UNIQUE (user_id, date)
);

-- ---------------------------------------------------------------------------
-- Weekly Aggregates
-- ---------------------------------------------------------------------------

CREATE TABLE vitals_weekly_aggregates (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    week_start date NOT NULL,
    avg_value  numeric(8, 2),
    UNIQUE (user_id, week_start)
);

CREATE TABLE nutrition_weekly_aggregates (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id),
    week_start     date NOT NULL,
    total_calories integer,
    UNIQUE (user_id, week_start)
);

CREATE TABLE pharmacy_weekly_aggregates (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    week_start  date NOT NULL,
    doses_taken integer,
    UNIQUE (user_id, week_start)
);

CREATE TABLE healthkit_weekly_aggregates (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    week_start date NOT NULL,
    steps      integer,
    UNIQUE (user_id, week_start)
);

-- ---------------------------------------------------------------------------
-- Monthly Aggregates
-- ---------------------------------------------------------------------------

CREATE TABLE vitals_monthly_aggregates (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    month_start date NOT NULL,
    avg_value   numeric(8, 2),
    UNIQUE (user_id, month_start)
);

CREATE TABLE nutrition_monthly_aggregates (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id),
    month_start    date NOT NULL,
    total_calories integer,
    UNIQUE (user_id, month_start)
);

CREATE TABLE pharmacy_monthly_aggregates (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    month_start date NOT NULL,
    doses_taken integer,
    UNIQUE (user_id, month_start)
);

CREATE TABLE healthkit_monthly_aggregates (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    month_start date NOT NULL,
    steps       integer,
    UNIQUE (user_id, month_start)
);

-- ---------------------------------------------------------------------------
-- Quarterly/Yearly Aggregates
-- ---------------------------------------------------------------------------

CREATE TABLE lab_reports_quarterly (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id),
    quarter_start date NOT NULL,
    report_count  integer,
    UNIQUE (user_id, quarter_start)
);

CREATE TABLE lab_reports_yearly (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    year         integer NOT NULL,
    report_count integer,
    UNIQUE (user_id, year)
);

-- ---------------------------------------------------------------------------
-- Nutrition Goals & Planning
-- ---------------------------------------------------------------------------

CREATE TABLE nutrition_goals (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id),
    nutrient      text NOT NULL,
    target_amount numeric(8, 2)
);
CREATE INDEX ix_nutrition_goals_user_id ON nutrition_goals (user_id);

-- No index on user_id: the tool's index check should notice.
CREATE TABLE user_nutrient_focus (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id  bigint NOT NULL REFERENCES users (id),
    nutrient text NOT NULL,
    priority smallint NOT NULL DEFAULT 1
);

CREATE TABLE nutrition_meal_plans (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   bigint NOT NULL REFERENCES users (id),
    plan_name text NOT NULL,
    starts_on date NOT NULL
);
CREATE INDEX ix_nutrition_meal_plans_user_id ON nutrition_meal_plans (user_id);

-- ---------------------------------------------------------------------------
-- Sync Status (one row per user)
-- ---------------------------------------------------------------------------

CREATE TABLE vitals_sync_status (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL UNIQUE REFERENCES users (id),
    last_synced_at timestamptz,
    status         text NOT NULL DEFAULT 'idle'
);

CREATE TABLE nutrition_sync_status (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL UNIQUE REFERENCES users (id),
    last_synced_at timestamptz,
    status         text NOT NULL DEFAULT 'idle'
);

CREATE TABLE healthkit_sync_status (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL UNIQUE REFERENCES users (id),
    last_synced_at timestamptz,
    status         text NOT NULL DEFAULT 'idle'
);

-- ---------------------------------------------------------------------------
-- Clinical Data
-- ---------------------------------------------------------------------------

CREATE TABLE clinical_notes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    note       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX ix_clinical_notes_user_id ON clinical_notes (user_id);

CREATE TABLE clinical_reports (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    title      text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX ix_clinical_reports_user_id ON clinical_reports (user_id);

CREATE TABLE medical_images (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    image_type   text NOT NULL,
    storage_path text NOT NULL
);
CREATE INDEX ix_medical_images_user_id ON medical_images (user_id);

-- Mixed-case constraint name (as some ORMs generate): must be quoted.
CREATE TABLE lab_reports (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL,
    test_name   text NOT NULL,
    value       numeric(8, 2),
    reported_at timestamptz NOT NULL,
    CONSTRAINT "FK_lab_reports_userId" FOREIGN KEY (user_id) REFERENCES users (id)
);
CREATE INDEX ix_lab_reports_user_id ON lab_reports (user_id);

-- ---------------------------------------------------------------------------
-- Chat & Communication
-- ---------------------------------------------------------------------------

CREATE TABLE chat_sessions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    title      text,
    started_at timestamptz NOT NULL
);
CREATE INDEX ix_chat_sessions_user_id ON chat_sessions (user_id);

-- session_id is deferred: messages may be written before their session in
-- the same transaction.
CREATE TABLE chat_messages (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id bigint NOT NULL,
    user_id    bigint NOT NULL REFERENCES users (id),
    role       text NOT NULL,
    content    text NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT chat_messages_session_fk FOREIGN KEY (session_id)
        REFERENCES chat_sessions (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX ix_chat_messages_session_id ON chat_messages (session_id);
CREATE INDEX ix_chat_messages_user_id ON chat_messages (user_id);

-- No index on user_id.
CREATE TABLE agent_memory (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    key        text NOT NULL,
    value      text
);

-- ---------------------------------------------------------------------------
-- Appointments (patient and doctor are both users)
-- ---------------------------------------------------------------------------

-- doctor_id has no index.
CREATE TABLE appointments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id   bigint NOT NULL,
    doctor_id    bigint,
    scheduled_at timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'scheduled',
    CONSTRAINT appointments_patient_fk FOREIGN KEY (patient_id) REFERENCES users (id),
    CONSTRAINT appointments_doctor_fk FOREIGN KEY (doctor_id) REFERENCES users (id)
);
CREATE INDEX ix_appointments_patient_id ON appointments (patient_id);

CREATE TABLE consultation_requests (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    doctor_id    bigint REFERENCES users (id),
    reason       text,
    requested_at timestamptz NOT NULL
);
CREATE INDEX ix_consultation_requests_user_id ON consultation_requests (user_id);
CREATE INDEX ix_consultation_requests_doctor_id ON consultation_requests (doctor_id);

-- ---------------------------------------------------------------------------
-- User Profile & Preferences
-- ---------------------------------------------------------------------------

-- Already ON DELETE CASCADE: the tool should leave it alone.
CREATE TABLE user_profiles (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    full_name     text,
    date_of_birth date
);

CREATE TABLE user_conditions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id),
    condition_name text NOT NULL,
    diagnosed_on   date
);
CREATE INDEX ix_user_conditions_user_id ON user_conditions (user_id);

CREATE TABLE user_allergies (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id  bigint NOT NULL REFERENCES users (id),
    allergen text NOT NULL,
    severity text
);
CREATE INDEX ix_user_allergies_user_id ON user_allergies (user_id);

CREATE TABLE user_lifestyle (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL UNIQUE REFERENCES users (id),
    smoker         boolean NOT NULL DEFAULT false,
    activity_level text
);

CREATE TABLE user_consents (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE NO ACTION,
    consent_type text NOT NULL,
    granted_at   timestamptz NOT NULL
);
CREATE INDEX ix_user_consents_user_id ON user_consents (user_id);

CREATE TABLE user_measurement_preferences (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL UNIQUE REFERENCES users (id),
    unit_system text NOT NULL DEFAULT 'metric'
);

-- ---------------------------------------------------------------------------
-- Health Data
-- ---------------------------------------------------------------------------

CREATE TABLE patient_health_records (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    record_type text NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX ix_patient_health_records_user_id ON patient_health_records (user_id);

-- Deferred and ON UPDATE CASCADE: a change must keep both properties.
CREATE TABLE health_data_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL,
    metric      text NOT NULL,
    value       numeric(10, 2),
    recorded_at timestamptz NOT NULL,
    CONSTRAINT health_data_history_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
        ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX ix_health_data_history_user_id ON health_data_history (user_id);

CREATE TABLE patient_health_summaries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    summary      text NOT NULL,
    generated_at timestamptz NOT NULL
);
CREATE INDEX ix_patient_health_summaries_user_id ON patient_health_summaries (user_id);

CREATE TABLE health_scores (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    score       smallint NOT NULL,
    computed_at timestamptz NOT NULL
);
CREATE INDEX ix_health_scores_user_id ON health_scores (user_id);

CREATE TABLE mental_health_entries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    mood        text NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX ix_mental_health_entries_user_id ON mental_health_entries (user_id);

-- ---------------------------------------------------------------------------
-- Authentication & Security
-- ---------------------------------------------------------------------------

CREATE TABLE user_identities (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users (id),
    provider         text NOT NULL,
    provider_subject text NOT NULL,
    UNIQUE (provider, provider_subject)
);
CREATE INDEX ix_user_identities_user_id ON user_identities (user_id);

-- In the audit schema, pointing back at public.users.
CREATE TABLE audit.login_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES public.users (id),
    logged_in_at timestamptz NOT NULL,
    ip_address   inet
);
CREATE INDEX ix_login_events_user_id ON audit.login_events (user_id);

CREATE TABLE password_reset_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL,
    token_hash text NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    CONSTRAINT password_reset_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
        DEFERRABLE
);
CREATE INDEX ix_password_reset_tokens_user_id ON password_reset_tokens (user_id);

-- ---------------------------------------------------------------------------
-- Devices & Notifications
-- ---------------------------------------------------------------------------

-- No foreign key on user_id at all (the tool must add it). Indexed, though.
CREATE TABLE user_devices (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL,
    platform     text NOT NULL,
    device_token text NOT NULL UNIQUE
);
CREATE INDEX ix_user_devices_user_id ON user_devices (user_id);

CREATE TABLE user_notifications (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    title      text NOT NULL,
    read_at    timestamptz
);
CREATE INDEX ix_user_notifications_user_id ON user_notifications (user_id);

-- ---------------------------------------------------------------------------
-- Logs & Feedback
-- ---------------------------------------------------------------------------

CREATE TABLE document_processing_logs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id),
    document_name text NOT NULL,
    status        text NOT NULL,
    processed_at  timestamptz NOT NULL
);
CREATE INDEX ix_document_processing_logs_user_id ON document_processing_logs (user_id);

-- user_id is nullable (SET NULL keeps feedback, anonymised); no index.
CREATE TABLE feedback (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint REFERENCES users (id),
    rating     smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment    text
);

-- ---------------------------------------------------------------------------
-- Pharmacy
-- ---------------------------------------------------------------------------

CREATE TABLE pharmacy_medications (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    name    text NOT NULL,
    dosage  text
);
CREATE INDEX ix_pharmacy_medications_user_id ON pharmacy_medications (user_id);

CREATE TABLE pharmacy_bills (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   bigint NOT NULL REFERENCES users (id),
    amount    numeric(10, 2) NOT NULL,
    billed_at timestamptz NOT NULL
);
CREATE INDEX ix_pharmacy_bills_user_id ON pharmacy_bills (user_id);

-- ---------------------------------------------------------------------------
-- Legacy Tables: only two of the nine exist here (no indexes)
-- ---------------------------------------------------------------------------

CREATE TABLE vitals (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    metric      text NOT NULL,
    value       numeric(8, 2),
    recorded_at timestamptz NOT NULL
);

CREATE TABLE nutrition_logs (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id   bigint NOT NULL REFERENCES users (id),
    food      text NOT NULL,
    calories  integer,
    logged_at timestamptz NOT NULL
);

-- ===========================================================================
-- Data: 50 users, then a few rows per user in every table. Child rows are
-- built from the users (and chat_sessions) actually inserted, so there are
-- no orphans, including in user_devices. Timestamps count from a fixed date.
-- ===========================================================================

INSERT INTO users (email, hashed_password, is_active, created_at)
SELECT 'user' || lpad(g::text, 3, '0') || '@example.com',
       '$2b$12$demo.not.a.real.hash.' || g,
       mod(g, 10) <> 0,
       timestamptz '2025-01-01 00:00+00' + g * interval '1 day'
FROM generate_series(1, 50) AS g
ORDER BY g;

-- Raw Data Tables
INSERT INTO vitals_raw_data (user_id, metric_type, value, recorded_at)
SELECT u.id, (ARRAY['heart_rate', 'systolic_bp', 'weight_kg'])[g],
       60 + mod(u.id * 7 + g * 3, 40),
       timestamptz '2025-06-01 08:00+00' + g * interval '1 hour'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO nutrition_raw_data (user_id, food_item, calories, recorded_at)
SELECT u.id, (ARRAY['oatmeal', 'salad', 'pasta'])[g], 200 + mod(u.id * 13 + g * 50, 500),
       timestamptz '2025-06-01 07:00+00' + g * interval '5 hours'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO pharmacy_raw_data (user_id, medication_name, recorded_at)
SELECT u.id, (ARRAY['metformin', 'lisinopril', 'atorvastatin'])[g],
       timestamptz '2025-06-01 09:00+00' + g * interval '8 hours'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO healthkit_raw_data (user_id, metric_type, value, recorded_at)
SELECT u.id, (ARRAY['steps', 'active_energy', 'sleep_hours'])[g], 100 + mod(u.id * 31 + g * 17, 900),
       timestamptz '2025-06-01 00:00+00' + g * interval '6 hours'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Categorized Data
INSERT INTO vitals_raw_categorized (user_id, category, value, recorded_at)
SELECT u.id, (ARRAY['normal', 'elevated', 'low'])[g], 60 + mod(u.id * 5 + g, 40),
       timestamptz '2025-06-01 08:00+00' + g * interval '1 hour'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO lab_report_categorized (user_id, test_name, value)
SELECT u.id, (ARRAY['hba1c', 'ldl', 'tsh'])[g], 1 + mod(u.id * 3 + g, 9)
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Hourly Aggregates
INSERT INTO vitals_hourly_aggregates (user_id, hour_start, avg_value)
SELECT u.id, timestamptz '2025-06-01 08:00+00' + g * interval '1 hour', 60 + mod(u.id + g, 30)
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Daily Aggregates
INSERT INTO vitals_daily_aggregates (user_id, date, avg_value)
SELECT u.id, date '2025-06-01' + g, 60 + mod(u.id + g, 30)
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO nutrition_daily_aggregates (user_id, date, total_calories)
SELECT u.id, date '2025-06-01' + g, 1500 + mod(u.id * 37 + g * 11, 1000)
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO mental_health_daily (user_id, date, mood_score)
SELECT u.id, date '2025-06-01' + g, 1 + mod(u.id + g, 10)
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO pharmacy_daily_aggregates (user_id, date, doses_taken)
SELECT u.id, date '2025-06-01' + g, mod(u.id + g, 4)
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO healthkit_daily_aggregates (user_id, date, steps)
SELECT u.id, date '2025-06-01' + g, 3000 + mod(u.id * 397 + g * 101, 9000)
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO lab_reports_daily (user_id, date, report_count)
SELECT u.id, date '2025-06-01' + g, mod(u.id + g, 3)
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Weekly Aggregates
INSERT INTO vitals_weekly_aggregates (user_id, week_start, avg_value)
SELECT u.id, date '2025-06-02' + 7 * g, 60 + mod(u.id + g, 30)
FROM users u CROSS JOIN generate_series(0, 2) AS g ORDER BY u.id, g;

INSERT INTO nutrition_weekly_aggregates (user_id, week_start, total_calories)
SELECT u.id, date '2025-06-02' + 7 * g, 10500 + mod(u.id * 37 + g * 11, 3000)
FROM users u CROSS JOIN generate_series(0, 2) AS g ORDER BY u.id, g;

INSERT INTO pharmacy_weekly_aggregates (user_id, week_start, doses_taken)
SELECT u.id, date '2025-06-02' + 7 * g, 7 + mod(u.id + g, 14)
FROM users u CROSS JOIN generate_series(0, 2) AS g ORDER BY u.id, g;

INSERT INTO healthkit_weekly_aggregates (user_id, week_start, steps)
SELECT u.id, date '2025-06-02' + 7 * g, 21000 + mod(u.id * 397 + g * 101, 50000)
FROM users u CROSS JOIN generate_series(0, 2) AS g ORDER BY u.id, g;

-- Monthly Aggregates
INSERT INTO vitals_monthly_aggregates (user_id, month_start, avg_value)
SELECT u.id, (date '2025-04-01' + g * interval '1 month')::date, 60 + mod(u.id + g, 30)
FROM users u CROSS JOIN generate_series(0, 2) AS g ORDER BY u.id, g;

INSERT INTO nutrition_monthly_aggregates (user_id, month_start, total_calories)
SELECT u.id, (date '2025-04-01' + g * interval '1 month')::date, 45000 + mod(u.id * 37 + g, 9000)
FROM users u CROSS JOIN generate_series(0, 2) AS g ORDER BY u.id, g;

INSERT INTO pharmacy_monthly_aggregates (user_id, month_start, doses_taken)
SELECT u.id, (date '2025-04-01' + g * interval '1 month')::date, 30 + mod(u.id + g, 30)
FROM users u CROSS JOIN generate_series(0, 2) AS g ORDER BY u.id, g;

INSERT INTO healthkit_monthly_aggregates (user_id, month_start, steps)
SELECT u.id, (date '2025-04-01' + g * interval '1 month')::date, 90000 + mod(u.id * 397 + g, 200000)
FROM users u CROSS JOIN generate_series(0, 2) AS g ORDER BY u.id, g;

-- Quarterly/Yearly Aggregates
INSERT INTO lab_reports_quarterly (user_id, quarter_start, report_count)
SELECT u.id, (date '2024-10-01' + g * interval '3 months')::date, mod(u.id + g, 5)
FROM users u CROSS JOIN generate_series(0, 2) AS g ORDER BY u.id, g;

INSERT INTO lab_reports_yearly (user_id, year, report_count)
SELECT u.id, 2022 + g, mod(u.id + g, 12)
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Nutrition Goals & Planning
INSERT INTO nutrition_goals (user_id, nutrient, target_amount)
SELECT u.id, (ARRAY['protein_g', 'fiber_g', 'sodium_mg'])[g], (ARRAY[90, 30, 2000])[g]
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO user_nutrient_focus (user_id, nutrient, priority)
SELECT u.id, (ARRAY['protein', 'fiber', 'iron'])[g], g
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO nutrition_meal_plans (user_id, plan_name, starts_on)
SELECT u.id, (ARRAY['Mediterranean', 'Low sodium', 'High protein'])[g],
       date '2025-06-01' + 7 * g
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Sync Status (one row per user)
INSERT INTO vitals_sync_status (user_id, last_synced_at, status)
SELECT u.id, timestamptz '2025-06-03 12:00+00' + u.id * interval '1 minute', 'idle'
FROM users u ORDER BY u.id;

INSERT INTO nutrition_sync_status (user_id, last_synced_at, status)
SELECT u.id, timestamptz '2025-06-03 12:00+00' + u.id * interval '2 minutes', 'idle'
FROM users u ORDER BY u.id;

INSERT INTO healthkit_sync_status (user_id, last_synced_at, status)
SELECT u.id, timestamptz '2025-06-03 12:00+00' + u.id * interval '3 minutes',
       CASE WHEN mod(u.id, 7) = 0 THEN 'failed' ELSE 'idle' END
FROM users u ORDER BY u.id;

-- Clinical Data
INSERT INTO clinical_notes (user_id, note, created_at)
SELECT u.id, 'Follow-up note ' || g, timestamptz '2025-05-01 10:00+00' + g * interval '7 days'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO clinical_reports (user_id, title, created_at)
SELECT u.id, (ARRAY['Annual check-up', 'Cardiology', 'Endocrinology'])[g],
       timestamptz '2025-05-01 10:00+00' + g * interval '10 days'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO medical_images (user_id, image_type, storage_path)
SELECT u.id, (ARRAY['xray', 'mri', 'ultrasound'])[g],
       'images/' || u.id || '/' || g || '.dcm'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO lab_reports (user_id, test_name, value, reported_at)
SELECT u.id, (ARRAY['hba1c', 'ldl', 'tsh'])[g], 1 + mod(u.id * 3 + g, 9),
       timestamptz '2025-05-15 09:00+00' + g * interval '30 days'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Chat & Communication: 3 sessions per user, 3 messages per session
INSERT INTO chat_sessions (user_id, title, started_at)
SELECT u.id, 'Session ' || g, timestamptz '2025-06-01 18:00+00' + g * interval '1 day'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO chat_messages (session_id, user_id, role, content, created_at)
SELECT s.id, s.user_id, (ARRAY['user', 'assistant', 'user'])[g],
       'Message ' || g || ' of session ' || s.id,
       s.started_at + g * interval '1 minute'
FROM chat_sessions s CROSS JOIN generate_series(1, 3) AS g ORDER BY s.id, g;

INSERT INTO agent_memory (user_id, key, value)
SELECT u.id, (ARRAY['preferred_name', 'goal', 'timezone'])[g], 'value ' || g
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Appointments: doctors are users 1-5; every tenth appointment has no doctor yet
INSERT INTO appointments (patient_id, doctor_id, scheduled_at, status)
SELECT u.id,
       CASE WHEN mod(u.id + g, 10) = 0 THEN NULL ELSE 1 + mod(u.id + g, 5) END,
       timestamptz '2025-07-01 09:00+00' + (u.id * 3 + g) * interval '30 minutes',
       (ARRAY['completed', 'scheduled', 'scheduled'])[g]
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO consultation_requests (user_id, doctor_id, reason, requested_at)
SELECT u.id,
       CASE WHEN g = 3 THEN NULL ELSE 1 + mod(u.id * 2 + g, 5) END,
       (ARRAY['Second opinion', 'Lab results', 'Medication review'])[g],
       timestamptz '2025-06-10 12:00+00' + g * interval '1 day'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- User Profile & Preferences
INSERT INTO user_profiles (user_id, full_name, date_of_birth)
SELECT u.id, 'Demo User ' || u.id, date '1960-01-01' + (u.id * 300)::integer
FROM users u ORDER BY u.id;

INSERT INTO user_conditions (user_id, condition_name, diagnosed_on)
SELECT u.id, (ARRAY['hypertension', 'type 2 diabetes', 'asthma'])[g], date '2020-01-01' + (u.id * 10 + g)::integer
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO user_allergies (user_id, allergen, severity)
SELECT u.id, (ARRAY['penicillin', 'peanuts', 'pollen'])[g], (ARRAY['severe', 'moderate', 'mild'])[g]
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO user_lifestyle (user_id, smoker, activity_level)
SELECT u.id, mod(u.id, 6) = 0, (ARRAY['low', 'moderate', 'high'])[1 + mod(u.id, 3)]
FROM users u ORDER BY u.id;

INSERT INTO user_consents (user_id, consent_type, granted_at)
SELECT u.id, (ARRAY['terms', 'privacy', 'research'])[g], u.created_at + g * interval '1 minute'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO user_measurement_preferences (user_id, unit_system)
SELECT u.id, CASE WHEN mod(u.id, 4) = 0 THEN 'imperial' ELSE 'metric' END
FROM users u ORDER BY u.id;

-- Health Data
INSERT INTO patient_health_records (user_id, record_type, recorded_at)
SELECT u.id, (ARRAY['visit', 'prescription', 'lab'])[g],
       timestamptz '2025-03-01 10:00+00' + g * interval '20 days'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO health_data_history (user_id, metric, value, recorded_at)
SELECT u.id, (ARRAY['weight_kg', 'bmi', 'resting_hr'])[g], 20 + mod(u.id * 7 + g, 80),
       timestamptz '2025-01-01 00:00+00' + g * interval '30 days'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO patient_health_summaries (user_id, summary, generated_at)
SELECT u.id, 'Summary ' || g || ' for user ' || u.id,
       timestamptz '2025-04-01 06:00+00' + g * interval '30 days'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO health_scores (user_id, score, computed_at)
SELECT u.id, 50 + mod(u.id * 11 + g * 7, 50),
       timestamptz '2025-04-01 06:00+00' + g * interval '30 days'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO mental_health_entries (user_id, mood, recorded_at)
SELECT u.id, (ARRAY['calm', 'anxious', 'content'])[g],
       timestamptz '2025-06-01 21:00+00' + g * interval '1 day'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Authentication & Security
INSERT INTO user_identities (user_id, provider, provider_subject)
SELECT u.id, (ARRAY['password', 'google', 'apple'])[g], (ARRAY['password', 'google', 'apple'])[g] || '|' || u.id
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO audit.login_events (user_id, logged_in_at, ip_address)
SELECT u.id, timestamptz '2025-06-01 07:30+00' + g * interval '1 day',
       ('10.0.' || u.id || '.' || g)::inet
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO password_reset_tokens (user_id, token_hash, expires_at)
SELECT u.id, md5('reset-' || u.id || '-' || g), timestamptz '2025-06-02 00:00+00' + g * interval '1 hour'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Devices & Notifications (user_devices rows come from users: no orphans)
INSERT INTO user_devices (user_id, platform, device_token)
SELECT u.id, (ARRAY['ios', 'android', 'web'])[g], md5('device-' || u.id || '-' || g)
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO user_notifications (user_id, title, read_at)
SELECT u.id, (ARRAY['Time for your medication', 'New lab results', 'Weekly summary'])[g],
       CASE WHEN g = 1 THEN timestamptz '2025-06-02 08:00+00' END
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Logs & Feedback
INSERT INTO document_processing_logs (user_id, document_name, status, processed_at)
SELECT u.id, 'report_' || u.id || '_' || g || '.pdf', (ARRAY['done', 'done', 'failed'])[g],
       timestamptz '2025-05-20 03:00+00' + g * interval '1 hour'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Every third entry is already anonymous (user_id NULL).
INSERT INTO feedback (user_id, rating, comment)
SELECT CASE WHEN g = 3 THEN NULL ELSE u.id END, 1 + mod(u.id + g, 5), 'Feedback ' || g
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Pharmacy
INSERT INTO pharmacy_medications (user_id, name, dosage)
SELECT u.id, (ARRAY['metformin', 'lisinopril', 'atorvastatin'])[g], (ARRAY['500 mg', '10 mg', '20 mg'])[g]
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO pharmacy_bills (user_id, amount, billed_at)
SELECT u.id, 10 + mod(u.id * 17 + g * 5, 90) + 0.99, timestamptz '2025-05-01 00:00+00' + g * interval '30 days'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

-- Legacy Tables
INSERT INTO vitals (user_id, metric, value, recorded_at)
SELECT u.id, (ARRAY['heart_rate', 'systolic_bp', 'weight_kg'])[g], 60 + mod(u.id + g, 40),
       timestamptz '2023-01-01 08:00+00' + g * interval '1 day'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

INSERT INTO nutrition_logs (user_id, food, calories, logged_at)
SELECT u.id, (ARRAY['toast', 'soup', 'rice'])[g], 150 + mod(u.id * 13 + g, 400),
       timestamptz '2023-01-01 12:00+00' + g * interval '1 day'
FROM users u CROSS JOIN generate_series(1, 3) AS g ORDER BY u.id, g;

COMMIT;

ANALYZE;
