"""The worker pool `fleet apply` upgrades its targets with: one preloaded process, and forks of it
that upgrade one target at a time.

A fresh interpreter per target spends most of its time importing Alembic, SQLAlchemy and
psycopg. Instead, `fleet apply` starts one worker process (`python -m cascade_tool.fleet.worker`)
that imports them once, reads the project's script directory once (its revision modules
imported, as one `alembic` command does), and then forks children that run `alembic upgrade head`
on one target after another (cascade_tool.fleet.upgrade: the user's env.py runs afresh for each
target, and the revisions' upgrade() on that target's own connection), as a program calling
Alembic's command API in a loop would. A child reports each target's result on a pipe of its
own. So:

- a child upgrades at most TARGETS_PER_CHILD targets, and none after one that failed: it exits,
  and whatever the failure (or env.py) left in the process goes with it; the next target gets a
  fresh fork of the worker;
- a target that kills its process (os._exit, a segfault, the OOM killer) is reported `failed`
  with how its process ended; the worker and the other targets go on;
- if the worker itself dies, its children are killed with it (Linux), the targets they were
  upgrading are reported `failed`, and the next target starts a new worker.

Reusing a child saves, per target, the fork, the process exit and the pages a new child copies
from the worker as it touches them (about a third of the Python time of a target).

The worker runs in a session of its own (a Ctrl-C on the terminal reaches only `fleet apply`,
which lets running targets finish). It reads requests as JSON lines on stdin and answers with
JSON lines on stdout; each child's stdout and stderr go through a pipe to the worker, which
writes them, passwords scrubbed, to the running target's log file. Closing the worker's stdin
lets the running targets finish, then the children and the worker exit.
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import os
import selectors
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
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


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# --------------------------------------------------------------------------- the worker process

# How many targets one child upgrades in turn before it exits and a fresh fork takes its place:
# whatever env.py leaves behind in the process (global event listeners, say) lives that long.
TARGETS_PER_CHILD = 100


def _targets_per_child() -> int:
    """TARGETS_PER_CHILD, or CASCADE_TOOL_TARGETS_PER_CHILD (a positive number; 1: a fresh fork
    for every target)."""
    try:
        return max(1, int(os.environ.get("CASCADE_TOOL_TARGETS_PER_CHILD", "")))
    except ValueError:
        return TARGETS_PER_CHILD


@dataclass
class _Job:
    """One target's upgrade, as the worker tracks it: where its output goes."""

    request: dict[str, Any]
    log: IO[str]
    started: float
    partial: str = ""
    last: str = ""

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


@dataclass
class _Child:
    """A forked child of the worker: it upgrades the targets sent to it, one at a time."""

    pid: int
    requests: int | None  # write end of its request pipe (closed: the child exits)
    out: int  # read end of its stdout+stderr pipe
    result: int  # read end of its result pipe: one JSON line per target
    pidfd: int | None
    job: _Job | None = None
    served: int = 0
    results: bytes = b""
    last_log: str = ""  # the log of its last target: where output arriving between targets goes


def _read_all(fd: int) -> bytes:
    """Whatever can be read from a pipe now, without waiting (a grandchild that kept the pipe
    open does not hang the worker)."""
    os.set_blocking(fd, False)
    parts: list[bytes] = []
    while True:
        try:
            data = os.read(fd, 65536)
        except (BlockingIOError, InterruptedError):
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


def _upgrade_one(request: dict[str, Any]) -> dict[str, Any]:
    """In a child: upgrade one target; what happened, as the result line says it."""
    os.chdir(request["cwd"])
    os.environ["DATABASE_URL"] = request["url"]
    from cascade_tool.fleet.upgrade import alembic_config, reason, upgrade_to_head

    try:
        config = alembic_config(request["ini"], request["x_args"], request["url"])
        done = upgrade_to_head(config)
        return {"ok": True, "before": list(done.before), "heads": list(done.heads),
                "steps": done.steps, "timings": done.timings}
    except BaseException as exc:  # the target's own trouble: reported as one line
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return {"ok": True, "before": None, "heads": [], "steps": None, "timings": {}}
        if type(exc).__name__ == "CommandError":  # already one line (a revision's failure)
            message = " ".join(str(exc).split())
            print(f"FAILED: {message}", file=sys.stderr)  # as alembic prints it
            return {"ok": False, "reason": message}
        traceback.print_exc()
        return {"ok": False, "reason": reason(exc)}


