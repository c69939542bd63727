"""Where the Express host's CPU goes, bare and with the SDK: sampled stacks, per request.

    flock /tmp/wwy-bench.lock sdk/python/.venv/bin/python bench/sdk_js_profile.py --rounds 4
    ... --base /tmp/base          # also the SDK of another checkout (its built sdk/js)

``bench/sdk_overhead.py`` says how much the SDK costs an Express host; this says where. The same
Express app, collector and load as there (each host on core 0, ``wrk -t1 -c32`` and the
collector, ``SCHED_IDLE`` while measuring, on core 1). Each saturated phase is recorded with
``perf record -g -e cpu-clock`` (a software clock: these VMs have no hardware counters), from
wrk's start until the collector has stored every request the phase served, so the sender's work
for them is in it. The hosts run with ``--perf-prof``: V8 logs each piece of compiled code with
the time it was made, and ``perf inject --jit`` names every sample after the code at that
address at that moment. (``--perf-basic-prof``'s map has no times: once V8 frees code and reuses
its address, samples take the first name ever given to it, and whole µs went to the wrong
function.)

Every sample is charged to one of:

- **sdk**: the innermost JavaScript frame that is not Node's own (``node:*``) is the SDK's
  (``sdk/js/dist``), so the sample is the SDK's code or what it called (V8 runtime, zlib, the
  HTTP client). Node's own ``emit``, ``write`` and ``end`` running beneath the SDK's wrappers
  of them go to **host**, not here.
- **gc**: anything under V8's scavenger or mark-compact, whoever allocated.
- **kernel**: the kernel's own frames on top (sockets, scheduling), whoever asked.
- **host**: the rest (Node, Express, the app).

It prints µs a request for each, medians over rounds, and the SDK's functions with what their
time is spent in. A function V8 inlines into its caller has no frame of its own, so by default
the split between **sdk** and **host** moves from run to run (the SDK's middleware inlined into
Express's router is charged to the router); ``--no-inlining`` makes it exact, at the price of
slower code in every variant. The totals need no such care.
Needs ``perf`` (``apt-get install -y linux-perf``) and what ``bench/sdk_overhead.py`` needs.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sdk_overhead import (
    EXPRESS_APP,
    USER_AGENT,
    Host,
    WrkRun,
    require,
    require_js_built,
    run_wrk,
    start_collector,
)

#: Samples a second (``perf record -F``): one every 500 µs.
FREQUENCY = 2000
#: A software clock: these VMs give perf no hardware counters.
#: ``-k mono``: the clock V8's jitdump stamps its code with, for ``perf inject --jit``.
#: ``-N``: nothing into perf's build-id cache (``read_samples`` keeps its own).
PERF_RECORD = ["perf", "record", "-q", "-N", "-g", "-k", "mono", "-e", "cpu-clock"]
CATEGORIES = ("sdk", "gc", "kernel", "host")
#: The SDK's wrappers of the host's methods (``ServerResponse`` ``emit``, ``write`` and ``end``),
#: by the names V8 gives them: what runs beneath them in Node's code is the host's work.
PASS_THROUGH = frozenset(("hooked", "method", "countingWrite", "countingEnd"))
_GC = re.compile(r"Scavenger|MarkCompactCollector|Heap::CollectGarbage")
#: ``perf script``'s frame line: address, symbol (+offset), object.
_FRAME = re.compile(r"^\s*[0-9a-f]+ (.*?)(?:\+0x[0-9a-f]+)? \((.*)\)$")


def classify(frames: list[tuple[str, str]]) -> tuple[str, str | None]:
    """A sample's category and, for ``sdk``, its function; ``frames`` leaf first as (symbol,
    object)."""
    if any(_GC.search(symbol) for symbol, _ in frames):
        return "gc", None
    if frames and frames[0][1].endswith("kallsyms]"):
        return "kernel", None
    below_node = False
    for symbol, _ in frames:
        if not symbol.startswith(("JS:", "RegExp:")):
            continue
        if " node:" in symbol:
            below_node = True
            continue
        if "sdk/js/dist/" not in symbol:
            return "host", None
        name, where = _function(symbol)
        # a wrapper's frame above Node's own method: the wrapped method (the host's) is running
        if name in PASS_THROUGH and below_node:
            return "host", None
        return "sdk", f"{name} {where}"
    return "host", None


def _function(symbol: str) -> tuple[str, str]:
    """``JS:*record file:///…/dist/esm/client.js:418:16`` → ``("record", "client.js:418")``
    (V8 names a function expression after the variable it is assigned to)."""
    parts = symbol.split()
    name = parts[0].split(":", 1)[1].lstrip("*^~+-") if len(parts) > 1 else ""
    where = parts[-1].rsplit("/", 1)[-1]
    return name or "(anonymous)", ":".join(where.split(":")[:2])


def _leaf(symbol: str) -> str:
    """A leaf symbol, short: C++ without its template arguments, JavaScript as ``_function``."""
    if symbol.startswith(("JS:", "RegExp:")) and " " in symbol:
        return " ".join(_function(symbol))
    return re.sub(r"<.*>", "<>", symbol)[:80]


def read_samples(data: Path) -> list[list[tuple[str, str]]]:
    """Every sample's stack in ``data`` (``perf script``, JavaScript named from the hosts'
    jitdump files), leaf first."""
    named = data.with_suffix(".jit")
    # perf inject writes an ELF file per piece of JavaScript, and copies every binary it names
    # into a build-id cache: here, beside the data, not in ~/.debug
    perf = ["perf", "--buildid-dir", str(data.parent / "buildid")]
    subprocess.run(
        [*perf, "inject", "--jit", "-i", str(data), "-o", str(named)],
        capture_output=True,
        check=True,
    )
    text = subprocess.run(
        [*perf, "script", "-i", str(named)], capture_output=True, text=True, check=True
    ).stdout
    named.unlink()
    samples = []
    for block in text.split("\n\n"):
        frames = []
        for line in block.splitlines()[1:]:
            match = _FRAME.match(line)
            if match:
                frames.append((match.group(1), match.group(2)))
        if frames:
            samples.append(frames)
    return samples


class Profile:
    """One host's recorded phases: µs a request by category, and per SDK function."""

    def __init__(self) -> None:
        self.rounds: list[dict[str, float]] = []
        self.functions: collections.Counter[str] = collections.Counter()
        #: (SDK function, the sample's leaf symbol): what the function's time is spent in
        self.leaves: collections.Counter[tuple[str, str]] = collections.Counter()
        self.requests = 0

    def add(self, samples: list[list[tuple[str, str]]], requests: int) -> None:
        per_sample = 1e6 / FREQUENCY / max(1, requests)
        totals = dict.fromkeys(CATEGORIES, 0.0)
        for frames in samples:
            category, function = classify(frames)
            totals[category] += per_sample
            if function is not None:
                self.functions[function] += 1
                self.leaves[function, _leaf(frames[0][0])] += 1
        self.rounds.append(totals)
        self.requests += requests

    def median(self, category: str) -> float:
        return statistics.median(r[category] for r in self.rounds)

    def total(self) -> float:
        return statistics.median(sum(r.values()) for r in self.rounds)


