"""One campaign: start the site, play the rush and the faults, heal, settle, stop, check.

The seed fixes the crew, the passes and the fault schedule (``workload``, ``scheduler``);
the real processes' timing around them varies from run to run, so a replay of a seed
plays the same story, not the same microseconds. Everything a run kept stays in its work
directory: ``history.jsonl``, the journals, the logs, the databases.
"""

from __future__ import annotations

import logging
import math
import signal
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from presence.clock import BRUSSELS, brussels_date
from sim.chaos import checker
from sim.chaos.faults import Fault, Injector, Republisher
from sim.chaos.history import History
from sim.chaos.proxy import PathFaults
from sim.chaos.rush import RETRY_FOR_S, Rush
from sim.chaos.scheduler import KINDS, Player, draw
from sim.chaos.site import IN_DOUBT_GRACE_S, ChaosSite, gates
from sim.chaos.watch import Monitor, settle
from sim.chaos.workload import Profile, Workload, make_workload
from sim.demo_site import WORKPLACE

log = logging.getLogger(__name__)

FAULT_WINDOW_SHARE = 0.85  # faults start in the first 85 % of the campaign
SETTLE_S = 180.0  # beyond the terminal link's RESEND_AFTER_S (120 s)


@dataclass(frozen=True, slots=True)
class Options:
    seed: int = 1
    minutes: float = 1.0
    gates: int = 3
    workers: int = 60
    db: str = "sqlite"
    pg_url: str | None = None
    use_pcscd: bool = True
    workdir: Path | None = None
    profile: Profile = "full"
    kinds: tuple[str, ...] = tuple(KINDS)
    mean_gap_s: float = 4.0
    settle_s: float = SETTLE_S
    in_doubt_grace_s: float = IN_DOUBT_GRACE_S
    nsso_path: PathFaults = field(default_factory=PathFaults)
    before_midnight_s: float | None = (
        None  # the site's clock this long before midnight  # its normal state
    )


@dataclass(slots=True)
class Result:
    options: Options
    workdir: Path
    findings: checker.Findings
    faults: Counter[str] = field(default_factory=Counter)
    faults_failed: int = 0  # could not be injected (e.g. NSSO's admin while NSSO was down)
    passes: int = 0
    outbox_high_water: int = 0
    settle_s: float = 0.0
    card_reader: str = ""
    history: History | None = None
    settled: bool = True
    site_offset_s: int = 0  # the site's clock minus the real one

    @property
    def ok(self) -> bool:
        return not self.findings.violations

    def verdict(self) -> str:
        o, f = self.options, self.findings
        worst = f"{max(f.receipt_delays):.1f} s" if f.receipt_delays else "-"
        p99 = _p99(f.receipt_delays)
        faults = ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items())) or "none"
        return (
            f"chaos seed={o.seed} minutes={o.minutes:g} gates={o.gates} workers={o.workers} "
            f"db={o.db} profile={o.profile}: {'PASS' if self.ok else 'FAIL'} | "
            f"{f.decisions} decisions ({f.admitted} published admissions), "
            f"{f.registrations} NSSO registrations, anomalies {dict(f.anomalies) or 0} | "
            f"faults {sum(self.faults.values())} ({faults}; {self.faults_failed} could not be "
            f"injected) | violations "
            f"{len(f.violations)} | badge->receipt worst {worst}, p99 {p99} | "
            f"outbox high-water {self.outbox_high_water} | settled in {self.settle_s:.0f} s"
        )

    def replay(self) -> str:
        o = self.options
        grace = o.in_doubt_grace_s
        faults = "" if o.kinds == tuple(KINDS) else f" --faults {','.join(o.kinds)}"
        return (
            f"sitegate-demo chaos --seed {o.seed} --minutes {o.minutes:g} --gates {o.gates} "
            f"--workers {o.workers} --db {o.db} --profile {o.profile}{faults}"
            + ("" if grace == IN_DOUBT_GRACE_S else f" --in-doubt-grace {grace:g}")
            + ("" if o.before_midnight_s is None else f" --before-midnight {o.before_midnight_s:g}")
        )

    def report(self) -> list[str]:
        """The verdict and, for each kind of violation, its first case with the history
        around it: what to look at, and the seed to replay it."""
        lines = [self.verdict()]
        if self.ok:
            return lines
        lines.append(f"replay: {self.replay()}   (work directory {self.workdir})")
        by_code: dict[str, list[checker.Violation]] = {}
        for v in self.findings.violations:
            by_code.setdefault(v.code, []).append(v)
        for code, found in by_code.items():
            lines.append(f"-- {code}: {len(found)}")
            for v in found[:3]:
                lines.append(f"   {v.detail}")
            first = found[0]
            if self.history is not None and first.wall is not None:
                match: dict[str, Any] = {}
                if first.person is not None:
                    match["person"] = first.person
                real = first.wall - self.site_offset_s  # the site's clock may be moved
                lines += ["     " + r.line() for r in self.history.around(real, 8.0, **match)]
        return lines


def _p99(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]:.1f} s"


# --- the whole campaign ---------------------------------------------------------------------------


def site_offset(before_midnight_s: float | None) -> int:
    """Seconds to add to the real clock for the site's to read ``before_midnight_s`` before
    the next midnight in Brussels (0: the real clock)."""
    if before_midnight_s is None:
        return 0
    now = datetime.now(UTC)
    tomorrow = now.astimezone(BRUSSELS).date() + timedelta(days=1)
    midnight = datetime.combine(tomorrow, datetime.min.time(), BRUSSELS)
    return round((midnight - timedelta(seconds=before_midnight_s) - now).total_seconds())


