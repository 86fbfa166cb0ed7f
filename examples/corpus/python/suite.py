#!/usr/bin/env python3
"""The Python producer shapes of the accuracy corpus: a multi-process suite on one SQLite file.

Written by an outside audit from docs/format.md alone (tracer.py), so the corpus
also scores what a producer outside Rust writes. Each shape is a small test suite
people write: workers are real OS processes, each running scenarios one after
the other against one shared SQLite file (WAL).

The ground truth never comes from the trace: rows carry who wrote, archived or
last changed them; an untraced trigger audits every change of products.stock;
mutators log what their RETURNING gave back into an untraced truth_log (after
the commit: rolled-back work logs nothing); migrations log into an untraced
ddl_log. A failing scenario asks these who did it and appends one `failed` line
to the run's truth.jsonl in the corpus's format (docs/accuracy.md).

    suite.py run --shape SHAPE --out RUNDIR [--workers 6] [--per-worker 40] [--seed 1]
    suite.py worker ...   (started by `run`, one per process)

RUNDIR gets traces/, truth.jsonl, meta.json ({"shape": "py-<shape>", "db": "sqlite"}),
run_id and app.db.
"""
import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer import StateTrace, TracedDb  # noqa: E402

SCHEMA = [
    ("items", "CREATE TABLE items (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, name TEXT,"
              " archived INTEGER NOT NULL DEFAULT 0, archived_by TEXT)"),
    ("products", "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, stock INTEGER NOT NULL, last_writer TEXT)"),
    ("settings", "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT, writer TEXT)"),
    ("notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, body TEXT)"),
    ("ledger", "CREATE TABLE ledger (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, amount INTEGER NOT NULL)"),
    ("orders", "CREATE TABLE orders (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, item TEXT)"),
]
# Untraced: the harness's ground truth, not part of the suite under test.
TRUTH_SCHEMA = [
    "CREATE TABLE product_audit (id INTEGER PRIMARY KEY, writer TEXT, old INTEGER, new INTEGER)",
    "CREATE TRIGGER products_audit AFTER UPDATE OF stock ON products BEGIN "
    "INSERT INTO product_audit (writer, old, new) VALUES (NEW.last_writer, OLD.stock, NEW.stock); END",
    "CREATE TABLE ddl_log (id INTEGER PRIMARY KEY, writer TEXT, stmt TEXT)",
    "CREATE TABLE truth_log (id INTEGER PRIMARY KEY, actor TEXT, kind TEXT, tbl TEXT, target_owner TEXT, row_id INTEGER)",
]
PREF_KEYS = ["theme", "locale", "currency", "timezone"]
# The column name holds "drop": a per-scenario CREATE TABLE IF NOT EXISTS must not read as a DROP.
DELIVERIES_DDL = ("CREATE TABLE IF NOT EXISTS deliveries (id INTEGER PRIMARY KEY, owner TEXT NOT NULL,"
                  " parcel TEXT, dropoff_at TEXT)")


class Fail(AssertionError):
    pass


class Ctx:
    """One scenario: its traced connection, an untraced one for the truth, its identity."""

    def __init__(self, db, tconn, who, rnd):
        self.db, self.tc, self.who, self.rnd = db, tconn, who, rnd
        self.name = who["scenario"]
        # Rows and logs carry the whole scenario identity, so the truth names it as the report does.
        self.me = json.dumps(who, sort_keys=True, separators=(",", ":"))
        self.truth = None  # (culprit tags, why) once a check failed
        self.on_error = None  # truth for a failed statement (schema changed under it)
        self.after = []  # after-hooks

    def sleep(self, lo=5, hi=30):
        time.sleep(self.rnd.uniform(lo, hi) / 1000)

    def q(self, sql, params=()):
        return self.tc.execute(sql, params).fetchall()

    def find_truth(self, truth_fn):
        # The polluter logs what RETURNING gave it just after its statement: wait for it.
        culprits, why = [], ""
        for _ in range(3):
            try:
                culprits, why = truth_fn()
            except sqlite3.Error as e:
                culprits, why = [], f"truth query failed: {e}"
            culprits = [c for c in dict.fromkeys(culprits) if c and c != self.me]
            if culprits or why == "genuine":
                break
            time.sleep(0.05)
        self.truth = (culprits, why)

    def check(self, cond, msg, truth_fn):
        if not cond:
            self.find_truth(truth_fn)
            raise Fail(msg)

    def log_truth(self, kind, tbl, rows):
        """rows: (row id, owner) the database returned for a committed change."""
        for rid, owner in rows:
            self.tc.execute("INSERT INTO truth_log (actor, kind, tbl, target_owner, row_id) VALUES (?,?,?,?,?)",
                            (self.me, kind, tbl, owner, rid))

    def truth_max(self, table):
        return self.q(f"SELECT COALESCE(MAX(id), 0) FROM {table}")[0][0]

    def wipers_of_mine(self, tbl):
        return lambda: ([r[0] for r in self.q("SELECT actor FROM truth_log WHERE tbl = ? AND target_owner = ?"
                                              " ORDER BY id", (tbl, self.me))], f"deleter of the victim's {tbl}")


