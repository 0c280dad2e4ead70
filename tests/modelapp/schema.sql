-- The test application's database before the cascade-tool revision: every FK to users is
-- NO ACTION, as its models were first written. Two FKs carry options the models must repeat:
-- chat_messages.session_id is DEFERRABLE INITIALLY DEFERRED, and health_data_history.user_id
-- ON UPDATE CASCADE. user_lifestyle is keyed by user_id (one row per user).

CREATE TABLE users (
    id    serial PRIMARY KEY,
    email text NOT NULL UNIQUE
);

CREATE TABLE chat_sessions (
    id      serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id),
    title   text
);
CREATE INDEX ix_chat_sessions_user_id ON chat_sessions (user_id);

CREATE TABLE chat_messages (
    id         serial PRIMARY KEY,
    session_id integer NOT NULL,
    user_id    integer NOT NULL REFERENCES users (id),
    content    text NOT NULL,
    CONSTRAINT chat_messages_session_fk FOREIGN KEY (session_id)
        REFERENCES chat_sessions (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX ix_chat_messages_session_id ON chat_messages (session_id);
CREATE INDEX ix_chat_messages_user_id ON chat_messages (user_id);

CREATE TABLE appointments (
    id         serial PRIMARY KEY,
    patient_id integer NOT NULL REFERENCES users (id),
    doctor_id  integer REFERENCES users (id),
    status     text NOT NULL
);
CREATE INDEX ix_appointments_patient_id ON appointments (patient_id);
CREATE INDEX ix_appointments_doctor_id ON appointments (doctor_id);

CREATE TABLE user_lifestyle (
    user_id integer PRIMARY KEY REFERENCES users (id),
    smoker  boolean NOT NULL
);

CREATE TABLE health_data_history (
    id      serial PRIMARY KEY,
    user_id integer NOT NULL,
    metric  text NOT NULL,
    CONSTRAINT health_data_history_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
        ON UPDATE CASCADE
);
CREATE INDEX ix_health_data_history_user_id ON health_data_history (user_id);

CREATE TABLE feedback (
    id      serial PRIMARY KEY,
    user_id integer REFERENCES users (id),
    rating  integer NOT NULL
);
CREATE INDEX ix_feedback_user_id ON feedback (user_id);

-- Two patients (1, 2) and a doctor (3), with a row in every table.
INSERT INTO users (email) VALUES ('ada@example.com'), ('bo@example.com'), ('dr.cy@example.com');
INSERT INTO chat_sessions (user_id, title) VALUES (1, 'first'), (1, 'second'), (2, 'other');
INSERT INTO chat_messages (session_id, user_id, content)
SELECT s.id, s.user_id, 'message ' || g FROM chat_sessions s CROSS JOIN generate_series(1, 3) AS g;
INSERT INTO appointments (patient_id, doctor_id, status)
VALUES (1, 3, 'done'), (2, 3, 'booked'), (1, NULL, 'booked');
INSERT INTO user_lifestyle (user_id, smoker) VALUES (1, false), (2, true), (3, false);
INSERT INTO health_data_history (user_id, metric) VALUES (1, 'weight'), (1, 'pulse'), (2, 'weight');
INSERT INTO feedback (user_id, rating) VALUES (1, 5), (3, 4);
