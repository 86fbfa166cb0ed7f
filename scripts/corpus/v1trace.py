"""A bdd-state-trace v1 writer for Python suites, written from docs/format.md alone.

It exists so the accuracy corpus has a producer that is not the Rust tracer:
if the spec is incomplete, a suite traced by this writer shows it. One writer
per process, single-threaded; every record is one os.write(2), so a killed
process leaves a valid file without a footer.
"""

import datetime
import json
import os
import secrets
import socket
import sys
import time

FORMAT = "bdd-state-trace"
VERSION = 1
TRACER = "corpus-python-v1trace 0.1"


def now_rfc3339():
    """UTC wall time with exactly six fractional digits and a Z (format.md, Time)."""
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def safe_run_id(run_id):
    """The run id made file-name safe: ASCII A-Z a-z 0-9 - _ . kept, at most 64 chars."""
    keep = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in run_id)
    return keep[:64] or "run"


def sqlite_identity(path):
    """`sqlite:/absolute/canonical/path.db`, or exactly `sqlite::memory:`."""
    if path in ("", ":memory:") or "mode=memory" in path:
        return "sqlite::memory:"
    return "sqlite:" + os.path.realpath(path)


def postgres_identity(host, port, dbname):
    """`postgres://host:port/dbname`: lower-case host, port always written, no credentials."""
    return f"postgres://{(host or 'localhost').lower()}:{int(port or 5432)}/{dbname}"


class Trace:
    """One process's trace file: header, events, footer."""

    def __init__(self, process, run_id, folder):
        self.run_id = run_id
        # Create the folder 0700 if missing; never chmod an existing one.
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        started = datetime.datetime.now(datetime.timezone.utc)
        stamp = started.strftime("%Y%m%dT%H%M%S.%f") + "Z"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        while True:
            name = f"bdd-state-trace-{safe_run_id(run_id)}-{stamp}-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
            try:
                self.fd = os.open(os.path.join(folder, name), flags, 0o600)
                self.path = os.path.join(folder, name)
                break
            except FileExistsError:
                continue  # a new random part, never open what is there
        self.seq = 0
        self.written = 0
        self.dropped = 0
        self.mono0 = time.monotonic_ns()
        self.next_scenario_id = 0
        self.current = None  # members every record of the open scenario carries
        self._write({
            "type": "header", "seq": 0, "format": FORMAT, "version": VERSION,
            "run_id": run_id, "pid": os.getpid(), "ppid": os.getppid(),
            "host": socket.gethostname(), "process": process, "argv": sys.argv,
            "tracer": TRACER, "start": started.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
            "cwd": os.getcwd(),
        })
        self.event("PROCESS_START")

    def _write(self, record):
        record["seq"] = self.seq
        self.seq += 1
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        try:
            if os.write(self.fd, line) != len(line):
                raise OSError("short write")
            self.written += 1
        except OSError:
            self.dropped += 1  # the skipped seq shows the loss

    def event(self, action, **members):
        """Writes one event now (ts = now); members that are None are omitted."""
        rec = {"type": "event", "ts": now_rfc3339(),
               "mono_ns": time.monotonic_ns() - self.mono0, "tid": 1, "action": action}
        if self.current:
            rec.update(self.current)
        rec.update({k: v for k, v in members.items() if v is not None})
        self._write(rec)

    # Scenarios -----------------------------------------------------------

    def scenario_start(self, feature, scenario):
        self.next_scenario_id += 1
        self.current = {"scenario_id": self.next_scenario_id, "feature": feature, "scenario": scenario}
        self.scenario_t0 = time.monotonic_ns()
        self.event("SCENARIO_START")

    def scenario_end(self, error=None):
        self.event("SCENARIO_END", outcome="FAILED" if error else "PASSED", error=error,
                   duration_us=(time.monotonic_ns() - self.scenario_t0) // 1000)
        self.current = None

    # Statements ----------------------------------------------------------

    def statement(self, action, db, schema, tables, sql, started_ns, rows=None, error=None):
        """One statement, written when it returned: ts = its end, duration_us = how long it ran.

        `rows` is what the database reported (None when it reported nothing:
        omitted, never 0); `error` marks a statement that failed and changed nothing.
        """
        resource = {"scope": "shared", "schema": schema, "tables": list(tables)}
        if db:
            resource["db"] = db  # absent = unknown, never a placeholder
        self.event(action, resource=resource, details=sql,
                   duration_us=(time.monotonic_ns() - started_ns) // 1000,
                   rows=None if error else rows, error=error)

    def close(self):
        self.current = None  # PROCESS_END belongs to the process
        self.event("PROCESS_END")
        footer = {"type": "footer", "ts": now_rfc3339(), "mono_ns": time.monotonic_ns() - self.mono0,
                  "records": self.written, "dropped": self.dropped}
        # The footer's seq is records + dropped: _write assigns exactly that.
        self._write(footer)
        os.close(self.fd)
