#!/usr/bin/env python3
"""Schemathesis against the API's own OpenAPI document, with every check.

Starts Rollcall (SCHEMATHESIS_BIN, default the debug build) on an empty SQLite database,
registers its owner, then runs `st run` on /openapi.json as the owner (owner.py signs in
through the API, hooks.py and again whenever a generated request signs that token out):
generated and mutated requests for every operation, each answer checked for server errors,
conformance to the documented statuses, content types, headers and schemas, and that invalid
input is refused; schemathesis.toml says which answers are expected where. Needs schemathesis (`pip install schemathesis`; `.ci/run` installs it in a
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(HERE))
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
            app.register()
            os.environ.update({
                "ROLLCALL_ST_BASE": app.base,
                "ROLLCALL_ST_EMAIL": "bench.admin@example.com",
                "ROLLCALL_ST_PASSWORD": bench.PASSWORD,
            })
            from owner import owner_token  # reads the variables above
            me = urllib.request.Request(f"{app.base}/auth/me",
                                        headers={"Authorization": f"Bearer {owner_token()}"})
            with urllib.request.urlopen(me, timeout=10) as r:
                os.environ["ROLLCALL_ST_PROJECT"] = json.loads(r.read())["project"]["id"]
            os.environ["SCHEMATHESIS_HOOKS"] = "hooks"
            os.environ["PYTHONPATH"] = str(HERE)
            command = [
                ST, "--config-file", str(HERE / "schemathesis.toml"),
                "run", f"{app.base}/openapi.json",
                "--checks", "all",
                "--max-examples", EXAMPLES,
                "--generation-allow-x00", "true",
                "--seed", os.environ.get("SCHEMATHESIS_SEED", "20261207"),
                *sys.argv[1:],
            ]
            bench.log("running", " ".join(command))
            result = subprocess.run(command)
        finally:
            app.stop()
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
