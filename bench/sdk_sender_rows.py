"""The Python SDK's sender CPU per event: rows, JSON and gzip of a batch, variants interleaved.

    git archive main sdk/python/src | tar -x -C /tmp/base   # the code to compare against
    sdk/python/.venv/bin/python bench/sdk_sender_rows.py \
        --variant base=/tmp/base/sdk/python/src --variant new=sdk/python/src

Each variant (``NAME=DIR``, the SDK imported from ``DIR`` under a name of its own) serves
``--batch`` requests to the bench's FastAPI app in-process through its own
``WhoWhyWhenMiddleware``, each with ``bench/sdk_overhead.py``'s browser User-Agent as a new
``bytes`` object and a path of its own (``/items/0``, ``/items/1``, ...), and keeps the records
its request path queued. Then, round by round, each variant turns its batch into the bytes it
would send: ``BatchRows().rows``, ``encode_rows`` (and ``encode_texts`` of the batch's
``user_agents`` list, where the variant writes one) and ``encode_body`` (gzip), ``--repeat`` times
on a warm cache, as the sender does for every batch. Printed: µs per event, the minimum and the
median of ``--rounds`` rounds, the body's bytes per event before and after gzip, and how many
collections of the cyclic GC the batches started (a host pays for those: each walks the
young objects of every thread) when ``--gc-headroom`` more may start one. This is the
part of the SDK's cost that runs on the host's core but not on its event loop; the request path
is measured by ``bench/sdk_asgi_instructions.py`` and both together by ``bench/sdk_asgi_cpu.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from sdk_asgi_instructions import fastapi_app, http_scope, receive, send
from sdk_overhead import USER_AGENT


def load(name: str, source: str) -> ModuleType:
    """The SDK package in ``source``, imported as ``name`` (so that several can sit side by
    side)."""
    package = Path(source).resolve() / "whowhywhen_sdk"
    spec = importlib.util.spec_from_file_location(
        name, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def captured(sdk: ModuleType, name: str, count: int) -> list[Any]:
    """The records ``count`` requests leave in the variant's queue."""
    response = importlib.import_module(f"{name}._transport").Response
    largest = importlib.import_module(f"{name}._config").MAX_BATCH_EVENTS

    class Accept:
        def post(self, payload: bytes, *, gzipped: bool, timeout: float) -> Any:
            return response(202, {}, b"{}")

    # A batch larger than the capture and no timer: the records stay queued.
    middleware = sdk.WhoWhyWhenMiddleware(
        fastapi_app(),
        api_key="www_sender_rows",
        url="http://127.0.0.1:9",
        transport=Accept(),
        batch_size=largest,
        flush_interval=3600,
    )

    async def serve() -> None:
        for number in range(count):
            scope = http_scope(
                f"/items/{number}", b"run=overhead", USER_AGENT, port=51234 + number % 32
            )
            await middleware(scope, receive, send)

    asyncio.run(serve())
    client = middleware.client
    records: list[Any] = client.buffer.take(count)
    client.shutdown(0.1)
    if len(records) != count:
        raise RuntimeError(f"{name}: {len(records)} records queued, not {count}")
    return records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", required=True, help="NAME=SRC")
    parser.add_argument("--batch", type=int, default=500, help="events a batch (the default)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=40, help="batches timed a round")
    parser.add_argument(
        "--gc-headroom",
        type=int,
        default=400,
        help="young objects a batch may add before a collection starts (a FastAPI host under"
        " load sat at ≈ 290 of the default 700, so ≈ 400 were left)",
    )
    args = parser.parse_args()

    jobs = {}
    for variant in args.variant:
        name, _, source = variant.partition("=")
        if not source:
            parser.error(f"--variant {variant}: give NAME=SRC")
        module_name = f"_wwy_{name}"
        sdk = load(module_name, source)
        event = importlib.import_module(f"{module_name}._event")
        transport = importlib.import_module(f"{module_name}._transport")
        items = captured(sdk, module_name, args.batch)
        writer = event.BatchRows()

        def job(
            writer: Any = writer,
            items: list[Any] = items,
            event: Any = event,
            gzip: Any = transport,
        ) -> tuple[int, int]:
            written = writer.rows(items)
            rows, failed = written[0], written[1]
            assert failed == 0
            body = event.encode_rows(rows)
            if len(written) > 2 and written[2] is not None:  # the batch's user_agents list
                body += event.encode_texts(written[2])
            payload, _ = gzip.encode_body(body)
            return len(body), len(payload)

        jobs[name] = job

    timings: dict[str, list[float]] = {name: [] for name in jobs}
    collections = dict.fromkeys(jobs, 0)
    running = ""

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and running:
            collections[running] += 1

    gc.callbacks.append(count)
    threshold = gc.get_threshold()
    gc.set_threshold(args.gc_headroom, *threshold[1:])
    for _ in range(args.rounds):
        for name, job in jobs.items():
            job()  # warm
            running = name
            start = time.perf_counter()
            for _ in range(args.repeat):
                job()
            timings[name].append((time.perf_counter() - start) / args.repeat / args.batch * 1e6)
            running = ""
    gc.callbacks.remove(count)
    gc.set_threshold(*threshold)
    for name, job in jobs.items():
        raw, gzipped = job()
        values = timings[name]
        print(
            f"{name:>10}: {min(values):5.2f} µs/event min, {statistics.median(values):5.2f} median"
            f" of {args.rounds} rounds; {raw / args.batch:.0f} bytes/event JSON,"
            f" {gzipped / args.batch:.1f} gzipped;"
            f" {collections[name] / args.rounds / args.repeat:.2f} GC collections a batch"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