# ---- soft deletes (catalog): archiving is an UPDATE; readers of `archived = 0` lose rows
def archivers_of_mine(c):
    return lambda: ([r[0] for r in c.q("SELECT archived_by FROM items WHERE owner = ? AND archived = 1"
                                       " GROUP BY archived_by ORDER BY MIN(id)", (c.me,))],
                    "archived_by of the victim's own rows")


def sc_items_count_active(c):
    c.db.execute("INSERT INTO items (owner, name) VALUES (?, 'a'), (?, 'b'), (?, 'c')", (c.me,) * 3, ["items"])
    c.after.append(lambda: c.db.execute("DELETE FROM items WHERE owner = ?", (c.me,), ["items"]))
    c.sleep(10, 40)
    rows = c.db.execute("SELECT id FROM items WHERE owner = ? AND archived = 0", (c.me,), ["items"])
    c.check(len(rows) == 3, f"AssertionError: expected 3 active items, got {len(rows)}", archivers_of_mine(c))


def sc_items_archive_own(c):
    c.db.execute("INSERT INTO items (owner, name) VALUES (?, 'x'), (?, 'y')", (c.me,) * 2, ["items"])
    c.after.append(lambda: c.db.execute("DELETE FROM items WHERE owner = ?", (c.me,), ["items"]))
    c.sleep(3, 15)
    rows = c.db.execute("UPDATE items SET archived = 1, archived_by = ? WHERE owner = ? AND archived = 0 RETURNING id",
                        (c.me, c.me), ["items"])
    c.check(len(rows) == 2, f"AssertionError: expected to archive 2 items, archived {len(rows)}",
            archivers_of_mine(c))


def sc_items_archive_stale(c):
    # A "nightly job": archives every active item, not only its own.
    rows = c.db.execute("UPDATE items SET archived = 1, archived_by = ? WHERE archived = 0 RETURNING id, owner",
                        (c.me,), ["items"])
    c.log_truth("archive", "items", rows)


def sc_items_archive_all(c):
    # No WHERE at all; COALESCE keeps the first archiver, so archived_by stays the truth.
    rows = c.db.execute("UPDATE items SET archived = 1, archived_by = COALESCE(archived_by, ?) RETURNING id, owner",
                        (c.me,), ["items"])
    c.log_truth("archive", "items", rows)


def sc_items_browse(c):
    c.db.execute("SELECT id, name FROM items WHERE archived = 0", (), ["items"])


# ---- a shared counter (shop): one row every buyer decrements
def sc_buy_one(c):
    s0 = c.db.execute("SELECT stock FROM products WHERE id = 1", (), ["products"])[0][0]
    base = c.truth_max("product_audit")
    c.sleep(5, 30)  # "payment"
    c.db.execute("UPDATE products SET stock = stock - 1, last_writer = ? WHERE id = 1", (c.me,), ["products"])
    s1 = c.db.execute("SELECT stock FROM products WHERE id = 1", (), ["products"])[0][0]
    top = c.truth_max("product_audit")
    c.check(s1 == s0 - 1, f"AssertionError: expected stock {s0 - 1} after buying one, got {s1}",
            lambda: ([r[0] for r in c.q("SELECT writer FROM product_audit WHERE id > ? AND id <= ? ORDER BY id",
                                       (base, top))], "other writers of products.stock between the reads"))


