"""A family teaches its monitor one sound, through every real part.

The edge agent (a real ``nursery-edge run`` process, the shipped cascade, a replayed microphone)
hears a sound and the parents get a ``CRY_DETECTED`` alarm. A caregiver presses "Not a cry"
(``POST /alerts/{id}/not-a-cry``): the API process publishes the home's list, retained, through
Mosquitto; the running device applies it, keeps it, and says so in its status, which the
collector stores and the API shows. The agent is restarted (the list must survive it) and the
same sound comes again: it is recorded as ``CRY_IGNORED`` (no alarm) naming the marked episode,
while a real cry after it still raises ``CRY_DETECTED``. "Undo" empties the device's list.

The marked sound is the test clip of a fan with a faint cry under it, a sound the detector
alerts on (onset confidence about 0.4); which sound a family marks is theirs to choose, and
tests/benchmarks/bench_not_a_cry.py measures the rule on household sounds and cries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_alerts_across_api_processes import minted_claim_code, signup
from tests.harness.api_process import broker_settings, running_api
from tests.harness.collector import CollectorProcess
from tests.harness.edge_agent import EdgeAgentRunner
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.services import create_account, create_instance_account
from tests.harness.waiting import eventually

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
FAN, CRY = AUDIO / "fan_with_faint_cry.flac", AUDIO / "cry_donateacry.flac"
SECRET = "e2e-not-a-cry-secret-0123456789-abcdefghijklmnopq"
# Silence between the replayed files: more than the detector's offset (3 s) and cooldown (10 s),
# so the cry after the fan is an episode of its own.
GAP_S = 15.0


@pytest.fixture
def api_with_broker(database_url: str, mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[str]:
    """One `nursery-cloud api` process that publishes to devices with its own broker account."""
    account = create_instance_account(mosquitto, "api", f"nac-{uuid.uuid4().hex[:8]}")
    with running_api(
        database_url, SECRET, tmp_path, env=broker_settings(mosquitto, account)
    ) as url:
        yield url


async def alerts_of(http: httpx.AsyncClient, headers: dict[str, str], kind: str) -> list[Any]:
    answer = await http.get("/alerts", headers=headers, params={"kind": kind})
    assert answer.status_code == 200, answer.text
    return list(answer.json())


@pytest.mark.slow
async def test_a_sound_marked_not_a_cry_is_ignored_on_the_device_and_a_cry_still_alarms(
    database_url: str,
    mosquitto: MosquittoBroker,
    api_with_broker: str,
    start_collector: Callable[..., CollectorProcess],
    tmp_path: Path,
) -> None:
    device_id = f"nursery-{uuid.uuid4().hex[:8]}"
    code = minted_claim_code(database_url, device_id)
    start_collector(database_url, f"e2e-not-a-cry-{device_id}", "")
    http = httpx.AsyncClient(base_url=api_with_broker, timeout=30)
    try:
        _, owner_token = await signup(http, api_with_broker, "Owner")
        owner = {"Authorization": f"Bearer {owner_token}"}
        claimed = await http.post("/devices/claim", headers=owner, json={"claim_code": code})
        assert claimed.is_success, claimed.text
        # The cloud's own cooldown would swallow the second alarm of this short test.
        tuned = await http.put(
            f"/devices/{device_id}/settings",
            headers=owner,
            json={"nursery": {"alarm_cooldown_s": 0}},
        )
        assert tuned.status_code == 200, tuned.text
        account = create_account(mosquitto, device_id)

        # 1. The fan: an alarm, which a caregiver marks "not a cry".
        workdir = tmp_path / "device"
        workdir.mkdir()
        first_run = EdgeAgentRunner(workdir, mosquitto, account, audio_files=[FAN])
        agent = first_run.start()
        try:
            [alarm] = await eventually(lambda: alerts_of(http, owner, "CRY_DETECTED"), 90)
            marked_episode = alarm["details"]["episode_id"]
            marked = await http.post(f"/alerts/{alarm['id']}/not-a-cry", headers=owner)
            assert marked.status_code == 200, marked.text
            assert marked.json()["delivery"] == "sent"
            assert [m["episode_id"] for m in marked.json()["marks"]] == [marked_episode]

            status = first_run.wait_for_status(
                lambda doc: (doc.get("ignore_list") or {}).get("size") == 1, timeout_s=30
            )
            assert status["ignore_list"]["revision"] == marked.json()["revision"]

            async def cloud_sees_the_list() -> bool:
                device = (await http.get(f"/devices/{device_id}", headers=owner)).json()
                reported = (device.get("ignore_list") or {}).get("device") or {}
                return bool(reported.get("size") == 1)

            assert await eventually(cloud_sees_the_list, 30), "status with the list"
        finally:
            assert agent.stop_cleanly(), agent.output()

        # 2. Restarted (the list must survive it): the fan again, then a real cry.
        second_run = EdgeAgentRunner(
            workdir,
            mosquitto,
            account,
            audio_files=[FAN, CRY],
            audio_options={"gap_s": GAP_S},
        )
        second_run.runs = first_run.runs  # its own log file
        agent = second_run.start()
        try:

            async def ignored_then_cried() -> bool:
                ignored = await alerts_of(http, owner, "CRY_IGNORED")
                return bool(ignored) and len(await alerts_of(http, owner, "CRY_DETECTED")) == 2

            assert await eventually(ignored_then_cried, 120), agent.output()
            [ignored] = await alerts_of(http, owner, "CRY_IGNORED")
            assert ignored["details"]["ignored"]["like_episode_id"] == marked_episode
            assert ignored["details"]["ignored"]["similarity"] >= 0.5
            assert "not a cry" in ignored["message"]
            cries = await alerts_of(http, owner, "CRY_DETECTED")
            assert cries[0]["details"]["episode_id"] > ignored["details"]["episode_id"]
            assert "ignored" not in cries[0]["details"] or not cries[0]["details"]["ignored"]

            episodes = (await http.get(f"/devices/{device_id}/episodes", headers=owner)).json()
            by_id = {episode["episode_id"]: episode for episode in episodes}
            assert by_id[marked_episode]["not_a_cry"] is not None
            assert by_id[ignored["details"]["episode_id"]]["ignored"]["like_episode_id"] == (
                marked_episode
            )

            # 3. Undo, from the ignored episode: the device's list is empty again.
            undone = await http.delete(
                f"/devices/{device_id}/ignored-sounds/{marked_episode}", headers=owner
            )
            assert undone.status_code == 200, undone.text
            assert undone.json()["marks"] == []
            status = second_run.wait_for_status(
                lambda doc: (
                    (doc.get("ignore_list") or {}).get("revision") == undone.json()["revision"]
                ),
                timeout_s=30,
            )
            assert status["ignore_list"]["size"] == 0
        finally:
            assert agent.stop_cleanly(), agent.output()
    finally:
        await http.aclose()
