#!/usr/bin/env python3
"""Schemathesis against the API's own OpenAPI document, with every check.

Starts Rollcall (SCHEMATHESIS_BIN, default the debug build) on an empty SQLite database,
makes a project and an admin client, then runs `st run` on /openapi.json as that client:
generated and mutated requests for every operation, each answer checked for server errors,
conformance to the documented statuses, content types, headers and schemas, and that invalid
input is refused. Needs schemathesis (`pip install schemathesis`; `.ci/run` installs it in a
venv). Exits with schemathesis's status.

    python3 tests/schemathesis/run.py [extra st arguments]
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import bench  # noqa: E402  (its browser and server helpers)

BIN = Path(os.environ.get("SCHEMATHESIS_BIN", str(ROOT / "target" / "debug" / "rollcall")))
ST = os.environ.get("SCHEMATHESIS", "st")
PORT = int(os.environ.get("SCHEMATHESIS_PORT", "18490"))
EXAMPLES = os.environ.get("SCHEMATHESIS_EXAMPLES", "25")


def main():
    bench.BIN = BIN.resolve()
    with tempfile.TemporaryDirectory(prefix="rollcall-schemathesis-") as work:
        app = bench.Rollcall("sqlite", PORT, Path(work))
        app.smtp_port = 9  # no mail server: invitation emails wait in the outbox
        app.start()
        try:
            admin = app.register()
            _, page = admin.get("/admin/clients/new")
            status, _, headers = admin.post("/admin/clients/new", {
                "csrf_token": bench.csrf_in(page), "name": "Schemathesis", "admin": "on",
            })
            assert status == 303, f"client creation answered {status}"
            client_id = headers["Location"].rsplit("/", 1)[1]
            _, page = admin.get(headers["Location"])
            secret = bench.html.unescape(
                page.split('id="client-secret"')[1].split('value="')[1].split('"')[0])
            data = urllib.parse.urlencode({"grant_type": "client_credentials",
                                           "client_id": client_id,
                                           "client_secret": secret}).encode()
            with urllib.request.urlopen(f"{app.base}/oauth2/token", data, timeout=10) as r:
                token = json.loads(r.read())["access_token"]
            command = [
                ST, "run", f"{app.base}/openapi.json",
                "--checks", "all",
                "--header", f"Authorization: Bearer {token}",
                "--max-examples", EXAMPLES,
                "--generation-allow-x00", "true",
                "--seed", os.environ.get("SCHEMATHESIS_SEED", "20261207"),
                *sys.argv[1:],
            ]
            bench.log("running", " ".join(c if "Bearer" not in c else "Authorization: Bearer …" for c in command))
            result = subprocess.run(command)
        finally:
            app.stop()
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
