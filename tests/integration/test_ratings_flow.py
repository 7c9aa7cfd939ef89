"""Ratings service (好差评) against real NATS and PostgreSQL: invitations from real completed-service events,
one rating per service, clerks refused, the event with the invitation's window, clerk and matter."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg

from hallnet.embedded import with_parent_death
from shared.events.matters import CaseAccepted, CaseCompleted
from shared.events.queue import TicketCompleted
from tests.harness import Servers
from tests.harness import wait_healthy as harness_wait_healthy
from tests.integration.ratings_fixtures import PREFIX, start_ratings


async def test_completed_ticket_opens_one_invitation_and_its_rating_is_published(
        servers: Servers, site: str, database_url: str) -> None:
    """A real queue.ticket.completed opens an invitation on the window's device; the rating is 201 and its
    event carries window, clerk, matter and chain position but never the citizen's text."""
    async with start_ratings(servers, site, database_url) as env:
        ticket = await env.complete_ticket(window_no=3, staff_id="s003", matter_id="yl-txsq")
        inv = await env.invitation(3, ticket)
        assert inv["subject"] == "ticket" and inv["scale"] == "national5" and inv["staff_id"] == "s003"
        assert [lv["label"] for lv in inv["levels"]] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
        r = await env.rate(inv["id"], {"level": 5, "indicators": {"efficiency": 5, "skill": 4, "attitude": 5},
                                       "text": "张同志很耐心，电话13812341234"})
        assert r.status_code == 201, r.text
        rating = r.json()
        assert rating["level"] == 5 and rating["chain_seq"] == 1 and rating["window_no"] == 3
        assert "text" not in rating
        assert (await env.client.get(f"{PREFIX}/windows/3/invitation")).status_code == 204
        events = await env.events(expect=1)
        assert [e.type for e in events] == ["ratings.rating.submitted"]
        data = events[0].data
        assert data["window_no"] == 3 and data["staff_id"] == "s003" and data["matter_id"] == "yl-txsq"
        assert data["subject"] == "ticket" and data["subject_id"] == str(ticket) and data["channel"] == "onsite"
        assert data["chain_seq"] == 1 and data["chain_hash"] == rating["chain_hash"]
        assert "张同志" not in events[0].to_bytes().decode() and "1381234" not in events[0].to_bytes().decode()


async def test_duplicate_delivery_of_the_same_event_opens_one_invitation(
        servers: Servers, site: str, database_url: str) -> None:
    """The same ticket completed twice (two events) still has one invitation (一次一评)."""
    async with start_ratings(servers, site, database_url) as env:
        tid = uuid.uuid4()
        for _ in range(2):
            await env.publish(TicketCompleted(ticket_id=tid, number="A002", queue_id=uuid.uuid4(), matter_id=None,
                                              window_no=2, staff_id="s002", waited_s=1, served_s=2))
        marker = await env.complete_ticket(window_no=5)
        await env.invitation(5, marker)
        assert await env.app.pool.fetchval("SELECT count(*) FROM invitations WHERE subject_id = $1", tid) == 1
        assert await env.app.pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'ratings'") == 3


async def test_concurrent_duplicate_submissions_leave_exactly_one_rating(
        servers: Servers, site: str, database_url: str) -> None:
    """Twelve devices submitting for one service at once: one 201, every other 409, one row, one event."""
    async with start_ratings(servers, site, database_url) as env:
        inv = await env.invitation(1, await env.complete_ticket(window_no=1))
        answers = await asyncio.gather(*(env.rate(inv["id"], {"level": 1 + i % 5}) for i in range(12)))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] + [409] * 11, [a.text for a in answers]
        assert await env.app.pool.fetchval("SELECT count(*) FROM ratings") == 1
        assert await env.app.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE subject LIKE '%ratings.rating.submitted'") == 1
        assert (await env.verify())["ok"]


async def test_a_clerk_cannot_rate(servers: Servers, site: str, database_url: str) -> None:
    """A clerk's token is refused with 403, a forged token with 401, and nothing is stored."""
    async with start_ratings(servers, site, database_url) as env:
        inv = await env.invitation(1, await env.complete_ticket(window_no=1))
        r = await env.rate(inv["id"], {"level": 5}, headers=env.clerk("s001", 1))
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        r = await env.rate(inv["id"], {"level": 5}, headers={"Authorization": "Bearer forged.token"})
        assert r.status_code == 401
        assert await env.app.pool.fetchval("SELECT count(*) FROM ratings") == 0
        assert (await env.rate(inv["id"], {"level": 5})).status_code == 201