def record_phase(host: Host, out: Path, args: Any) -> int:
    """Measure one saturated phase of ``host`` as ``bench/sdk_overhead.py`` does (primed, the
    collector idle-only, drained), recorded by perf from wrk's start to the end of the drain;
    return the requests it served."""
    perf: subprocess.Popen[bytes] | None = None

    def run(url: str) -> WrkRun:
        nonlocal perf
        perf = subprocess.Popen(
            [*PERF_RECORD, "-F", str(FREQUENCY), "-o", str(out), "-p", str(host.process.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # perf attaches meanwhile; the idle host gives no samples
        return run_wrk(url, args.duration, args.connections, USER_AGENT)

    try:
        return host.measure(run).requests
    finally:
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=5, help="seconds per recorded phase")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--prime", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--top", type=int, default=12, help="SDK functions to list")
    parser.add_argument("--leaves", type=int, default=3, help="leaf symbols per function")
    parser.add_argument("--base", metavar="DIR", help="also profile DIR's built sdk/js")
    parser.add_argument(
        "--no-inlining",
        action="store_true",
        help="run the hosts with V8's --no-turbo-inlining: every function keeps its own frame, "
        "so the SDK's share is exact, though every variant runs slower",
    )
    args = parser.parse_args()
    args.user_agent = USER_AGENT
    args.node_flags = ["--no-turbo-inlining"] if args.no_inlining else []
    binary = require(("perf", "wrk", "taskset", "nice"), "linux-perf wrk util-linux")
    require_js_built(args.base)
    os.sched_setaffinity(0, {1})
    # the hosts inherit it: V8 writes jit-PID.dump into their working directory
    os.environ["NODE_OPTIONS"] = "--perf-prof"
    names = ["bare", "sdk"] + (["base"] if args.base else [])
    profiles = {name: Profile() for name in names}
    with tempfile.TemporaryDirectory(prefix="sdk-profile-") as tmp:
        workdir = Path(tmp)
        (workdir / "bench_app.mjs").write_text(EXPRESS_APP)
        collector = start_collector(workdir, binary)
        hosts = [Host("express", name, collector, workdir, args) for name in names]
        try:
            for host in hosts:
                host.warm_up()
            orders = list(itertools.permutations(hosts))
            for round_ in range(args.rounds):
                for host in orders[round_ % len(orders)]:
                    data = workdir / f"{host.variant}-{round_}.data"
                    served = record_phase(host, data, args)
                    profile = profiles[host.variant]
                    profile.add(read_samples(data), served)
                    data.unlink()
                    line = " ".join(f"{c} {profile.rounds[-1][c]:6.1f}" for c in CATEGORIES)
                    print(
                        f"round {round_ + 1} {host.variant:5} {served:7} requests | {line} µs/req"
                    )
        finally:
            for host in hosts:
                host.stop()
            collector.close()

    print(
        f"\nCPU µs a request, medians of {args.rounds} rounds (wrk -t1 -c{args.connections} "
        f"-d{args.duration}s, sampled at {FREQUENCY} Hz; drain included)"
    )
    print(f"{'variant':7} {'total':>7} " + " ".join(f"{c:>7}" for c in CATEGORIES))
    bare = profiles["bare"]
    for name, profile in profiles.items():
        cells = " ".join(f"{profile.median(c):7.2f}" for c in CATEGORIES)
        print(f"{name:7} {profile.total():7.2f} {cells}")
        if name != "bare":
            added = " ".join(f"{profile.median(c) - bare.median(c):+7.2f}" for c in CATEGORIES)
            print(f"{'  added':7} {profile.total() - bare.total():+7.2f} {added}")
    for name, profile in profiles.items():
        if name == "bare" or not profile.functions:
            continue
        print(f"\n{name}: the SDK's functions, µs a request over all rounds")
        scale = 1e6 / FREQUENCY / max(1, profile.requests)
        for function, count in profile.functions.most_common(args.top):
            print(f"  {count * scale:6.2f}  {function}")
            leaves = [(n, leaf) for (f, leaf), n in profile.leaves.items() if f == function]
            for n, leaf in sorted(leaves, reverse=True)[: args.leaves]:
                print(f"          {n * scale:6.2f}  in {leaf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
