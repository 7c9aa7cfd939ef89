"""Central's own calendar (its office-hours alerts, 迟到 and 空窗) follows the holiday arrangement it published,
also after a restart."""

from __future__ import annotations

from datetime import date

from services.central.app import CentralApp
from services.central.downlink import load_published
from tests.integration.central_fixtures import (  # the fixture, by its name
    PREFIX,
    CentralEnv,
    central_env_fixture,  # noqa: F401 - pytest finds the fixture by its name in this module
)

EXTRA_DAY_OFF = date(2027, 2, 10)  # 正月初五, a Wednesday: off only by the arrangement, not by law
MAKE_UP_SATURDAY = date(2027, 2, 20)


async def test_a_published_arrangement_moves_centrals_working_days_and_survives_a_restart(
        central_env: CentralEnv) -> None:
    """Before the publish 2027-02-10 is a working day at central (statutory days only) and 02-20 a Saturday off;
    after it, central judges late starts and empty windows by the arrangement, and a restarted central does too."""
    env = central_env
    assert env.app.calendar.is_workday(EXTRA_DAY_OFF) and not env.app.calendar.is_workday(MAKE_UP_SATURDAY)
    body = {"holidays": ["2027-02-09", "2027-02-10", "2027-02-11"], "workdays": ["2027-02-20"],
            "source": "国办发明电〔2026〕7号"}
    r = await env.client.put(f"{PREFIX}/calendar/2027", json=body, headers=await env.supervisor())
    assert r.status_code == 200, r.text
    assert not env.app.calendar.is_workday(EXTRA_DAY_OFF) and env.app.calendar.is_workday(MAKE_UP_SATURDAY)
    restarted = CentralApp(env.app.pool, env.settings)
    assert await load_published(restarted) == 1
    assert not restarted.calendar.is_workday(EXTRA_DAY_OFF) and restarted.calendar.is_workday(MAKE_UP_SATURDAY)