def sc_restock(c):
    c.db.execute("UPDATE products SET stock = 500, last_writer = ? WHERE id = 1", (c.me,), ["products"])


def sc_check_stock(c):
    rows = c.db.execute("SELECT name, stock FROM products WHERE id = 1", (), ["products"])
    c.check(rows and rows[0][1] > 0, "AssertionError: out of stock",
            lambda: ([r[0] for r in c.q("SELECT writer FROM product_audit ORDER BY id DESC LIMIT 1")],
                     "the buyer who took the last one"))


# ---- upserts (prefs): a key/value table, overwritten and wiped
def sc_set_pref(c):
    key = c.rnd.choice(PREF_KEYS)
    val = "v-" + c.name.split("#")[-1]
    base = c.truth_max("truth_log")
    c.db.execute("INSERT INTO settings (key, value, writer) VALUES (?, ?, ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value, writer = excluded.writer",
                 (key, val, c.me), ["settings"], fetch=False)
    c.sleep(5, 30)
    rows = c.db.execute("SELECT value, writer FROM settings WHERE key = ?", (key,), ["settings"])
    # The key may have been overwritten before it was wiped: the wiper of the key is the culprit.
    c.check(rows, f"AssertionError: setting {key} missing",
            lambda: ([r[0] for r in c.q("SELECT actor FROM truth_log WHERE tbl = 'settings' AND row_id = ? AND id > ?"
                                       " ORDER BY id", (key, base))], "wiper of the key after the victim's upsert"))
    c.check(rows[0][0] == val, f"AssertionError: expected {key}={val}, got {rows[0][0]}",
            lambda: ([rows[0][1]], "writer of the row the victim read"))


def sc_reset_prefs(c):
    c.db.execute("INSERT INTO settings (key, value, writer) VALUES ('theme', 'light', ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value, writer = excluded.writer",
                 (c.me,), ["settings"], fetch=False)
    c.sleep(2, 10)

    def hook():
        c.log_truth("wipe", "settings", c.db.execute("DELETE FROM settings RETURNING key, writer", (), ["settings"]))
    c.after.append(hook)


# ---- DDL mid-run (notes): DROP + CREATE, or a column renamed and back
def ddl_since_start(c):
    last = c.q("SELECT id, stmt FROM ddl_log ORDER BY id DESC LIMIT 1")
    base = last[0][0] if last else 0
    if last and (last[0][1].startswith("DROP") or "TO content" in last[0][1]):
        base -= 1  # a migration was half done when this scenario started
    return lambda: ([r[0] for r in c.q("SELECT writer FROM ddl_log WHERE id > ? ORDER BY id", (base,))],
                    "DDL since the scenario started")


def sc_notes_roundtrip(c):
    c.on_error = ddl_since_start(c)
    for b in ("hello", "world"):
        c.db.execute("INSERT INTO notes (owner, body) VALUES (?, ?)", (c.me, b), ["notes"], fetch=False)
    c.after.append(lambda: c.db.execute("DELETE FROM notes WHERE owner = ?", (c.me,), ["notes"]))
    c.sleep(10, 40)
    rows = c.db.execute("SELECT id, body FROM notes WHERE owner = ?", (c.me,), ["notes"])
    c.check(len(rows) == 2, f"AssertionError: expected 2 notes, got {len(rows)}", c.on_error)


def sc_notes_migrate(c):
    c.on_error = ddl_since_start(c)
    if c.rnd.random() < 0.5:
        stmts = ["DROP TABLE notes", SCHEMA[3][1]]
    else:
        stmts = ["ALTER TABLE notes RENAME COLUMN body TO content", "ALTER TABLE notes RENAME COLUMN content TO body"]
    for i, s in enumerate(stmts):
        c.db.execute(s, (), ["notes"], fetch=False)
        c.tc.execute("INSERT INTO ddl_log (writer, stmt) VALUES (?, ?)", (c.me, s))
        if i == 0:
            c.sleep(10, 25)


