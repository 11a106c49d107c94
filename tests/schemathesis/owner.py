"""Signs in as the project's owner through Rollcall's own API (`/auth/login`, then
`/oauth2/token` with PKCE), for run.py and hooks.py. Reads ROLLCALL_ST_BASE, _EMAIL and
_PASSWORD.
"""
import base64
import hashlib
import json
import os
import secrets
import urllib.request

BASE = os.environ["ROLLCALL_ST_BASE"]


def post(path, body, form=False):
    if form:
        data = "&".join(f"{k}={v}" for k, v in body.items()).encode()
        kind = "application/x-www-form-urlencoded"
    else:
        data = json.dumps(body).encode()
        kind = "application/json"
    request = urllib.request.Request(BASE + path, data, {"Content-Type": kind})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def owner_token():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    login = post("/auth/login", {
        "email": os.environ["ROLLCALL_ST_EMAIL"],
        "password": os.environ["ROLLCALL_ST_PASSWORD"],
        "codeChallenge": challenge,
        "codeChallengeMethod": "S256",
    })
    tokens = post("/oauth2/token", {
        "grant_type": "authorization_code", "code": login["code"], "code_verifier": verifier,
    }, form=True)
    return tokens["access_token"]
