"""An SMTP server for the benchmark: accepts every message and counts the invitations in a file."""
import asyncio
import sys
from pathlib import Path

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self, path):
        self.path, self.count = Path(path), 0
        self.path.write_text("0")

    async def handle_DATA(self, server, session, envelope):
        # Only the benchmark's invitations count (not the welcome email of its sign-up).
        if any(to.startswith("bench-") for to in envelope.rcpt_tos):
            self.count += 1
            self.path.write_text(str(self.count))
        return "250 OK"


async def main(port, path):
    controller = Controller(Counter(path), hostname="127.0.0.1", port=int(port))
    controller.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