# ---- transactions (ledger): committed purges, and dry runs that roll back
def sc_ledger_post(c):
    for _ in range(2):
        c.db.execute("INSERT INTO ledger (owner, amount) VALUES (?, ?)", (c.me, c.rnd.randint(10, 100)), ["ledger"],
                     fetch=False)
    c.after.append(lambda: c.db.execute("DELETE FROM ledger WHERE owner = ?", (c.me,), ["ledger"]))
    c.sleep(10, 40)
    rows = c.db.execute("SELECT id, amount FROM ledger WHERE owner = ?", (c.me,), ["ledger"])
    c.check(len(rows) == 2, f"AssertionError: expected 2 ledger entries, got {len(rows)}", c.wipers_of_mine("ledger"))


def sc_ledger_purge_rollback(c):
    c.db.begin()
    if c.rnd.random() < 0.5:
        c.db.execute("DELETE FROM ledger RETURNING id, owner", (), ["ledger"])
    else:
        c.db.execute("DELETE FROM ledger WHERE amount > ? RETURNING id, owner", (50,), ["ledger"])
    c.sleep(5, 15)  # "dry run": inspect, then roll back
    c.db.rollback()


def sc_ledger_purge_commit(c):
    c.db.begin()
    rows = c.db.execute("DELETE FROM ledger WHERE amount > ? RETURNING id, owner", (90,), ["ledger"])
    c.db.commit()
    c.log_truth("delete", "ledger", rows)


# ---- cleanups (orders): own-row cleanup vs an after-hook that empties the table
def sc_order_place(c):
    for it in ("pen", "ink"):
        c.db.execute("INSERT INTO orders (owner, item) VALUES (?, ?)", (c.me, it), ["orders"], fetch=False)
    c.after.append(lambda: c.db.execute("DELETE FROM orders WHERE owner = ?", (c.me,), ["orders"]))
    c.sleep(10, 40)
    rows = c.db.execute("SELECT id, item FROM orders WHERE owner = ?", (c.me,), ["orders"])
    c.check(len(rows) == 2, f"AssertionError: expected 2 orders, got {len(rows)}", c.wipers_of_mine("orders"))


def sc_order_report(c):
    c.db.execute("INSERT INTO orders (owner, item) VALUES (?, 'report')", (c.me,), ["orders"], fetch=False)
    c.db.execute("SELECT id, item FROM orders", (), ["orders"])

    def hook():
        c.log_truth("wipe", "orders", c.db.execute("DELETE FROM orders RETURNING id, owner", (), ["orders"]))
    c.after.append(hook)


# ---- per-scenario migration (deliveries): every scenario runs CREATE TABLE IF NOT EXISTS first
def sc_deliver(c):
    c.db.execute(DELIVERIES_DDL, (), ["deliveries"], fetch=False)
    for p in ("box", "tube"):
        c.db.execute("INSERT INTO deliveries (owner, parcel) VALUES (?, ?)", (c.me, p), ["deliveries"], fetch=False)
    c.after.append(lambda: c.db.execute("DELETE FROM deliveries WHERE owner = ?", (c.me,), ["deliveries"]))
    c.sleep(10, 40)
    rows = c.db.execute("SELECT id, parcel FROM deliveries WHERE owner = ?", (c.me,), ["deliveries"])
    c.check(len(rows) == 2, f"AssertionError: expected 2 deliveries, got {len(rows)}",
            c.wipers_of_mine("deliveries"))


def sc_purge_deliveries(c):
    c.db.execute(DELIVERIES_DDL, (), ["deliveries"], fetch=False)
    c.sleep(2, 8)

    def hook():
        c.log_truth("wipe", "deliveries",
                    c.db.execute("DELETE FROM deliveries RETURNING id, owner", (), ["deliveries"]))
    c.after.append(hook)


# ---- a genuine failure: an assertion on a constant, after an aggregate read
def sc_genuine(c):
    tbl = c.rnd.choice(["items", "orders", "ledger", "notes"])
    c.db.execute(f"SELECT COUNT(*) FROM {tbl}", (), [tbl])
    c.check(False, "AssertionError: expected api version 'v3', got 'v2'", lambda: ([], "genuine"))