def _child_main(requests_r: int, out_w: int, result_w: int, parent: int) -> None:
    """In the forked child: upgrade each target the worker sends, write its result line; exit
    when the worker closes the request pipe, or after a target that failed. Never returns."""
    code = 1
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
        with open(requests_r, "rb") as requests:
            for line in requests:
                try:
                    payload = _upgrade_one(json.loads(line))
                except BaseException as exc:  # noqa: BLE001  the child must always answer
                    payload = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
                sys.stdout.flush()
                sys.stderr.flush()
                os.write(result_w, (json.dumps(payload) + "\n").encode())
                if not payload["ok"]:  # whatever the failure left in this process goes with it
                    break
            else:
                code = 0
    finally:
        os._exit(code)


class _Worker:
    """The worker's loop: requests on stdin, each sent to an idle child (or a new fork), results
    on stdout."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, _Child] = {}
        self.idle: list[_Child] = []
        self.buffer = b""
        self.reading = True
        self.projects: dict[str, dict[str, Any]] = {}  # ini -> its heads, or why it cannot be read
        self.per_child = _targets_per_child()

    def emit(self, message: dict[str, Any]) -> None:
        try:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, OSError):  # fleet apply is gone: finish the running children anyway
            pass

    def start(self, request: dict[str, Any]) -> None:
        log = open(request["log"], "a", encoding="utf-8")  # noqa: SIM115  closed in done()/died()
        try:
            log.write(request.get("header", "") + "\n")
            log.flush()
            line = (json.dumps(request) + "\n").encode()
            while True:
                child = self.idle.pop() if self.idle else self.spawn()
                try:
                    assert child.requests is not None
                    os.write(child.requests, line)
                    break
                except OSError:  # an idle child that died since: its exit is reaped as usual
                    if child.served == 0:
                        raise
        except BaseException:
            log.close()
            raise
        child.job = _Job(request, log, time.monotonic())

    def spawn(self) -> _Child:
        """Fork a new child; it waits for its first request."""
        requests_r, requests_w = os.pipe()
        out_r, out_w = os.pipe()
        result_r, result_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        worker = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                self.forget()
                for fd in (requests_w, out_r, result_r):
                    os.close(fd)
            finally:
                _child_main(requests_r, out_w, result_w, worker)
        for fd in (requests_r, out_w, result_w):
            os.close(fd)
        try:
            pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        child = _Child(pid, requests_w, out_r, result_r, pidfd)
        self.children[pid] = child
        self.selector.register(out_r, selectors.EVENT_READ, ("out", child))
        self.selector.register(result_r, selectors.EVENT_READ, ("result", child))
        if pidfd is not None:
            self.selector.register(pidfd, selectors.EVENT_READ, ("exit", child))
        return child

    def forget(self) -> None:
        """In a new child: close the worker's own descriptors (the other children's pipes and
        logs, the selector), so that only the worker reads them, and so that a child whose
        request pipe the worker closes sees it closed."""
        self.selector.close()
        for other in self.children.values():
            for fd in (other.requests, other.out, other.result, other.pidfd):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            if other.job is not None:
                other.job.log.close()

    def retire(self, child: _Child) -> None:
        """Close the child's request pipe: it exits (reaped in died())."""
        if child in self.idle:
            self.idle.remove(child)
        if child.requests is not None:
            os.close(child.requests)
            child.requests = None

    def on_output(self, child: _Child, data: bytes) -> None:
        if child.job is not None:
            child.job.feed(data)
        elif child.last_log:  # late output of the target it last upgraded (a thread, a grandchild)
            with open(child.last_log, "a", encoding="utf-8") as log:
                log.write(data.decode("utf-8", "replace"))

    def on_results(self, child: _Child, data: bytes) -> None:
        child.results += data
        while b"\n" in child.results:
            line, child.results = child.results.split(b"\n", 1)
            try:
                result = json.loads(line)
            except ValueError:
                result = None
            if isinstance(result, dict) and child.job is not None:
                self.done(child, result)

    def done(self, child: _Child, result: dict[str, Any]) -> None:
        """A target's result line: its output so far to its log, the reply, the child idle again
        (or retired: after a failure, or its TARGETS_PER_CHILD)."""
        job = child.job
        assert job is not None
        self.on_output(child, _read_all(child.out))
        job.feed(b"", final=True)
        seconds = time.monotonic() - job.started
        timings = result.get("timings") or {}
        split = ""
        if "setup" in timings:
            split = (" (Alembic and env.py up to run_migrations, connection included: "
                     f"{timings['setup'] * 1000:.0f} ms; revisions: {timings['migrations'] * 1000:.0f} ms)")
        how = "succeeded" if result.get("ok") else "failed"
        job.log.write(f"=== {how} after {seconds * 1000:.0f} ms{split}\n")
        job.log.close()
        child.job, child.last_log = None, job.request["log"]
        child.served += 1
        self.emit({"id": job.request["id"], "code": 0 if result.get("ok") else 1, "result": result,
                   "last": job.last, "seconds": seconds})
        if result.get("ok") and child.served < self.per_child and self.reading and child.requests is not None:
            self.idle.append(child)
        else:
            self.retire(child)

    def died(self, child: _Child, status: int) -> None:
        """The child exited: a target it was upgrading without a result is reported with how
        the process ended."""
        for fd in (child.out, child.result, child.pidfd):
            if fd is not None:
                try:
                    self.selector.unregister(fd)
                except (KeyError, ValueError):
                    pass
        if child.job is not None:
            self.on_output(child, _read_all(child.out))
            self.on_results(child, _read_all(child.result))  # written just before it exited
        if child.job is not None:
            job = child.job
            job.feed(b"", final=True)
            code = os.waitstatus_to_exitcode(status)
            seconds = time.monotonic() - job.started
            how = f"exit code {code}" if code >= 0 else f"killed by {signal_name(-code)}"
            job.log.write(f"=== {how} after {seconds * 1000:.0f} ms\n")
            job.log.close()
            child.job = None
            self.emit({"id": job.request["id"], "code": code, "result": None, "last": job.last,
                       "seconds": seconds})
        self.retire(child)
        for fd in (child.out, child.result, child.pidfd):
            if fd is not None:
                os.close(fd)
        del self.children[child.pid]

    def read_requests(self) -> None:
        data = os.read(0, 65536)
        if not data:
            self.reading = False
            self.selector.unregister(0)
            for child in list(self.idle):
                self.retire(child)
            return
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line.strip():
                request = json.loads(line)
                project = self.preload(request["ini"], request["cwd"])
                if request.get("preload_only"):
                    self.emit({"id": request.get("id"), "project": project})
                    continue
                try:
                    self.start(request)
                except OSError as exc:  # the log file, a pipe or the fork: this target only
                    self.emit({"id": request["id"], "code": None, "last": "", "seconds": 0.0, "result": {
                        "ok": False, "reason": f"cannot start the upgrade: {exc}"}})

    def preload(self, ini: str, cwd: str) -> dict[str, Any]:
        """Read the project's script directory once, before forking the children that use it."""
        if ini not in self.projects:
            os.chdir(cwd)
            from cascade_tool.fleet.upgrade import preload_project

            self.projects[ini] = preload_project(ini)
            for child in list(self.idle):  # forked before the project was read
                self.retire(child)
        return self.projects[ini]

    def reap(self) -> None:
        """Children without a pidfd: poll for their exit."""
        for pid, child in list(self.children.items()):
            if child.pidfd is None:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    self.died(child, status)

    def read_pipe(self, child: _Child, fd: int, handle: Callable[[_Child, bytes], None]) -> None:
        """What one of a child's pipes holds now, to `handle`; at its end, stop watching it."""
        try:
            data = os.read(fd, 65536)
        except (BlockingIOError, InterruptedError):  # non-blocking since _read_all: nothing yet
            return
        if data:
            handle(child, data)
        else:
            self.selector.unregister(fd)

    def serve(self) -> None:
        self.selector.register(0, selectors.EVENT_READ, ("stdin", None))
        while self.reading or self.children:
            for key, _ in self.selector.select(timeout=0.2):
                kind, child = key.data
                if kind == "stdin":
                    self.read_requests()
                elif child is None or child.pid not in self.children:
                    continue
                elif kind == "out":
                    self.read_pipe(child, child.out, self.on_output)
                elif kind == "result":
                    self.read_pipe(child, child.result, self.on_results)
                elif kind == "exit":
                    _, status = os.waitpid(child.pid, 0)
                    self.died(child, status)
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


if __name__ == "__main__":
    main()
