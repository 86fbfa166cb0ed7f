#!/usr/bin/env python3
"""Accuracy-corpus shape `many-workers-<N>`: N worker processes share one database.

Why it exists: the Rust suites of the corpus are traced by the Rust tracer;
this one is a Python suite traced by a writer built from docs/format.md alone
(v1trace.py), the way a team outside Rust would, and it is large (16 or 32
processes, ~2,000 scenarios a run), the way a parallel CI job is.

Each scenario inserts rows tagged with its own id, sleeps a little, reads them
back and (after-hook) deletes its own rows (`DELETE ... WHERE owner = ?`). A
few "admin" scenarios start from a clean database (`DELETE FROM t`, or
`TRUNCATE` on PostgreSQL); rows another scenario was still using vanish under
it. The ground truth comes from the database only: `RETURNING tag` of every
delete, tags read under the TRUNCATE's own lock, the rows a victim did not get
back. A few pricing scenarios fail on a bug of their own (genuine).

    many-workers.py run --out DIR [--workers 16] [--scenarios 2000] [--postgres URL] [--seed S]
    many-workers.py worker ...   (started by `run`, one per process)
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import v1trace  # noqa: E402

SCHEMA = [
    "CREATE TABLE orders (tag TEXT PRIMARY KEY, owner TEXT NOT NULL, written_by TEXT NOT NULL,"
    " status TEXT NOT NULL, amount INTEGER NOT NULL)",
    "CREATE TABLE order_lines (tag TEXT PRIMARY KEY, owner TEXT NOT NULL, written_by TEXT NOT NULL,"
    " sku TEXT NOT NULL, qty INTEGER NOT NULL)",
    "CREATE TABLE customers (tag TEXT PRIMARY KEY, owner TEXT NOT NULL, written_by TEXT NOT NULL,"
    " email TEXT NOT NULL)",
    "CREATE INDEX orders_owner ON orders (owner)",
    "CREATE INDEX order_lines_owner ON order_lines (owner)",
    "CREATE INDEX customers_owner ON customers (owner)",
]

# Scenario kinds and their default weights. The wipes are the polluters.
KINDS = {
    "place_order": 0.50,
    "count_orders": 0.20,
    "signup": 0.20,
    "discount": 0.05,
    "reset_orders": 0.0,  # the three wipes share --wipe-rate
    "reset_customers": 0.0,
    "reset_all": 0.0,
}
WIPES = {"reset_orders": (0.5, ["order_lines", "orders"]),
         "reset_customers": (0.25, ["customers"]),
         "reset_all": (0.25, ["order_lines", "orders", "customers"])}


class ScenarioFailed(Exception):
    """An assertion of the scenario failed; `truth` is its ground-truth line."""

    def __init__(self, message, truth):
        super().__init__(message)
        self.truth = truth


class Truth:
    """The run's ground-truth file: one os.write per line on an O_APPEND fd."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def append(self, line):
        os.write(self.fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())

    def removed(self, by, table, tags):
        if tags:
            self.append({"ev": "removed", "by": by, "table": table, "tags": sorted(tags)})

    def failed(self, line):
        self.append(dict({"ev": "failed"}, **line))