KINDS = {  # kind: (feature, scenario title, function)
    "items_count_active": ("catalog", "count active items", sc_items_count_active),
    "items_archive_own": ("catalog", "archive my items", sc_items_archive_own),
    "items_archive_stale": ("catalog", "archive stale items job", sc_items_archive_stale),
    "items_archive_all": ("catalog", "archive everything", sc_items_archive_all),
    "items_browse": ("catalog", "browse active items", sc_items_browse),
    "buy_one": ("shop", "buy one widget", sc_buy_one),
    "restock": ("shop", "restock widgets", sc_restock),
    "check_stock": ("shop", "check widget stock", sc_check_stock),
    "set_pref": ("prefs", "save preference", sc_set_pref),
    "reset_prefs": ("prefs", "reset preferences", sc_reset_prefs),
    "notes_roundtrip": ("notes", "write and read notes", sc_notes_roundtrip),
    "notes_migrate": ("notes", "migrate notes table", sc_notes_migrate),
    "ledger_post": ("ledger", "post ledger entries", sc_ledger_post),
    "ledger_purge_rollback": ("ledger", "dry-run ledger purge", sc_ledger_purge_rollback),
    "ledger_purge_commit": ("ledger", "purge large ledger entries", sc_ledger_purge_commit),
    "order_place": ("orders", "place an order", sc_order_place),
    "order_report": ("orders", "orders report", sc_order_report),
    "deliver": ("delivery", "deliver a parcel", sc_deliver),
    "purge_deliveries": ("delivery", "purge deliveries", sc_purge_deliveries),
    "genuine": ("misc", "api version check", sc_genuine),
}

SHAPES = {  # shape: {kind: weight}
    "soft_delete": {"items_count_active": 10, "items_archive_own": 4, "items_archive_stale": 0.4,
                    "items_archive_all": 0.4, "items_browse": 2, "genuine": 0.3},
    "counter": {"buy_one": 10, "restock": 0.4, "check_stock": 2, "genuine": 0.3},
    "settings": {"set_pref": 10, "reset_prefs": 0.6, "genuine": 0.3},
    "ddl": {"notes_roundtrip": 10, "notes_migrate": 0.35, "genuine": 0.3},
    "tx": {"ledger_post": 10, "ledger_purge_rollback": 1.2, "ledger_purge_commit": 0.4, "genuine": 0.3},
    "cleanup": {"order_place": 10, "order_report": 0.6, "genuine": 0.3},
    "migrations": {"deliver": 10, "purge_deliveries": 0.5, "genuine": 0.3},
}
SHAPES["mixed"] = {k: v / 3 for n, s in SHAPES.items() if n != "migrations" for k, v in s.items()}


def corpus_name(shape):
    return "py-" + shape.replace("_", "-")


