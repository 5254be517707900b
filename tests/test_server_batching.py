"""Request bodies that arrive together are screened in one hand-over, each exactly as if it came alone."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")

import httpx
from benchmarks.server_load import run_async

from needlescreen import Screener, ScreeningResult
from needlescreen.engine import available_engines
from needlescreen.server import Settings, create_app
from needlescreen.server.batching import screen_bodies
from needlescreen.server.service import COMPUTE_THREADS as LANES
from needlescreen.server.service import Service
from needlescreen.testing import baseline_intake, comparable, with_changes

from .server_helpers import BrokenEngine

JSON = {"Content-Type": "application/json"}


def _calf(finding: str) -> dict[str, Any]:
    return with_changes(
        baseline_intake(),
        {"findings": {finding: {"answer": "yes", "locations": [{"region": "calf", "side": "right"}]}}},
    )


#: Bodies a clinic list might send at once, each with what the library says of it alone, and two that are refused.
def _bodies() -> list[tuple[str, bytes]]:
    pregnant = with_changes(
        baseline_intake(), {"patient": {"pregnancy": {"status": "pregnant", "gestational_weeks": 8.0}}}
    )
    unknown_meds = with_changes(baseline_intake(), {"medications": {"complete": "unknown"}})
    misspelt = baseline_intake() | {"agee": 40}
    return [
        ("application/json", json.dumps(baseline_intake()).encode()),
        ("application/json", json.dumps(_calf("lymphedema")).encode()),
        ("application/json", json.dumps(misspelt).encode()),
        ("application/json", json.dumps(pregnant).encode()),
        ("text/plain", json.dumps(baseline_intake()).encode()),
        ("application/json", json.dumps(unknown_meds).encode()),
        ("application/json", json.dumps(_calf("dvt")).encode()),
    ]


def _hand_overs(svc: Service, gate: threading.Event | None = None) -> list[int]:
    """Count the bodies of each hand-over to the screening threads; the first two (one per screening thread, so
    that both are busy) wait for ``gate``."""
    sizes: list[int] = []
    compute = svc.compute

    async def counted(fn: Any, *args: Any) -> Any:
        if fn is screen_bodies:
            sizes.append(len(args[1]))
            if gate is not None and len(sizes) <= LANES:
                await asyncio.to_thread(gate.wait, 10)
        return await compute(fn, *args)

    svc.compute = counted  # type: ignore[method-assign]
    return sizes


async def _occupy_lanes(sizes: list[int], submit: Any) -> list[asyncio.Future[Any]]:
    """Submit one request per screening thread, each once the previous one is in a thread's hands."""
    futures = []
    for lane in range(LANES):
        futures.append(asyncio.ensure_future(submit()))
        while len(sizes) <= lane:
            await asyncio.sleep(0.01)
    return futures


@asynccontextmanager
async def _held_service(tmp_path: Path) -> AsyncIterator[tuple[Service, list[int], threading.Event, httpx.AsyncClient]]:
    """A running app whose first hand-overs (one per screening thread) wait for the gate, with a client of it."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'records.db'}", engine="plain"))
    async with app.router.lifespan_context(app):
        svc: Service = app.state.service
        gate = threading.Event()
        sizes = _hand_overs(svc, gate)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield svc, sizes, gate, client


def test_bodies_sent_together_share_a_hand_over_and_each_gets_its_own_answer(tmp_path: Path) -> None:
    bodies = [_bodies()[0]] * LANES + _bodies() * 3

    async def scenario() -> list[httpx.Response]:
        async with _held_service(tmp_path) as (_svc, sizes, gate, c):
            posts = [
                c.post("/screenings", params={"dry_run": "true"}, content=body, headers={"Content-Type": kind})
                for kind, body in bodies
            ]
            # Both screening threads are busy with the first bodies; the rest arrive meanwhile.
            firsts = await _occupy_lanes(sizes, iter(posts[:LANES]).__next__)
            rest = [asyncio.ensure_future(p) for p in posts[LANES:]]
            await asyncio.sleep(0.5)
            gate.set()
            answers = [*[await f for f in firsts], *[await r for r in rest]]
            assert sizes[:LANES] == [1] * LANES, "a body that finds a thread free goes at once, alone"
            assert sum(sizes) == len(bodies), "every body screened once"
            assert max(sizes) > 1, f"the bodies that waited were handed over together: {sizes}"
            return answers

    library = Screener(engine="plain")
    for (kind, body), answer in zip(bodies, run_async(scenario()), strict=True):
        if kind != "application/json":
            assert answer.status_code == 415
        elif b'"agee"' in body:
            assert answer.status_code == 422
            assert any(e["path"] == "agee" for e in answer.json()["errors"])
        else:
            assert answer.status_code == 200, answer.text
            alone = library.screen(body.decode())
            assert comparable(ScreeningResult.model_validate(answer.json())) == comparable(alone)


@pytest.mark.parametrize("engine", available_engines())
def test_a_batch_screens_each_intake_as_alone_on_each_engine(engine: Any, tmp_path: Path) -> None:
    svc = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", engine=engine)).state.service
    jobs = [(kind, body) for kind, body in _bodies()]
    out = screen_bodies(svc, [(body, kind, True) for kind, body in jobs])
    library = Screener(engine=engine)
    assert len(out) == len(jobs)
    for (kind, body), got in zip(jobs, out, strict=True):
        if isinstance(got, Exception):
            assert kind != "application/json" or b'"agee"' in body
            continue
        assert got.intake_json, "a stored screening carries the intake's JSON for its record"
        got_result = ScreeningResult.model_validate_json(got.result_json)
        assert comparable(got_result) == comparable(library.screen(body.decode()))


def test_an_engine_failure_fails_every_request_of_the_batch_closed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _held_service(tmp_path) as (svc, sizes, gate, c):
            svc.screener.engine = BrokenEngine()  # type: ignore[assignment]
            body = json.dumps(baseline_intake()).encode()
            posts = [
                c.post("/screenings", params=p, content=body, headers=JSON)
                for p in ({"dry_run": "true"},) * LANES + ({"dry_run": "true"}, {}, {}, {"dry_run": "true"})
            ]
            firsts = await _occupy_lanes(sizes, iter(posts[:LANES]).__next__)
            rest = [asyncio.ensure_future(p) for p in posts[LANES:]]
            await asyncio.sleep(0.2)
            gate.set()
            answers = [*[await f for f in firsts], *[await r for r in rest]]
            records = (await c.get("/screenings")).json()["items"]
            assert max(sizes) > 1
            for answer in answers:
                assert answer.status_code == 500
                assert answer.json()["code"] == "NS301"
                assert not {"verdict", "decision_id", "findings"} & set(answer.json())
            assert records == [], "nothing stored for a failed screening"
            assert svc.engine_failure is not None, "the failure is latched: /ready fails"

    run_async(scenario())


def test_a_request_whose_client_left_is_not_screened(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _held_service(tmp_path) as (svc, sizes, gate, _c):
            body = json.dumps(baseline_intake()).encode()
            waiting = [svc.queue.screen(body, "application/json", store=False) for _ in range(LANES + 2)]
            firsts = await _occupy_lanes(sizes, iter(waiting[:LANES]).__next__)
            left, stays = (asyncio.ensure_future(w) for w in waiting[LANES:])
            await asyncio.sleep(0.05)
            left.cancel()
            gate.set()
            assert [(await f).result.verdict for f in firsts] == ["clear"] * LANES
            assert (await stays).result.verdict == "clear"
            assert left.cancelled()
            assert sizes == [1] * LANES + [1], "the cancelled body was dropped from the next hand-over"

    run_async(scenario())