class Db:
    """The suite's connection: runs a statement and traces it as format.md says."""

    def __init__(self, kind, target, trace):
        self.kind, self.trace = kind, trace
        if kind == "sqlite":
            import sqlite3
            self.conn = sqlite3.connect(target, timeout=60, isolation_level=None)
            self.conn.execute("PRAGMA busy_timeout = 60000")
            self.identity, self.schema, self.ph = v1trace.sqlite_identity(target), "main", "?"
            self.errors = sqlite3.Error
        else:
            import psycopg
            self.conn = psycopg.connect(target, autocommit=True)
            u = urllib.parse.urlsplit(target)
            self.identity = v1trace.postgres_identity(u.hostname, u.port, u.path.lstrip("/"))
            self.schema, self.ph = "public", "%s"
            self.errors = psycopg.Error

    def sql(self, text):
        """The suite writes `?`; psycopg wants `%s`."""
        return text.replace("?", self.ph)

    def run(self, action, tables, text, params=(), fetch=True):
        """Executes one traced statement; returns its rows (reads, RETURNING) or None."""
        text = self.sql(text)
        t0 = time.monotonic_ns()
        try:
            cur = self.conn.execute(text, params)
            rows = cur.fetchall() if fetch else None
            count = len(rows) if fetch else (cur.rowcount if cur.rowcount >= 0 else None)
        except Exception as e:  # recorded with `error`, then the scenario fails
            self.trace.statement(action, self.identity, self.schema, tables, text, t0,
                                 error=type(e).__name__ + ": " + str(e).splitlines()[0][:200])
            raise
        self.trace.statement(action, self.identity, self.schema, tables, text, t0, rows=count)
        return rows

    def wipe(self, tables, truncate):
        """Cleans whole tables; returns {table: tags removed} as the database said."""
        if not truncate:
            return {t: [r[0] for r in self.run("DB_CLEANUP", [t], f"DELETE FROM {t} RETURNING tag")]
                    for t in tables}
        # PostgreSQL TRUNCATE reports no count: the truth reads the tags under the
        # lock TRUNCATE takes anyway, in its transaction (untraced), then truncates.
        text = f"TRUNCATE {', '.join(tables)}"
        t0 = time.monotonic_ns()
        removed = {}
        try:
            with self.conn.transaction():
                self.conn.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
                for t in tables:
                    removed[t] = [r[0] for r in self.conn.execute(f"SELECT tag FROM {t}").fetchall()]
                self.conn.execute(text)
        except Exception as e:
            self.trace.statement("DB_CLEANUP", self.identity, self.schema, tables, text, t0,
                                 error=type(e).__name__ + ": " + str(e).splitlines()[0][:200])
            raise
        self.trace.statement("DB_CLEANUP", self.identity, self.schema, tables, text, t0, rows=None)
        return removed


