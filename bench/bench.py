#!/usr/bin/env python3
"""Rollcall's Users tab at 100,000 members, beside Django's admin on the same people.

Run through `bench/run.sh`, which installs what this needs. Every server runs on this
machine's loopback; every load is bounded by wrk's fixed duration. Writes bench/results.md.
"""
import base64
import html
import http.cookiejar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = ROOT / "target" / "release" / "rollcall"
MEMBERS = int(os.environ.get("BENCH_MEMBERS", "100000"))
DURATION = os.environ.get("BENCH_DURATION", "10s")
WARMUP = "3s"
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
VENV = Path(os.environ.get("BENCH_VENV", BENCH / ".venv")).resolve()
PASSWORD = "a long benchmark passphrase 42"
NARROW = "aiko okafor"  # one first name with one last name: about 1 in 2,000 people
COMMON = "emma"  # one first name: about 1 in 50 people


def log(*parts):
    print("[bench]", *parts, file=sys.stderr, flush=True)


class Browser:
    """Cookies, CSRF tokens and form posts, like a person's browser."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )

    def get(self, path, headers=None):
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def post(self, path, fields, headers=None):
        data = urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as r:
                return r.status, r.read().decode(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), e.headers

    def cookie_header(self):
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), "")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def csrf_in(page, name="csrf_token"):
    found = re.search(rf'name="{name}"[^>]*value="([^"]+)"', page) or re.search(
        rf'value="([^"]+)"[^>]*name="{name}"', page
    )
    if not found:
        raise SystemExit(f"no {name} on the page")
    return html.unescape(found.group(1))


def wait_until_up(url, seconds=60):
    """Milliseconds until `url` answers 200."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return (time.monotonic() - start) * 1000
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.002)
    raise SystemExit(f"{url} did not come up")


def wrk(url, connections, lua="get.lua", env=None, duration=DURATION, threads=2):
    """One fixed-duration run: requests per second, p50 and p99 in milliseconds, failures."""
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--timeout", "10s",
        "-s", str(BENCH / "wrk" / lua), url,
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True
    ).stdout
    line = next(l for l in out.splitlines() if l.startswith("JSON "))
    result = json.loads(line[5:])
    seconds = result["duration_us"] / 1e6
    return {
        "rps": result["requests"] / seconds,
        "p50": result["p50"] / 1000,
        "p99": result["p99"] / 1000,
        "failed": result["errors"] + result["non2xx"],
        "requests": result["requests"],
    }


def measure(name, url, connections, env, lua="get.lua"):
    wrk(url, connections, lua, env, duration=WARMUP)
    result = wrk(url, connections, lua, env)
    log(f"{name}: {result['rps']:.0f} req/s, p50 {result['p50']:.1f} ms, "
        f"p99 {result['p99']:.1f} ms, failed {result['failed']}")
    return result


def peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Rollcall:
    """One Rollcall on one database, started and stopped as the run needs."""

    def __init__(self, backend, port, work):
        self.backend, self.port, self.work = backend, port, work
        self.base = f"http://127.0.0.1:{port}"
        self.data = work / f"rollcall-{backend}"
        self.process = None
        self.mail_count = work / f"mail-{backend}.count"
        if backend == "postgres":
            self.database = f"rollcall_bench_{os.getpid()}"
            psql(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            psql(PG_ADMIN_URL, f'CREATE DATABASE "{self.database}"')
            self.url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.database
        else:
            self.url = str(self.data / "rollcall.sqlite3")

    def env(self, log_filter="warn"):
        return {
            **os.environ,
            "ROLLCALL_DATABASE_URL": self.url,
            "ROLLCALL_DATA_DIR": str(self.data),
            "ROLLCALL_BIND": f"127.0.0.1:{self.port}",
            "ROLLCALL_SMTP_URL": f"smtp://127.0.0.1:{self.smtp_port}",
            "ROLLCALL_INVITES_PER_HOUR": "10000000",
            "ROLLCALL_SIGNIN_FAILURES_PER_IP": "10000000",
            "RUST_LOG": log_filter,
        }

    def start(self, log_filter="warn"):
        self.log_file = open(self.work / f"{self.backend}.log", "a")
        started = time.monotonic()
        self.process = subprocess.Popen(
            [str(BIN), "serve"], env=self.env(log_filter), stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        wait_until_up(self.base + "/signin")
        return (time.monotonic() - started) * 1000

    def stop(self):
        if self.process:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None
            self.log_file.close()

    def cli(self, *args):
        return subprocess.run([str(BIN), *args], env=self.env(), check=True, capture_output=True)

    def register(self):
        browser = Browser(self.base)
        _, page = browser.get("/register")
        status, _, _ = browser.post("/register", {
            "csrf_token": csrf_in(page), "firstName": "Bench", "lastName": "Admin",
            "email": "bench.admin@example.com", "password": PASSWORD,
        })
        assert status == 303, f"register answered {status}"
        _, page = browser.get("/register/project")
        status, _, _ = browser.post("/register/project", {
            "csrf_token": csrf_in(page), "projectName": "Bench Clinic",
        })
        assert status == 303, f"project answered {status}"
        self.browser = browser
        return browser

    def statements_per_users_page(self):
        """SQL statements one Users-tab request sends, from the server's debug log."""
        self.start("warn,rollcall::services=debug")
        self.browser.get("/admin/users")  # the first request opens connections
        time.sleep(0.3)
        mark = (self.work / f"{self.backend}.log").stat().st_size
        self.browser.get("/admin/users")
        time.sleep(0.3)
        self.stop()
        with open(self.work / f"{self.backend}.log") as f:
            f.seek(mark)
            plain = (re.sub(r"\x1b\[[0-9;]*m", "", l) for l in f)
            # The outbox worker polls on its own; its work is no request's.
            lines = [l for l in plain if "database work" in l and "outbox" not in l]
        return sum(int(m.group(1)) for l in lines if (m := re.search(r"statements=(\d+)", l)))

    def admin_token(self):
        browser = self.browser
        _, page = browser.get("/admin/clients/new")
        status, _, headers = browser.post("/admin/clients/new", {
            "csrf_token": csrf_in(page), "name": "Bench", "admin": "on",
        })
        assert status == 303, f"client creation answered {status}"
        client_page = headers["Location"]
        _, page = browser.get(client_page)
        secret = re.search(r'id="client-secret"[^>]*value="([^"]+)"', page)
        assert secret, "the new client's page shows its secret once"
        data = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": client_page.rsplit("/", 1)[1],
            "client_secret": html.unescape(secret.group(1)),
        }).encode()
        with urllib.request.urlopen(self.base + "/oauth2/token", data, timeout=10) as r:
            answer = json.loads(r.read())
        return answer["access_token"], answer["project"]["reference"].split("/")[1]

    def deep_cursor(self, row):
        """The opaque cursor of the page that starts at `row` (by name, the default order)."""
        query = (
            "SELECT m.sort_first, m.id FROM memberships m JOIN projects p ON p.id = m.project_id "
            "WHERE p.name = 'Bench Clinic' AND m.profile_type IN ('Practitioner', 'RelatedPerson') "
            f"ORDER BY m.sort_first, m.id LIMIT 1 OFFSET {row - 1}"
        )
        if self.backend == "sqlite":
            import sqlite3

            sort_first, member_id = sqlite3.connect(self.url).execute(query).fetchone()
        else:
            sort_first, member_id = psql(self.url, query).split("|")
        cursor = {"o": row, "k": {"t": [sort_first], "i": member_id}}
        raw = json.dumps(cursor, separators=(",", ":"), ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def count(self, query):
        if self.backend == "sqlite":
            import sqlite3

            return sqlite3.connect(self.url).execute(query).fetchone()[0]
        return int(psql(self.url, query))

    def drop(self):
        if self.backend == "postgres":
            psql(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def psql(url, sql):
    return subprocess.run(
        ["psql", url, "-Atqc", sql], check=True, capture_output=True, text=True
    ).stdout.strip()


def smtp_sink(port, count_file):
    """An SMTP server that counts the messages it is given (aiosmtpd, from the venv)."""
    return subprocess.Popen([str(VENV / "bin" / "python"), str(BENCH / "smtp_sink.py"),
                             str(port), str(count_file)])


def delivered(count_file):
    try:
        return int(Path(count_file).read_text().strip() or 0)
    except FileNotFoundError:
        return 0


def run_rollcall(backend, port, work):
    log(f"Rollcall on {backend}")
    app = Rollcall(backend, port, work)
    app.smtp_port = port + 1000
    sink = smtp_sink(app.smtp_port, app.mail_count)
    results = {}
    try:
        results["cold_start_ms"] = app.start("warn,rollcall::services=debug")
        app.register()
        app.stop()
        started = time.monotonic()
        app.cli("seed", "--project", "Bench Clinic", "--members", "49")
        results["statements_50"] = app.statements_per_users_page()
        app.cli("seed", "--project", "Bench Clinic", "--members", str(MEMBERS - 50))
        results["seed_seconds"] = time.monotonic() - started
        log(f"seeded {MEMBERS} in {results['seed_seconds']:.1f} s")
        results["statements_full"] = app.statements_per_users_page()
        app.start()
        env = {"BENCH_COOKIE": app.browser.cookie_header()}
        base = app.base
        results["first"] = measure("first page", base + "/admin/users", 32, env)
        deep = base + "/admin/users?after=" + app.deep_cursor(MEMBERS // 2)
        results["deep"] = measure("deep page", deep, 32, env)
        q = urllib.parse.quote(NARROW)
        results["narrow"] = measure("search narrow", f"{base}/admin/users?q={q}", 4, env)
        results["common"] = measure("search common", f"{base}/admin/users?q={COMMON}", 4, env)
        member_id = re.search(r'href="/admin/members/([0-9a-f-]+)"', app.browser.get("/admin/users")[1])
        results["member"] = measure("member page", f"{base}/admin/members/{member_id.group(1)}", 32, env)
        results["storm"] = sign_in_storm(app, env)
        token, project = app.admin_token()
        before = delivered(app.mail_count)
        invite_env = {"BENCH_TOKEN": token, "BENCH_RUN": backend}
        results["invite"] = wrk(f"{base}/admin/projects/{project}/invite", 32, "invite.lua", invite_env)
        log(f"invite API: {results['invite']['rps']:.0f} req/s")
        # Requests in flight when wrk stops still finish on the server, and the outbox sends
        # one message at a time: wait until nothing is queued, then count both sides.
        for _ in range(900):
            time.sleep(1)
            if app.count("SELECT count(*) FROM outbox WHERE status = 'queued'") == 0:
                break
        time.sleep(2)
        invited = app.count("SELECT count(*) FROM memberships WHERE email LIKE 'bench-%'")
        results["invite"]["delivered"] = delivered(app.mail_count) - before
        results["invite"]["invited"] = invited
        results["peak_rss_mb"] = peak_rss_mb(app.process.pid)
    finally:
        app.stop()
        sink.terminate()
        app.drop()
    return results


def sign_in_storm(app, env):
    """The first page while 32 connections keep signing in with wrong passwords."""
    browser = Browser(app.base)
    _, page = browser.get("/signin")
    storm_env = {"BENCH_COOKIE": browser.cookie_header(), "BENCH_CSRF": csrf_in(page)}
    storm = subprocess.Popen(
        ["wrk", "-t1", "-c32", "-d14s", "--timeout", "10s", "-s", str(BENCH / "wrk" / "signin.lua"),
         app.base + "/signin"],
        env={**os.environ, **storm_env}, stdout=subprocess.PIPE, text=True,
    )
    time.sleep(2)
    result = wrk(app.base + "/admin/users", 32, "get.lua", env)
    out, _ = storm.communicate(timeout=60)
    line = next(l for l in out.splitlines() if l.startswith("JSON "))
    storm_summary = json.loads(line[5:])
    result["signins"] = storm_summary["requests"]
    result["signin_refused"] = storm_summary["non2xx"]
    log(f"first page during sign-in storm: p99 {result['p99']:.1f} ms "
        f"({result['signins']} sign-in attempts, {result['signin_refused']} told to retry)")
    return result


def run_django(port, work):
    log("Django admin")
    python = VENV / "bin" / "python"
    db = work / "peer.sqlite3"
    env = {**os.environ, "PEER_DB": str(db), "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    cwd = BENCH / "django"
    manage = lambda *args: subprocess.run([str(python), "manage.py", *args], cwd=cwd, env=env,  # noqa: E731
                                          check=True, capture_output=True)
    manage("migrate", "--noinput")
    manage("createsuperuser", "--noinput", "--username", "bench", "--email", "bench@example.com")
    started = time.monotonic()
    manage("seed_members", str(MEMBERS))
    log(f"Django seeded {MEMBERS} in {time.monotonic() - started:.1f} s")
    workers = str(os.cpu_count() or 2)
    server = subprocess.Popen(
        [str(VENV / "bin" / "gunicorn"), "-w", workers, "-b", f"127.0.0.1:{port}", "--log-level",
         "warning", "peer.wsgi"], cwd=cwd, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    results = {}
    try:
        wait_until_up(base + "/admin/login/")
        browser = Browser(base)
        _, page = browser.get("/admin/login/")
        status, _, _ = browser.post("/admin/login/?next=/admin/", {
            "csrfmiddlewaretoken": csrf_in(page, "csrfmiddlewaretoken"),
            "username": "bench", "password": PASSWORD, "next": "/admin/",
        }, headers={"Referer": base + "/admin/login/"})
        assert status == 302, f"Django login answered {status}"
        cookie = {"BENCH_COOKIE": browser.cookie_header()}
        changelist = base + "/admin/members/member/"
        results["first"] = measure("Django first page", changelist, 32, cookie)
        results["deep"] = measure("Django deep page", changelist + f"?p={MEMBERS // 100}", 32, cookie)
        q = urllib.parse.quote(NARROW)
        results["narrow"] = measure("Django search narrow", f"{changelist}?q={q}", 4, cookie)
        results["common"] = measure("Django search common", f"{changelist}?q={COMMON}", 4, cookie)
        results["member"] = measure("Django member page", changelist + "1/change/", 32, cookie)
    finally:
        server.terminate()
        server.wait(timeout=20)
    return results


def row(name, django, sqlite, postgres, key):
    def cell(r):
        if not r:
            return "-"
        return f"{r['rps']:.0f} req/s, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms"

    ratio = "-"
    if django and sqlite and django.get("rps"):
        ratio = f"{sqlite['rps'] / django['rps']:.1f}×"
    return f"| {name} | {cell(django)} | {cell(sqlite)} | {cell(postgres)} | {ratio} |"


def write_results(django, sqlite, postgres):
    cores = os.cpu_count()
    lines = [
        "# Benchmark results",
        "",
        f"Run on {time.strftime('%Y-%m-%d %H:%M %Z')}, {cores} cores, {MEMBERS:,} members, "
        f"wrk -t2 for {DURATION} per case after a {WARMUP} warm-up, on loopback. Rollcall release "
        f"build; Django {django_version()} admin with gunicorn ({cores} workers) on SQLite. "
        "Produced by `bench/run.sh`; the numbers below are this run's, not edited.",
        "",
        "| case | Django admin | Rollcall SQLite | Rollcall PostgreSQL | Rollcall SQLite / Django |",
        "| --- | --- | --- | --- | --- |",
        row("Users tab, first page (c=32)", django["first"], sqlite["first"], postgres["first"], "first"),
        row(f"deep page, row {MEMBERS // 2:,} (c=32)", django["deep"], sqlite["deep"], postgres["deep"], "deep"),
        row(f"search \"{NARROW}\" (c=4)", django["narrow"], sqlite["narrow"], postgres["narrow"], "narrow"),
        row(f"search \"{COMMON}\" (c=4)", django["common"], sqlite["common"], postgres["common"], "common"),
        row("member page (c=32)", django["member"], sqlite["member"], postgres["member"], "member"),
        row("first page during 32 sign-ins (c=32)", None, sqlite["storm"], postgres["storm"], "storm"),
        row("invite API (c=32)", None, sqlite["invite"], postgres["invite"], "invite"),
        "",
        "| Rollcall | SQLite | PostgreSQL |",
        "| --- | --- | --- |",
        f"| peak RSS of the server, whole run | {sqlite['peak_rss_mb']:.0f} MB | {postgres['peak_rss_mb']:.0f} MB |",
        f"| cold start to first response, empty database | {sqlite['cold_start_ms']:.0f} ms | {postgres['cold_start_ms']:.0f} ms |",
        f"| SQL statements per Users-tab request, 50 members | {sqlite['statements_50']} | {postgres['statements_50']} |",
        f"| SQL statements per Users-tab request, {MEMBERS:,} members | {sqlite['statements_full']} | {postgres['statements_full']} |",
        f"| seeding {MEMBERS:,} members | {sqlite['seed_seconds']:.1f} s | {postgres['seed_seconds']:.1f} s |",
        f"| invitations made / emails delivered | {sqlite['invite']['invited']} / {sqlite['invite']['delivered']} | {postgres['invite']['invited']} / {postgres['invite']['delivered']} |",
        f"| sign-in attempts in the storm / told to retry (503) | {sqlite['storm']['signins']} / {sqlite['storm']['signin_refused']} | {postgres['storm']['signins']} / {postgres['storm']['signin_refused']} |",
        "",
        "Ratios within this run are what to compare: the machine is shared, so absolute",
        "numbers move between runs. The storm's refused attempts are answered 503 with",
        "`Retry-After` by the bounded hashing queue, by design.",
        "",
    ]
    notes = BENCH / "notes.md"
    if notes.exists():
        lines += [notes.read_text()]
    (BENCH / "results.md").write_text("\n".join(lines))
    log("wrote bench/results.md")


def django_version():
    python = VENV / "bin" / "python"
    return subprocess.run([str(python), "-c", "import django; print(django.get_version())"],
                          capture_output=True, text=True).stdout.strip()


def main():
    work = Path(tempfile.mkdtemp(prefix="rollcall-bench-"))
    try:
        django = run_django(18080, work)
        sqlite = run_rollcall("sqlite", 18081, work)
        postgres = run_rollcall("postgres", 18082, work)
        (work / "raw.json").write_text(json.dumps({"django": django, "sqlite": sqlite, "postgres": postgres}))
        shutil.copy(work / "raw.json", BENCH / "results.json")
        write_results(django, sqlite, postgres)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
