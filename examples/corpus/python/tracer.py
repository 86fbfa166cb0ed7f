"""A bdd-state-trace v1 writer for Python's sqlite3, written from docs/format.md alone.

One StateTrace per OS process, single-threaded. TracedDb runs a statement and
records it as one event: the action from its first keyword, the statement text
in `details` (the analyzer reads its clauses, never values), `rows` as the
database reported it.
"""
import datetime
import json
import os
import secrets
import sys
import time


def _fmt(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _now():
    return _fmt(datetime.datetime.now(datetime.timezone.utc))


class StateTrace:
    def __init__(self, process, run_id, folder, config=None):
        os.makedirs(folder, mode=0o700, exist_ok=True)
        safe = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in run_id)[:64] or "run"
        start = datetime.datetime.now(datetime.timezone.utc)
        while True:  # O_EXCL: never append to another process's file
            name = (f"bdd-state-trace-{safe}-{start.strftime('%Y%m%dT%H%M%S.%f')}Z-"
                    f"{os.getpid()}-{secrets.token_hex(4)}.jsonl")
            try:
                self.fd = os.open(os.path.join(folder, name),
                                  os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                break
            except FileExistsError:
                continue
        self.seq, self.written, self.dropped, self.t0 = 0, 0, 0, time.monotonic_ns()
        self.scenario_ids, self.current, self.held = 0, None, None
        header = {"type": "header", "format": "bdd-state-trace", "version": 1, "run_id": run_id,
                  "pid": os.getpid(), "ppid": os.getppid(), "host": os.uname().nodename,
                  "process": process, "argv": [sys.executable] + sys.argv,
                  "tracer": "corpus-python-tracer 0.1", "start": _fmt(start), "cwd": os.getcwd()}
        if config:
            header["config"] = config
        self._write(header)
        self.event("PROCESS_START")

    def _write(self, record):
        record.setdefault("seq", self.seq)
        self.seq += 1
        try:
            os.write(self.fd, (json.dumps(record, ensure_ascii=False) + "\n").encode())  # one write(2) a record
            self.written += 1
        except OSError:
            self.dropped += 1  # the seq gap shows the loss

    def _record(self, action, members):
        rec = {"type": "event", "ts": _now(), "mono_ns": time.monotonic_ns() - self.t0, "tid": 1, "action": action}
        if self.current:
            rec.update(self.current)
        rec.update({k: v for k, v in members.items() if v is not None})
        return rec

    def event(self, action, **members):
        self._write(self._record(action, members))

    def statement(self, action, **members):
        """A statement's event; inside a transaction it waits for the commit (format.md:
        work that was rolled back is not a change)."""
        rec = self._record(action, members)
        if self.held is None:
            self._write(rec)
        else:
            self.held.append(rec)

    def tx_begin(self, details):
        self.event("TX_BEGIN", details=details)
        self.held = []

    def tx_end(self, committed):
        held, self.held = self.held or [], None
        if committed:
            for rec in held:  # nothing else wrote in between: this thread ran the transaction
                self._write(rec)
        self.event("TX_COMMIT" if committed else "TX_ROLLBACK")

    def scenario_start(self, feature, scenario):
        self.scenario_ids += 1
        self.current = {"scenario_id": self.scenario_ids, "feature": feature, "scenario": scenario}
        self.started = time.monotonic()
        self.event("SCENARIO_START")

    def scenario_end(self, error=None):
        self.event("SCENARIO_END", outcome="FAILED" if error else "PASSED", error=error,
                   duration_us=int((time.monotonic() - self.started) * 1e6))
        self.current = None

    def close(self):
        self.event("PROCESS_END")
        self._write({"type": "footer", "seq": self.seq, "ts": _now(), "mono_ns": time.monotonic_ns() - self.t0,
                     "records": self.written, "dropped": self.dropped})
        os.close(self.fd)


_ACTIONS = {"SELECT": "DB_SELECT", "INSERT": "DB_INSERT", "UPDATE": "DB_UPDATE", "DELETE": "DB_DELETE",
            "CREATE": "DB_DDL", "DROP": "DB_DDL", "ALTER": "DB_DDL"}


def action_of(sql):
    """The event's action. A DELETE without WHERE empties the table: DB_CLEANUP. An upsert
    (ON CONFLICT ... DO UPDATE) stays DB_INSERT with its text, as format.md says."""
    verb = sql.split(None, 1)[0].upper()
    if verb == "DELETE" and " WHERE " not in " ".join(sql.upper().split()):
        return "DB_CLEANUP"
    return _ACTIONS[verb]


class TracedDb:
    """A sqlite3 connection (autocommit) whose statements are traced; the caller names the tables."""

    def __init__(self, conn, trace, identity):
        self.conn, self.t, self.db = conn, trace, identity

    def execute(self, sql, params=(), tables=(), fetch=True):
        action = action_of(sql)
        res = {"scope": "shared", "db": self.db, "schema": "main", "tables": list(tables)}
        details = " ".join(sql.split())
        t0 = time.monotonic()
        try:
            cur = self.conn.execute(sql, params)
            rows = cur.fetchall() if fetch else []
        except Exception as e:
            self.t.statement(action, resource=res, details=details,
                             duration_us=int((time.monotonic() - t0) * 1e6), error=str(e)[:200])
            raise
        if action == "DB_DDL":
            n = None  # the database reports nothing for DDL
        elif action == "DB_SELECT" or "RETURNING" in details.upper():
            n = len(rows)  # COUNT(*) is one row, as format.md says
        else:
            n = cur.rowcount if cur.rowcount >= 0 else None
        self.t.statement(action, resource=res, details=details,
                         duration_us=int((time.monotonic() - t0) * 1e6), rows=n)
        return rows

    def begin(self):
        self.conn.execute("BEGIN IMMEDIATE")
        self.t.tx_begin("BEGIN IMMEDIATE")

    def commit(self):
        self.conn.execute("COMMIT")
        self.t.tx_end(True)

    def rollback(self):
        self.conn.execute("ROLLBACK")
        self.t.tx_end(False)
