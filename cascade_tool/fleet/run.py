"""The fleet scheduler and its report: run one piece of work per target, at most N at once.

The work (plan, verify or apply of one target) is a function `Target -> Outcome` that never
raises for a target's own trouble: it returns a status and a one-line detail. The scheduler
decides only what runs when: canaries first (a canary in error stops the rollout), then the
rest; `on_error = "stop"` starts nothing new after an error; a `stop` event (Ctrl-C) starts
nothing new either. Whatever was never started is reported `not-run`, with why.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from cascade_tool.fleet.targets import Target, scrub

NOT_RUN = "not-run"
ON_ERROR = ("stop", "continue")
# The statuses each command reports, in the order the summary lists them, and which of them
# make the exit code 1.
STATUSES: dict[str, tuple[str, ...]] = {
    "apply": ("upgraded", "at-head", "failed", "unreachable", NOT_RUN),
    "plan": ("ready", "nothing-to-do", "blocked", "failed", "unreachable", NOT_RUN),
    "verify": ("ok", "drift", "failed", "unreachable", NOT_RUN),
}
PROBLEMS = {"failed", "unreachable", NOT_RUN, "blocked", "drift"}


@dataclass(frozen=True)
class Outcome:
    """What happened on one target: a status from STATUSES and a one-line detail."""

    name: str
    status: str
    detail: str
    seconds: float = 0.0

    @property
    def problem(self) -> bool:
        return self.status in PROBLEMS

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class FleetReport:
    """One row per target, in the targets' order."""

    command: str  # apply | plan | verify
    outcomes: list[Outcome]
    seconds: float
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not any(o.problem for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        counted = Counter(o.status for o in self.outcomes)
        return {status: counted.get(status, 0) for status in STATUSES[self.command]}

    def summary(self) -> dict[str, Any]:
        return {"total": len(self.outcomes), **self.counts(), "seconds": round(self.seconds, 3)}

    def to_json(self) -> dict[str, Any]:
        return {"targets": [o.to_json() for o in self.outcomes], "summary": self.summary()}


@dataclass
class Progress:
    """What the status line shows; updated in the caller's thread as targets finish."""

    total: int
    done: int = 0
    running: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    note: str = ""
    started: float = field(default_factory=time.monotonic)

    @property
    def problems(self) -> dict[str, int]:
        """The problem statuses seen so far (failed, unreachable, ...), with their counts."""
        return {s: n for s, n in sorted(self.statuses.items()) if s in PROBLEMS and n}

    def rate(self, now: float | None = None) -> float:
        """Targets finished per second since the start."""
        elapsed = (now if now is not None else time.monotonic()) - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self, now: float | None = None) -> float | None:
        """Seconds until the rest are done at the rate so far; None before the first finishes."""
        rate = self.rate(now)
        return (self.total - self.done) / rate if rate > 0 else None


def run_targets(
    command: str,
    targets: Sequence[Target],
    work: Callable[[Target], Outcome],
    *,
    parallel: int = 1,
    canaries: Iterable[Target] = (),
    on_error: str = "continue",
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    one_first_per_database: bool = False,
) -> FleetReport:
    """Run `work` on every target and report one Outcome per target, in the targets' order.

    Waves: the canaries; then, with `one_first_per_database`, one target of each database that
    holds several (tenant schemas), so that whatever their revisions create once per database
    (a shared schema, an extension) is created by one session, not raced by many; then the rest.
    Ctrl-C (SIGINT, when called from the main thread) sets `stop`: running targets finish, no
    more start; later Ctrl-Cs are ignored while they finish.
    """
    if parallel < 1:
        raise ValueError("parallel must be at least 1")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}")
    stop = stop or threading.Event()
    started = time.monotonic()
    canary_names = {t.name for t in canaries}
    first = [t for t in targets if t.name in canary_names]
    rest = [t for t in targets if t.name not in canary_names]
    leaders: list[Target] = []
    if one_first_per_database:
        per_db = Counter(t.database for t in targets)
        covered = {t.database for t in first}
        for target in rest:
            if per_db[target.database] > 1 and target.database not in covered:
                covered.add(target.database)
                leaders.append(target)
        rest = [t for t in rest if t not in leaders]
    results: dict[str, Outcome] = {}
    progress = Progress(total=len(targets))
    why_not: list[str] = []  # why the remaining targets are not run (first reason wins)
    running: dict[Future[Outcome], Target] = {}
    interrupted = threading.Event()

    def report() -> None:
        if on_progress:
            on_progress(progress)

    def interrupt(*_: object) -> None:
        if not interrupted.is_set():
            interrupted.set()
            if not stop.is_set():
                why_not.append("interrupted (Ctrl-C) before it started")
            stop.set()
        progress.note = (f"interrupted: waiting for {len(running)} running target(s) to finish; "
                         "the rest will not be run")

    def wave(batch: list[Target], stop_on_error: bool, reason: Callable[[Outcome], str]) -> None:
        queue = list(batch)
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="fleet") as pool:
            while queue or running:
                while queue and len(running) < parallel and not stop.is_set():
                    target = queue.pop(0)
                    running[pool.submit(_safe, work, target)] = target
                progress.running = len(running)
                report()
                if not running:
                    break
                try:
                    done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt:  # SIGINT outside the main thread's handler
                    interrupt()
                    continue
                for future in done:
                    target = running.pop(future)
                    outcome = future.result()
                    results[target.name] = outcome
                    progress.done += 1
                    progress.statuses[outcome.status] += 1
                    if outcome.problem and stop_on_error and not stop.is_set():
                        why_not.append(reason(outcome))
                        stop.set()
        progress.running = 0
        report()

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, interrupt) if in_main else None
    try:
        wave(first, True, lambda o: f"the canary {o.name} is {o.status}")
        wave(leaders, on_error == "stop", lambda o: f"stopped after {o.name} was {o.status} (--on-error stop)")
        wave(rest, on_error == "stop", lambda o: f"stopped after {o.name} was {o.status} (--on-error stop)")
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
    detail = why_not[0] if why_not else "not started"
    outcomes = [results.get(t.name) or Outcome(t.name, NOT_RUN, detail) for t in targets]
    return FleetReport(command, outcomes, time.monotonic() - started, interrupted.is_set())


def _safe(work: Callable[[Target], Outcome], target: Target) -> Outcome:
    """`work(target)`, with an unexpected exception turned into a `failed` row (one line)."""
    started = time.monotonic()
    try:
        outcome = work(target)
    except Exception as exc:  # one target's bug must not stop the others' report
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        outcome = Outcome(target.name, "failed", f"{type(exc).__name__}: {first}".rstrip(": "))
    # A password must never reach the report, whatever a driver or a revision put in a message.
    return Outcome(outcome.name, outcome.status, scrub(outcome.detail, target.secrets()),
                   outcome.seconds or time.monotonic() - started)
