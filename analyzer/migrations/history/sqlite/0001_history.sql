-- trace-analyzer history, schema 1 (SQLite). Keep in step with
-- ../postgres/0001_history.sql: same tables, columns and indexes.
CREATE TABLE history_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO history_meta (key, value) VALUES ('application', 'trace-analyzer history');

CREATE TABLE runs (
    id         INTEGER PRIMARY KEY,
    run_key    TEXT NOT NULL UNIQUE,
    started_us INTEGER NOT NULL,
    ended_us   INTEGER,
    added_us   INTEGER NOT NULL,
    rev        TEXT,
    branch     TEXT,
    scenarios  INTEGER NOT NULL,
    failed     INTEGER NOT NULL,
    findings   INTEGER NOT NULL
);
CREATE INDEX runs_started ON runs (started_us);

CREATE TABLE run_labels (
    run   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run, key)
);

CREATE TABLE processes (
    run        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    pid        INTEGER NOT NULL,
    label      TEXT NOT NULL,
    exit_state TEXT NOT NULL,
    scenarios  INTEGER NOT NULL,
    failed     INTEGER NOT NULL,
    PRIMARY KEY (run, seq)
);

CREATE TABLE scenarios (
    id      INTEGER PRIMARY KEY,
    feature TEXT NOT NULL,
    name    TEXT NOT NULL,
    UNIQUE (feature, name)
);

CREATE TABLE scenario_runs (
    run         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    scenario    INTEGER NOT NULL REFERENCES scenarios (id),
    pid         INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    started_us  INTEGER NOT NULL,
    duration_us INTEGER,
    PRIMARY KEY (run, seq)
);
CREATE INDEX scenario_runs_scenario ON scenario_runs (scenario, run, outcome);
CREATE INDEX scenario_runs_failed ON scenario_runs (run, scenario) WHERE outcome = 'FAILED';

CREATE TABLE findings (
    run            INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    rule           TEXT NOT NULL,
    severity       TEXT NOT NULL,
    likely_cause   BOOLEAN NOT NULL,
    victim         INTEGER REFERENCES scenarios (id),
    victim_seq     INTEGER,
    victim_outcome TEXT,
    polluter       INTEGER REFERENCES scenarios (id),
    polluter_seq   INTEGER,
    resource       TEXT NOT NULL,
    occurrences    INTEGER NOT NULL,
    confidence     TEXT,
    PRIMARY KEY (run, seq)
);
CREATE INDEX findings_victim ON findings (victim, polluter);