async def test_bad_input_is_refused_with_a_message(servers: Servers, site: str, database_url: str) -> None:
    """A level off the scale, reasons on a good rating, unknown fields: 422; an unknown invitation: 404."""
    async with start_ratings(servers, site, database_url) as env:
        inv = await env.invitation(1, await env.complete_ticket(window_no=1))
        for body in ({"level": 7}, {"level": 5, "reasons": ["long_wait"]}, {"level": 2, "reasons": ["nope"]},
                     {"level": 5, "indicators": {"speed": 5}}, {"level": 5, "extra": 1}, {}):
            r = await env.rate(inv["id"], body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["message"]
        assert (await env.rate(str(uuid.uuid4()), {"level": 5})).status_code == 404
        r = await env.rate(inv["id"], {"level": 1, "reasons": ["long_wait", "bad_attitude"]})
        assert r.status_code == 201 and r.json()["reasons"] == ["long_wait", "bad_attitude"]


async def test_the_device_shows_only_the_latest_recent_service(servers: Servers, site: str, database_url: str) -> None:
    """The window's latest completed ticket is shown; after the configured minutes nothing is."""
    async with start_ratings(servers, site, database_url, ratings_invitation_minutes=5) as env:
        assert (await env.client.get(f"{PREFIX}/windows/2/invitation")).status_code == 204
        await env.invitation(2, await env.complete_ticket(window_no=2))
        second = await env.complete_ticket(window_no=2)
        await env.invitation(2, second)
        env.clock.advance(minutes=6)
        assert (await env.client.get(f"{PREFIX}/windows/2/invitation")).status_code == 204


async def test_seeds_scale_as_a_site_option(servers: Servers, site: str, database_url: str) -> None:
    """With the seeds' four-level scale the device shows 非常满意/满意/一般/不满意 and 5 is refused."""
    async with start_ratings(servers, site, database_url, ratings_scale="seeds4") as env:
        inv = await env.invitation(1, await env.complete_ticket(window_no=1))
        assert [lv["label"] for lv in inv["levels"]] == ["非常满意", "满意", "一般", "不满意"]
        assert (await env.rate(inv["id"], {"level": 5})).status_code == 422
        assert (await env.rate(inv["id"], {"level": 4})).status_code == 201


async def test_completed_case_opens_an_online_invitation(servers: Servers, site: str, database_url: str) -> None:
    """一事一评: a completed case opens one invitation with the window, clerk and matter of its acceptance."""
    async with start_ratings(servers, site, database_url) as env:
        case_id = uuid.uuid4()
        await env.publish(CaseAccepted(case_id=case_id, matter_id="gs-rdsq", kind="promised", window_no=6,
                                       staff_id="s006", time_limit_days=10, due_at=None))
        await env.publish(CaseCompleted(case_id=case_id, result="approved", working_days_used=3, overdue=False))
        async with asyncio.timeout(10):
            while (inv_id := await env.app.pool.fetchval(
                    "SELECT id FROM invitations WHERE subject_id = $1", case_id)) is None:
                await asyncio.sleep(0.05)
        inv = (await env.client.get(f"{PREFIX}/invitations/{inv_id}")).json()
        assert inv["subject"] == "case" and inv["channel"] == "online" and inv["window_no"] == 6
        r = await env.rate(str(inv_id), {"level": 4})
        assert r.status_code == 201 and r.json()["matter_id"] == "gs-rdsq" and r.json()["staff_id"] == "s006"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    argv = with_parent_death([sys.executable, "-m", "services.ratings"])
    return subprocess.Popen(argv, env=env, stdout=log.open("ab"),  # noqa: S603  (our own service)
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def test_service_starts_with_the_standard_settings(servers: Servers, site: str, tmp_path: Path) -> None:
    """``python -m services.ratings`` with only the variables hallnet up sets answers its health check."""
    port = _free_port()
    name = f"{site}_ratings"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALLNET_") and k not in ("DATABASE_URL",
                                                                                               "NATS_URL")}
    env.update(HALLNET_SITE=site, HALLNET_SITE_NAME="测试大厅", HALLNET_SERVICE="ratings", NATS_URL=servers.nats_url,
               DATABASE_URL=servers.dsn(name), HALLNET_HTTP_HOST="127.0.0.1", HALLNET_HTTP_PORT=str(port),
               HALLNET_TOKEN_SECRET="x", HALLNET_SEED_FILE=str(tmp_path / "none.json"),
               HALLNET_ENFORCE_OFFICE_HOURS="false", HALLNET_LOG_FORMAT="json")
    proc = _start(env, tmp_path / "ratings.log")
    try:
        await harness_wait_healthy(f"http://127.0.0.1:{port}", "ratings", proc)
    finally:
        await asyncio.to_thread(_stop, proc)
        admin = await asyncpg.connect(servers.pg_admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