class Worker:
    """One worker process: runs its share of the scenarios one after another."""

    def __init__(self, args):
        self.args = args
        self.pid = os.getpid()
        self.rng = random.Random(f"{args.seed}-{args.index}")
        self.trace = v1trace.Trace(f"many-workers-w{args.index:02d}",
                                   os.environ["BDD_TRACE_RUN_ID"], os.environ["BDD_TRACE_DIR"])
        self.truth = Truth(os.environ["CORPUS_TRUTH"])
        self.db = Db(args.db_kind, args.db, self.trace)

    def who(self, feature, scenario):
        return {"pid": self.pid, "feature": feature, "scenario": scenario}

    def pick_kind(self):
        weights = dict(KINDS)
        for k, (share, _) in WIPES.items():
            weights[k] = share * self.args.wipe_rate
        return self.rng.choices(list(weights), list(weights.values()))[0]

    def nap(self, lo_ms, hi_ms):
        time.sleep(self.rng.uniform(lo_ms, hi_ms) / 1000)

    def run(self):
        stats = {"scenarios": 0, "failed": 0}
        for i in range(self.args.count):
            kind = self.pick_kind()
            stats["scenarios"] += 1
            stats["failed"] += 0 if self.scenario(kind, i + 1) else 1
        self.trace.close()
        print(json.dumps(stats), flush=True)

    def scenario(self, kind, index):
        """Runs one scenario inside SCENARIO_START/END, hooks included; True if it passed."""
        feature = {"place_order": "orders", "count_orders": "reporting", "signup": "customers",
                   "discount": "pricing"}.get(kind, "admin")
        owner = f"p{self.pid}-s{index}"
        body = getattr(self, kind)
        name = f"{body.__doc__.strip()} #{index}"
        who = self.who(feature, name)
        self.trace.scenario_start(feature, name)
        error = None
        # Rows this scenario inserted, per table: its cleanup deletes them.
        self.mine = {}
        try:
            body(who, owner)
        except ScenarioFailed as f:
            error = str(f)
            self.truth.failed(dict({"who": who}, **f.truth))
        except self.db.errors as e:  # a statement failed (locked, deadlock): not about rows
            error = f"{type(e).__name__}: {e}"
            self.truth.failed({"who": who, "genuine": True, "why": "statement failed: " + error[:200]})
        finally:
            self.after_hook(who, owner)
        self.trace.scenario_end(error=error)
        return error is None

    def after_hook(self, who, owner):
        """Deletes exactly this scenario's own rows (children first)."""
        for table in ("order_lines", "orders", "customers"):
            if table in self.mine:
                try:
                    rows = self.db.run("DB_DELETE", [table],
                                       f"DELETE FROM {table} WHERE owner = ? RETURNING tag", (owner,))
                    self.truth.removed(who, table, [r[0] for r in rows])
                except self.db.errors:
                    pass  # recorded with `error`; nothing was deleted

    # Building blocks --------------------------------------------------------

    def insert(self, who, owner, table, n, columns, values):
        """Inserts n rows tagged `<owner>:<table>:<k>`, one statement each; returns their tags."""
        tags = []
        cols = ", ".join(("tag", "owner", "written_by") + columns)
        marks = ", ".join("?" for _ in range(3 + len(columns)))
        writer = f"{who['pid']}|{who['feature']}|{who['scenario']}"
        for k in range(n):
            tag = f"{owner}:{table}:{k + 1}"
            self.mine.setdefault(table, []).append(tag)
            self.db.run("DB_INSERT", [table], f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                        (tag, owner, writer) + values(k), fetch=False)
            tags.append(tag)
        return tags

    def read_back(self, owner, table, tags, what):
        """Reads this scenario's rows of `table`; fails naming the rows that are gone."""
        rows = self.db.run("DB_SELECT", [table], f"SELECT tag FROM {table} WHERE owner = ?", (owner,))
        missing = sorted(set(tags) - {r[0] for r in rows})
        if missing:
            raise ScenarioFailed(f"expected {len(tags)} {what}, found {len(rows)}", {"needs": missing})
        return rows

    def prelude_wipe(self, who, tables):
        """`Given a clean database` (before-hook): DELETE FROM, or TRUNCATE on PostgreSQL half the time."""
        truncate = self.args.db_kind == "postgres" and self.rng.random() < 0.5
        for table, tags in self.db.wipe(tables, truncate).items():
            self.truth.removed(who, table, tags)

    # Scenario bodies (their docstrings name the scenarios) --------------------

    def place_order(self, who, owner):
        """place an order"""
        self.nap(1, 8)
        lines = self.rng.randint(1, 3)
        order = self.insert(who, owner, "orders", 1, ("status", "amount"),
                            lambda k: ("open", self.rng.randint(10, 900)))
        line_tags = self.insert(who, owner, "order_lines", lines, ("sku", "qty"),
                                lambda k: (f"sku-{self.rng.randint(1, 50)}", self.rng.randint(1, 5)))
        self.nap(3, 40)  # the app processes the order
        self.read_back(owner, "orders", order, "orders")
        self.read_back(owner, "order_lines", line_tags, "order lines")

    def count_orders(self, who, owner):
        """count a customer's orders"""
        n = self.rng.randint(2, 4)
        tags = self.insert(who, owner, "orders", n, ("status", "amount"),
                           lambda k: ("open", self.rng.randint(10, 900)))
        self.nap(3, 40)
        (count,), = self.db.run("DB_SELECT", ["orders"],
                                "SELECT count(*) FROM orders WHERE owner = ?", (owner,))
        if count != n:
            # Which rows are gone: read untraced (the truth, not the suite).
            present = {r[0] for r in self.db.conn.execute(
                self.db.sql("SELECT tag FROM orders WHERE owner = ?"), (owner,)).fetchall()}
            raise ScenarioFailed(f"expected {n} orders, counted {count}",
                                 {"needs": sorted(set(tags) - present)})

    def signup(self, who, owner):
        """sign up a customer"""
        self.nap(1, 8)
        tags = self.insert(who, owner, "customers", 1, ("email",), lambda k: (f"{owner}@example.test",))
        self.nap(3, 40)
        self.read_back(owner, "customers", tags, "customers")

    def discount(self, who, owner):
        """apply the volume discount"""
        amount = self.rng.randint(100, 1100)
        tags = self.insert(who, owner, "orders", 1, ("status", "amount"), lambda k: ("open", amount))
        self.nap(3, 40)
        self.read_back(owner, "orders", tags, "orders")
        rows = self.db.run("DB_SELECT", ["orders"], "SELECT amount FROM orders WHERE tag = ?", (tags[0],))
        if not rows:  # gone since the read above: shared state, not the bug
            raise ScenarioFailed("the order vanished before pricing", {"needs": tags})
        # The bug under test: orders over 1000 get the discount twice.
        got = rows[0][0] * 90 // 100
        if rows[0][0] > 1000:
            got = got * 90 // 100
        if got != amount * 90 // 100:
            raise ScenarioFailed(f"expected discounted total {amount * 90 // 100}, got {got}",
                                 {"genuine": True, "why": "discount applied twice above 1000"})

    def reset_orders(self, who, owner):
        """start from an empty order book"""
        self.prelude_wipe(who, WIPES["reset_orders"][1])
        self.place_order(who, owner)

    def reset_customers(self, who, owner):
        """start from no customers"""
        self.prelude_wipe(who, WIPES["reset_customers"][1])
        self.signup(who, owner)

    def reset_all(self, who, owner):
        """start from an empty database"""
        self.prelude_wipe(who, WIPES["reset_all"][1])
        self.place_order(who, owner)


