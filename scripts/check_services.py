"""Fail clearly, with the command that fixes it, when a test dependency is missing."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from urllib.parse import urlparse


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=3):
            return True
    except OSError:
        return False


def main() -> int:
    database_url, redis_url = sys.argv[1], sys.argv[2]
    problems = []
    if not reachable(database_url, 5432):
        problems.append(
            f"PostgreSQL is not reachable at {database_url}.\n"
            "  Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    if not reachable(redis_url, 6379):
        problems.append(
            f"Redis is not reachable at {redis_url}.\n"
            '  Start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
        )
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not (os.path.exists(chromium) or shutil.which("chromium")):
        problems.append(f"Chromium is not installed at {chromium}.\n  Install it: apt-get update && apt-get install -y chromium")
    if problems:
        print("make test cannot run:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
