"""A throwaway PostgreSQL cluster for the tests: the distribution's server binaries, run as
an unprivileged user, listening only on a Unix socket in a temporary directory.

``PgCluster.start()`` runs ``initdb`` and ``pg_ctl start``; ``database()`` creates a fresh
database and returns its URL; ``stop()`` stops the postmaster this cluster started (by the
pid in its ``postmaster.pid``) and removes the directory. Durability is switched off
(``fsync=off``): the cluster lives for one test session.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

#: the unprivileged account the server runs as when the tests run as root
_ACCOUNTS = ("postgres", "nobody")
_SERIAL = itertools.count(1)


class PgUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (or they would not start)."""


def server_bindir() -> Path:
    """The directory of ``initdb``/``pg_ctl``: ``pg_config --bindir``-style lookup over
    PATH and Debian's ``/usr/lib/postgresql/<version>/bin`` (newest first)."""
    candidates = [Path(p).parent for p in filter(None, [shutil.which("pg_ctl")])]
    candidates += [
        Path(p)
        for p in sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
            reverse=True,
        )
    ]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory.resolve()
    raise PgUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl): install them with "
        "'apt-get install postgresql' to run the PostgreSQL half of the store's contract"
    )


class PgCluster:
    def __init__(self) -> None:
        self.bindir = server_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="lwpg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.account = _account()
        self.pid: int | None = None
        self._migrated: str | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> PgCluster:
        if self.account is not None:
            os.chown(self.root, self.account.pw_uid, self.account.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", "linkwatch", "--auth=trust",
            "--no-locale", "--encoding=UTF8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
            "-t", "60", "-o", options, "start",
        )  # fmt: skip
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        return self

    def stop(self) -> None:
        if self.pid is not None:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except (PgUnavailable, subprocess.SubprocessError):
                _kill(self.pid)  # only the postmaster this cluster started
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases ---------------------------------------------------------------------
    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://linkwatch@/{dbname}?host={self.socket_dir}"

    def database(self, prefix: str = "t") -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"{prefix}{os.getpid()}_{next(_SERIAL)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def migrated_database(self) -> str:
        """A database with every schema step applied and no rows, as a new one would be
        after its first ``open_store``: one per test process, emptied for each test
        (``TRUNCATE ... RESTART IDENTITY``, ids start at 1 again) in ~20 ms instead of
        the 150-300 ms a new database and its migrations take."""
        import psycopg

        from linkwatch.store import open_store

        if self._migrated is None:
            url = self.database("m")
            open_store(url).close()
            self._migrated = url
        name = self._migrated.split("@/", 1)[1].split("?", 1)[0]
        try:
            with psycopg.connect(self.url(), autocommit=True) as admin:
                # what an earlier test left connected (a process it killed) goes first
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [name],
                )
            with psycopg.connect(self._migrated, autocommit=True) as conn:
                conn.execute("SET lock_timeout = '5s'")
                tables = [
                    str(row[0])
                    for row in conn.execute(
                        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                        "AND tablename <> 'linkwatch_migrations'"
                    )
                ]
                listed = ", ".join(f'"{t}"' for t in tables)
                conn.execute(f"TRUNCATE {listed} RESTART IDENTITY CASCADE")
        except psycopg.Error:  # cannot be emptied: a new one, migrated
            self._migrated = None
            return self.migrated_database()
        return self._migrated

    def _run(self, program: str, *args: str) -> None:
        kwargs: dict[str, object] = {}
        if self.account is not None:
            kwargs = {"user": self.account.pw_uid, "group": self.account.pw_gid,
                      "extra_groups": []}  # fmt: skip
        try:
            subprocess.run(
                [str(self.bindir / program), *args],
                check=True,
                capture_output=True,
                timeout=90,
                cwd=self.root,
                **kwargs,  # type: ignore[call-overload]
            )
        except subprocess.CalledProcessError as exc:
            raise PgUnavailable(
                f"{program} failed ({exc.returncode}): "
                f"{exc.stderr.decode(errors='replace').strip()[-500:]}"
            ) from None


def _account() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: pick an unprivileged account when we are root."""
    if os.geteuid() != 0:
        return None
    for name in _ACCOUNTS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PgUnavailable("running as root and no unprivileged account (postgres, nobody)")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGQUIT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