# The driver -------------------------------------------------------------------

def create_database(args):
    """A fresh database for the run; returns (kind, target, drop)."""
    if not args.postgres:
        folder = tempfile.mkdtemp(prefix="many-workers-db.")
        path = os.path.join(folder, "suite.db")
        import sqlite3
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
        for s in SCHEMA:
            conn.execute(s)
        conn.close()
        return "sqlite", path, lambda: shutil.rmtree(folder, ignore_errors=True)
    import psycopg
    name = f"many_workers_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    u = urllib.parse.urlsplit(args.postgres)
    target = urllib.parse.urlunsplit(u._replace(path="/" + name))
    with psycopg.connect(target, autocommit=True) as conn:
        for s in SCHEMA:
            conn.execute(s)

    def drop():
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return "postgres", target, drop


def drive(args):
    out = os.path.abspath(args.out)
    os.makedirs(os.path.join(out, "traces"), exist_ok=True)
    truth = os.path.join(out, "truth.jsonl")
    open(truth, "a").close()
    kind, target, drop = create_database(args)
    run_id = os.environ.get("BDD_TRACE_RUN_ID") or \
        f"many-workers-{args.workers}-{kind}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    env = dict(os.environ, BDD_TRACE_RUN_ID=run_id, BDD_TRACE_DIR=os.path.join(out, "traces"),
               CORPUS_TRUTH=truth)
    per, extra = divmod(args.scenarios, args.workers)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    t0 = time.monotonic()
    try:
        procs = [subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "worker", "--index", str(i),
             "--count", str(per + (1 if i < extra else 0)), "--db-kind", kind, "--db", target,
             "--seed", str(seed), "--wipe-rate", str(args.wipe_rate)],
            env=env, stdout=subprocess.PIPE, text=True) for i in range(args.workers)]
        stats = {"scenarios": 0, "failed": 0}
        bad = 0
        for p in procs:
            so, _ = p.communicate()
            bad += p.returncode != 0
            for line in so.splitlines():
                for k, v in json.loads(line).items():
                    stats[k] += v
    finally:
        drop()
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump({"shape": f"many-workers-{args.workers}", "db": kind}, f)
        f.write("\n")
    with open(os.path.join(out, "run_id"), "w") as f:
        f.write(run_id + "\n")
    print(f"{out}: run {run_id}, seed {seed}, {stats['scenarios']} scenarios, {stats['failed']} failed, "
          f"{time.monotonic() - t0:.1f} s", file=sys.stderr)
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--workers", type=int, default=16)
    r.add_argument("--scenarios", type=int, default=2000, help="in total, over all workers")
    r.add_argument("--postgres", metavar="URL", help="server URL (default: a fresh SQLite file)")
    r.add_argument("--seed", type=int)
    r.add_argument("--wipe-rate", type=float, default=0.015, help="share of scenarios that wipe tables")
    w = sub.add_parser("worker")
    w.add_argument("--index", type=int, required=True)
    w.add_argument("--count", type=int, required=True)
    w.add_argument("--db-kind", choices=("sqlite", "postgres"), required=True)
    w.add_argument("--db", required=True)
    w.add_argument("--seed", type=int, required=True)
    w.add_argument("--wipe-rate", type=float, required=True)
    args = p.parse_args()
    if args.cmd == "worker":
        Worker(args).run()
        return 0
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