def append_truth(path, line):
    """One write(2) per line on an O_APPEND file: lines of several processes never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())
    finally:
        os.close(fd)


def connect(dbpath):
    conn = sqlite3.connect(dbpath, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def run_scenario(c, fn, conn):
    """Runs one scenario and its after-hooks; returns its failure message or None."""
    err = None
    try:
        fn(c)
    except Fail as e:
        err = str(e)
    except sqlite3.Error as e:
        err = f"sqlite3.{type(e).__name__}: {e}"
        if conn.in_transaction:
            c.db.rollback()
    for hook in c.after:
        try:
            hook()
        except sqlite3.Error as e:
            err = err or f"after-hook: sqlite3.{type(e).__name__}: {e}"
    if err and c.truth is None:
        if c.on_error:
            c.find_truth(c.on_error)
        else:
            c.truth = ([], "no truth for this error")
    return err


def worker(a):
    rnd = random.Random(a.seed * 1000 + a.worker)
    ident = "sqlite:" + os.path.realpath(a.db)
    trace = StateTrace(f"worker-{a.worker}", a.run_id, a.traces, config={"DATABASE_URL": ident})
    conn, tconn = connect(a.db), connect(a.db)
    db = TracedDb(conn, trace, ident)
    weights = SHAPES[a.shape]
    kinds, ws = list(weights), list(weights.values())
    while time.time() < a.start:  # all workers begin together
        time.sleep(0.001)
    for i in range(a.per_worker):
        kind = rnd.choices(kinds, ws)[0]
        feature, title, fn = KINDS[kind]
        who = {"pid": os.getpid(), "feature": feature, "scenario": f"{title} #{a.worker}.{i}"}
        trace.scenario_start(feature, who["scenario"])
        c = Ctx(db, tconn, who, rnd)
        err = run_scenario(c, fn, conn)
        trace.scenario_end(err)
        if err:
            culprits, why = c.truth
            line = {"ev": "failed", "who": who}
            if why == "genuine":
                line.update(genuine=True, why=err)
            else:
                # Seed rows ("seed") were written by no scenario.
                line.update(culprits=[json.loads(t) for t in culprits if t.startswith("{")], why=why)
            append_truth(a.truth, line)
        time.sleep(rnd.uniform(0, 5) / 1000)
    trace.close()


def setup(dbpath, run_id, traces):
    """The schema and seed rows, traced outside any scenario (a fixture), and the untraced truth tables."""
    ident = "sqlite:" + os.path.realpath(dbpath)
    conn = sqlite3.connect(dbpath, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    trace = StateTrace("setup", run_id, traces, config={"DATABASE_URL": ident})
    db = TracedDb(conn, trace, ident)
    for tbl, ddl in SCHEMA:
        db.execute(ddl, (), [tbl], fetch=False)
    for s in TRUTH_SCHEMA:
        conn.execute(s)
    db.execute("INSERT INTO products (id, name, stock, last_writer) VALUES (1, 'widget', 1000, 'seed')", (),
               ["products"], fetch=False)
    for k in PREF_KEYS:
        db.execute("INSERT INTO settings (key, value, writer) VALUES (?, 'default', 'seed')", (k,), ["settings"],
                   fetch=False)
    trace.close()
    conn.close()


def run(a):
    out = os.path.abspath(a.out)
    traces, truth, dbpath = (os.path.join(out, n) for n in ("traces", "truth.jsonl", "app.db"))
    if os.path.exists(out) and os.listdir(out):
        sys.exit(f"suite.py: {out} is not empty")
    os.makedirs(traces)
    open(truth, "w").close()
    run_id = f"py-{a.shape}-{a.seed}-{int(time.time() * 1000)}"
    setup(dbpath, run_id, traces)
    start = time.time() + 1.0  # time for every worker to start
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "worker", "--shape", a.shape,
                               "--worker", str(w), "--per-worker", str(a.per_worker), "--seed", str(a.seed),
                               "--db", dbpath, "--traces", traces, "--truth", truth, "--run-id", run_id,
                               "--start", repr(start)])
             for w in range(a.workers)]
    codes = [p.wait() for p in procs]
    if any(codes):
        sys.exit(f"suite.py: a worker failed: exit codes {codes}")
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump({"shape": corpus_name(a.shape), "db": "sqlite"}, f)
        f.write("\n")
    with open(os.path.join(out, "run_id"), "w") as f:
        f.write(run_id + "\n")
    with open(truth) as f:
        failed = sum(1 for _ in f)
    print(f"{out}: {a.workers * a.per_worker} scenarios, {failed} failed")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="one run into an empty folder")
    r.add_argument("--shape", required=True, choices=list(SHAPES))
    r.add_argument("--out", required=True)
    r.add_argument("--workers", type=int, default=6)
    r.add_argument("--per-worker", type=int, default=40)
    r.add_argument("--seed", type=int, default=1)
    w = sub.add_parser("worker", help="one worker process (started by run)")
    w.add_argument("--shape", required=True, choices=list(SHAPES))
    w.add_argument("--worker", type=int, required=True)
    w.add_argument("--per-worker", type=int, required=True)
    w.add_argument("--seed", type=int, required=True)
    for name in ("--db", "--traces", "--truth", "--run-id"):
        w.add_argument(name, required=True)
    w.add_argument("--start", type=float, required=True)
    a = ap.parse_args()
    run(a) if a.cmd == "run" else worker(a)


if __name__ == "__main__":
    main()