def stop_on_sigterm() -> None:
    """SIGTERM ends the campaign like Ctrl-C: the site's processes (each in its own session,
    so a terminal's Ctrl-C does not reach them) are stopped on the way out."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def run(options: Options, out: Callable[[str], None] = print) -> Result:
    duration = options.minutes * 60.0
    offset = site_offset(options.before_midnight_s)
    today = brussels_date(datetime.now(UTC) + timedelta(seconds=offset))
    plan = gates(options.gates, options.use_pcscd)
    entries = [g.id for g in plan if g.direction == "in"]
    exits = [g.id for g in plan if g.direction == "out"]
    workload = make_workload(
        options.seed, options.workers, duration, entries, exits, today, options.profile
    )
    paths = [f"{g.id}-broker" for g in plan] + ["controller-nsso"]
    schedule = draw(
        options.seed,
        duration * FAULT_WINDOW_SHARE,
        [g.id for g in plan],
        paths,
        options.kinds,
        options.mean_gap_s,
    )
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="sitegate-chaos-"))
    out(
        f"chaos: seed {options.seed}, {len(workload.people)} people, {len(workload.passes)} "
        f"passes, {len(schedule)} faults in {duration:.0f} s; work directory {workdir}"
    )
    with ChaosSite(
        workdir,
        workload,
        today,
        gate_count=options.gates,
        db=options.db,
        pg_server=options.pg_url,
        use_pcscd=options.use_pcscd,
        seed=options.seed,
        in_doubt_grace_s=options.in_doubt_grace_s,
        clock_offset_s=offset,
    ) as site:
        result = _play(site, workload, schedule, duration, options, workdir, out)
        note = "" if result.settled else f"(settling gave up after {options.settle_s:.0f} s)"
        # Inside: a PostgreSQL scratch database is dropped when the site closes.
        result.site_offset_s = offset
        result.findings = checker.check(_sources(site), workload, result.history, note, offset)
    return result


def _play(
    site: ChaosSite,
    workload: Workload,
    schedule: Sequence[Fault],
    duration: float,
    options: Options,
    workdir: Path,
    out: Callable[[str], None],
) -> Result:
    history = History(workdir / "history.jsonl")
    nsso_path = site.proxies["controller-nsso"]
    nsso_path.baseline = options.nsso_path
    nsso_path.heal()
    republisher = Republisher("127.0.0.1", site.broker_port, WORKPLACE)
    injector = Injector(site, republisher)
    monitor = Monitor(site, history).start()
    result = Result(
        options, workdir, checker.Findings(), card_reader=site.card_reader, history=history
    )
    errors: list[str] = []
    player = Player(
        list(schedule), injector, history, lambda f, e: errors.append(f"{f.kind}: {e}")
    ).start()
    rush = Rush(site, workload, injector, history, duration).start()
    rush.join(duration + 3 * RETRY_FOR_S)
    last = max((f.at + f.duration for f in schedule), default=0.0)
    player.join(max(0.0, last - history.now()) + 30.0)  # every drawn fault played and healed
    player.stop()
    history.add("heal")
    injector.heal_all()
    started = time.monotonic()
    settled, state = settle(site, options.settle_s)
    result.settle_s = time.monotonic() - started
    history.add("settled" if settled else "not_settled", state=state)
    monitor.sample()
    monitor.stop()
    republisher.close()
    site.stop_all()
    history.close()
    result.faults = Counter(str(r.data["fault"]) for r in history.of_kind("fault.start"))
    result.faults_failed = sum(1 for _ in history.of_kind("fault.error"))
    result.passes = rush.done
    result.outbox_high_water = monitor.high_water
    result.settled = settled
    for error in errors:
        log.warning("fault not injected: %s", error)
    return result


def _sources(site: ChaosSite) -> checker.Sources:
    terminals = [g.id for g in site.gates]
    logs = {name: proc.log_path for name, proc in site.procs.items() if name != "broker"}
    exits = [(e.name, e.returncode, e.at) for p in site.procs.values() for e in p.unexpected_exits]
    return checker.Sources(
        terminals=terminals,
        journal={t: site.journal_path(t) for t in terminals},
        outbox={t: site.outbox_path(t) for t in terminals},
        logs=logs,
        db_url=site.db_url,
        nsso_db=site.nsso_db,
        exits=exits,
    )


def summary_figures(result: Result) -> dict[str, Any]:
    """The figures ``bench/chaos.py`` prints."""
    f = result.findings
    return {
        "seed": result.options.seed,
        "minutes": result.options.minutes,
        "decisions": f.decisions,
        "admissions_published": f.admitted,
        "registrations": f.registrations,
        "faults": dict(result.faults),
        "faults_total": sum(result.faults.values()),
        "violations": len(f.violations),
        "violation_codes": dict(Counter(v.code for v in f.violations)),
        "badge_to_receipt_worst_s": round(max(f.receipt_delays), 2) if f.receipt_delays else None,
        "badge_to_receipt_median_s": round(statistics.median(f.receipt_delays), 2)
        if f.receipt_delays
        else None,
        "outbox_high_water": result.outbox_high_water,
    }
