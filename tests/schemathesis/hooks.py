"""Schemathesis hooks for run.py: every request is sent as the project's owner. A generated
request may sign that token out (`/oauth2/logout`, `/auth/revoke`): schemathesis then gets a
401, drops the token and asks for a new one here.
"""
import schemathesis

from owner import owner_token


@schemathesis.auth()
class OwnerToken:
    def get(self, case, context):
        return owner_token()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
