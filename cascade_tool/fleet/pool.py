"""fleet apply's handle on its worker process (cascade_tool.fleet.worker): requests out, replies in.

`WorkerPool.run` is called from fleet apply's threads, one target each; it sends the request to
the worker (started on first use, or early with `start`, and again if it died) and waits for the
reply, or for the worker's death, which fails the targets it was running.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cascade_tool.fleet.worker import signal_name

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
        # the project `start` asked the worker to read: what it replied (None: no reply, as it died)
        self._project: tuple[threading.Event, list[dict[str, Any] | None]] = (threading.Event(), [])

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None and self._next == 0:  # stopped before any target: no need to wait
            with self._lock:
                proc, self._proc = self._proc, None
            if proc is not None:
                proc.kill()
                proc.wait()
        self.close()

    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cascade_tool.fleet.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
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
            if isinstance(message, dict) and message.get("id") == 0 and isinstance(message.get("project"), dict):
                self._project[1].append(message["project"])
                self._project[0].set()
                continue
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
        how = f"exit code {code}" if code >= 0 else f"killed by {signal_name(-code)}"
        with self._lock:
            if self._proc is proc:
                self._proc = None
            lost = [i for i, owner in self._owner.items() if owner is proc]
            orphans = [self._pending.pop(i) for i in lost if i in self._pending]
            for i in lost:
                del self._owner[i]
        self._project[0].set()  # no reply coming from this worker
        for event, slot in orphans:
            slot.append(WorkerReply(None, None, "", 0.0, f"the fleet worker process ended ({how}) while "
                                    "upgrading this target"))
            event.set()

    def start(self, ini: Path) -> None:
        """Start the worker now, and have it read the project at `ini`: its imports and that
        read then overlap with whatever the caller does before the first target, and `project`
        returns what it read."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write((json.dumps({"ini": str(ini), "cwd": str(ini.parent), "id": 0,
                                                    "preload_only": True}) + "\n").encode())
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError):  # run() starts another
                self._proc = None
                self._project[0].set()

    def project(self) -> dict[str, Any] | None:
        """What the worker read of the project `start` named: {"heads": [...]} or {"error": the
        first line of why not}; None if `start` was not called or the worker died first."""
        if not self._project[0].wait(timeout=0 if self.started == 0 else None):
            return None
        return self._project[1][0] if self._project[1] else None

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
