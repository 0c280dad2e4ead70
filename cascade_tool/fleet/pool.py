"""The worker pool `fleet apply` upgrades its targets with: one preloaded process, one fork per target.

A fresh interpreter per target spends most of its time importing Alembic, SQLAlchemy and
psycopg. Instead, `fleet apply` starts one worker process (`python -m cascade_tool.fleet.pool`)
that imports them once, reads the project's script directory once (its revision modules
imported, as one `alembic` command does), and then forks a child per target. Each child runs
`alembic upgrade head` on its target (cascade_tool.fleet.upgrade: the user's env.py runs afresh in
each child, and the revisions' upgrade() on the child's own connection), reports a result and
exits. So:

- targets do not share state: each child starts from the same freshly imported process, and
  whatever env.py or a revision sets up (logging, module globals, engines) dies with the child;
- a target that kills its process (os._exit, a segfault, the OOM killer) is reported `failed`
  with how its process ended; the worker and the other targets go on;
- if the worker itself dies, its running children are killed with it (Linux), the targets they
  were upgrading are reported `failed`, and the next target starts a new worker.

The worker runs in a session of its own (a Ctrl-C on the terminal reaches only `fleet apply`,
which lets running targets finish). It reads requests as JSON lines on stdin and answers with
JSON lines on stdout; each child's stdout and stderr go through a pipe to the worker, which
writes them, passwords scrubbed, to the target's log file. Closing the worker's stdin lets the
running children finish, then it exits.
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import IO, Any

# Imported once by the worker, before it forks: what every `alembic upgrade head` imports.
PRELOAD = (
    "logging.config",
    "psycopg",
    "sqlalchemy",
    "sqlalchemy.dialects.postgresql",
    "sqlalchemy.dialects.postgresql.psycopg",
    "alembic",
    "alembic.command",
    "alembic.config",
    "alembic.script",
    "alembic.runtime.environment",
    "alembic.runtime.migration",
    "alembic.ddl.postgresql",
    "alembic.operations",
    "cascade_tool.fleet.upgrade",
)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# --------------------------------------------------------------------------- the worker process


@dataclass
class _Child:
    """A forked child upgrading one target, as the worker tracks it."""

    request: dict[str, Any]
    pid: int
    out: int  # read end of the child's stdout+stderr pipe
    result: int  # read end of the child's result pipe
    pidfd: int | None
    log: IO[str]
    started: float
    partial: str = ""
    last: str = ""
    chunks: list[bytes] = field(default_factory=list)

    def feed(self, data: bytes, final: bool = False) -> None:
        """Write the complete lines of `data` to the log, passwords scrubbed."""
        text = self.partial + data.decode("utf-8", "replace")
        lines = text.split("\n")
        self.partial = "" if final else lines.pop()
        secrets = self.request.get("secrets", [])
        for line in lines if not final else [x for x in lines if x]:
            clean = _scrub(line, secrets)
            if clean.strip():
                self.last = clean.strip()
            self.log.write(clean + "\n")
        self.log.flush()


def _read_all(fd: int) -> bytes:
    """Whatever is left in a pipe whose writer has exited (non-blocking: a grandchild that kept
    the pipe open does not hang the worker)."""
    os.set_blocking(fd, False)
    parts: list[bytes] = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not data:
            break
        parts.append(data)
    return b"".join(parts)


def _die_with(parent: int) -> None:
    """Linux: have the kernel SIGKILL this process if the worker (`parent`) dies, so that no
    upgrade goes on unseen after fleet apply has reported it failed and released its lock (the
    server rolls back the step in progress; the revision's committed steps are resumable)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the worker died before the call above
        os._exit(1)


def _child_main(request: dict[str, Any], out_w: int, result_w: int, parent: int) -> None:
    """In the forked child: upgrade the target, write the result, exit. Never returns."""
    code = 1
    payload: dict[str, Any]
    try:
        _die_with(parent)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        os.close(devnull)
        os.close(out_w)
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(line_buffering=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ["DATABASE_URL"] = request["url"]
        from cascade_tool.fleet.upgrade import alembic_config, reason, upgrade_to_head

        try:
            config = alembic_config(request["ini"], request["x_args"], request["url"])
            done = upgrade_to_head(config)
            payload = {"ok": True, "before": list(done.before), "heads": list(done.heads),
                       "steps": done.steps, "timings": done.timings}
            code = 0
        except BaseException as exc:  # the target's own trouble: reported as one line
            if isinstance(exc, SystemExit) and exc.code in (0, None):
                payload = {"ok": True, "before": None, "heads": [], "steps": None, "timings": {}}
                code = 0
            elif type(exc).__name__ == "CommandError":  # already one line (a revision's failure)
                message = " ".join(str(exc).split())
                print(f"FAILED: {message}", file=sys.stderr)  # as alembic prints it
                payload = {"ok": False, "reason": message}
            else:
                traceback.print_exc()
                payload = {"ok": False, "reason": reason(exc)}
    except BaseException as exc:  # noqa: BLE001  the child must always exit, never return
        payload = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(result_w, json.dumps(payload).encode())
    finally:
        os._exit(code)


class _Worker:
    """The worker's loop: requests on stdin, one forked child per request, results on stdout."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, _Child] = {}
        self.buffer = b""
        self.reading = True
        self.preloaded: set[str] = set()

    def emit(self, message: dict[str, Any]) -> None:
        try:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, OSError):  # fleet apply is gone: finish the running children anyway
            pass

    def start(self, request: dict[str, Any]) -> None:
        log = open(request["log"], "a", encoding="utf-8")  # noqa: SIM115  closed in finish()
        log.write(request.get("header", "") + "\n")
        log.flush()
        out_r, out_w = os.pipe()
        result_r, result_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        worker = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                self.forget()
                os.close(out_r)
                os.close(result_r)
            finally:
                _child_main(request, out_w, result_w, worker)
        os.close(out_w)
        os.close(result_w)
        try:
            pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        child = _Child(request, pid, out_r, result_r, pidfd, log, time.monotonic())
        self.children[pid] = child
        self.selector.register(out_r, selectors.EVENT_READ, ("out", child))
        if pidfd is not None:
            self.selector.register(pidfd, selectors.EVENT_READ, ("exit", child))

    def forget(self) -> None:
        """In a new child: close the worker's own descriptors (the other children's pipes and
        logs, the selector), so only the worker reads them."""
        self.selector.close()
        for other in self.children.values():
            for fd in (other.out, other.result, other.pidfd):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            other.log.close()

    def finish(self, child: _Child, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        for fd in (child.out, child.pidfd):
            if fd is not None:
                try:
                    self.selector.unregister(fd)
                except (KeyError, ValueError):
                    pass
        child.feed(_read_all(child.out), final=True)
        raw = _read_all(child.result)
        for fd in (child.out, child.result, child.pidfd):
            if fd is not None:
                os.close(fd)
        try:
            result = json.loads(raw) if raw else None
        except ValueError:
            result = None
        seconds = time.monotonic() - child.started
        how = f"exit code {code}" if code >= 0 else f"killed by {_signal_name(-code)}"
        timings = (result or {}).get("timings") or {}
        split = ""
        if "setup" in timings:
            split = (" (Alembic and env.py up to run_migrations, connection included: "
                     f"{timings['setup'] * 1000:.0f} ms; revisions: {timings['migrations'] * 1000:.0f} ms)")
        child.log.write(f"=== {how} after {seconds * 1000:.0f} ms{split}\n")
        child.log.close()
        del self.children[child.pid]
        self.emit({"id": child.request["id"], "code": code, "result": result, "last": child.last,
                   "seconds": seconds})

    def read_requests(self) -> None:
        data = os.read(0, 65536)
        if not data:
            self.reading = False
            self.selector.unregister(0)
            return
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line.strip():
                request = json.loads(line)
                if request["ini"] not in self.preloaded:
                    self.preloaded.add(request["ini"])
                    os.chdir(request["cwd"])
                    from cascade_tool.fleet.upgrade import preload_project

                    preload_project(request["ini"])
                try:
                    self.start(request)
                except OSError as exc:  # the log file, a pipe or the fork: this target only
                    self.emit({"id": request["id"], "code": None, "last": "", "seconds": 0.0, "result": {
                        "ok": False, "reason": f"cannot start the upgrade: {exc}"}})

    def reap(self) -> None:
        """Children without a pidfd: poll for their exit."""
        for pid, child in list(self.children.items()):
            if child.pidfd is None:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    self.finish(child, status)

    def serve(self) -> None:
        self.selector.register(0, selectors.EVENT_READ, ("stdin", None))
        while self.reading or self.children:
            for key, _ in self.selector.select(timeout=0.2):
                kind, child = key.data
                if kind == "stdin":
                    self.read_requests()
                elif kind == "out" and child.pid in self.children:
                    data = os.read(child.out, 65536)
                    if data:
                        child.feed(data)
                    else:
                        self.selector.unregister(child.out)
                elif kind == "exit" and child.pid in self.children:
                    _, status = os.waitpid(child.pid, 0)
                    self.finish(child, status)
            self.reap()


def main() -> None:
    """The worker process: preload, then serve until stdin closes and every child is done."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # fleet apply decides when to stop
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    try:  # warm SQLAlchemy's dialect lookup (no connection is made) and Alembic's parser
        import sqlalchemy

        from cascade_tool.fleet.upgrade import command_line

        sqlalchemy.create_engine("postgresql+psycopg://preload@localhost/preload")
        command_line()
    except Exception:  # noqa: BLE001  only a warm-up
        pass
    gc.collect()
    gc.freeze()  # the children share these pages instead of copying them
    _Worker().serve()


# --------------------------------------------------------------------------- fleet apply's side


_REPLY_KEYS = {"id", "code", "result", "last", "seconds"}


@dataclass(frozen=True)
class WorkerReply:
    """How one target's child ended: its exit code (negative: the signal that killed it), the
    result it wrote (None when it died first), the last line it printed."""

    code: int | None
    result: dict[str, Any] | None
    last: str
    seconds: float
    problem: str = ""  # set when the worker itself died


class WorkerPool:
    """fleet apply's handle on the worker process; `run` is called from several threads at once."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._env = env
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending: dict[int, tuple[threading.Event, list[WorkerReply]]] = {}
        self._owner: dict[int, subprocess.Popen[bytes]] = {}  # request id -> the worker running it
        self._next = 0
        self.started = 0  # worker processes started (1, unless one died)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cascade_tool.fleet.pool"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=self._env, start_new_session=True,
        )
        self.started += 1
        threading.Thread(target=self._read, args=(proc,), name="fleet-pool-reader", daemon=True).start()
        return proc

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if not isinstance(message, dict) or not _REPLY_KEYS <= message.keys():
                continue  # not ours: something the worker's imports printed to stdout
            with self._lock:
                waiter = self._pending.pop(message["id"], None)
                self._owner.pop(message["id"], None)
            if waiter:
                waiter[1].append(WorkerReply(message["code"], message["result"], message["last"],
                                             message["seconds"]))
                waiter[0].set()
        code = proc.wait()
        how = f"exit code {code}" if code >= 0 else f"killed by {_signal_name(-code)}"
        with self._lock:
            if self._proc is proc:
                self._proc = None
            lost = [i for i, owner in self._owner.items() if owner is proc]
            orphans = [self._pending.pop(i) for i in lost if i in self._pending]
            for i in lost:
                del self._owner[i]
        for event, slot in orphans:
            slot.append(WorkerReply(None, None, "", 0.0, f"the fleet worker process ended ({how}) while "
                                    "upgrading this target"))
            event.set()

    def run(self, request: dict[str, Any]) -> WorkerReply:
        """Upgrade one target in a child of the worker (started on first use, restarted if it
        died) and wait for how it ended."""
        event, slot = threading.Event(), list[WorkerReply]()
        line = b""
        for attempt in range(2):
            with self._lock:
                if self._proc is None or self._proc.poll() is not None:
                    self._proc = self._start()
                proc = self._proc
                self._next += 1
                ident = self._next
                self._pending[ident] = (event, slot)
                self._owner[ident] = proc
                line = (json.dumps({**request, "id": ident}) + "\n").encode()
                try:
                    assert proc.stdin is not None
                    proc.stdin.write(line)
                    proc.stdin.flush()
                    break
                except (BrokenPipeError, OSError):
                    self._pending.pop(ident, None)
                    self._owner.pop(ident, None)
                    self._proc = None
                    if attempt:
                        raise
        event.wait()
        return slot[0]

    def close(self) -> None:
        """Let running children finish, then end the worker."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()
        except OSError:
            pass
        proc.wait()


if __name__ == "__main__":
    main()
