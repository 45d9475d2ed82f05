"""`nursery-cloud push-keys`: prints a working key pair, adds it to an env file created 0600,
and never replaces a key already there (rotating it would invalidate every subscription)."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from cloud.cli import main
from cloud.push.keys import application_server_key
from cloud.push.settings import PushSettings
from tests.harness.processes import console_script


def printed_keys(output: str) -> dict[str, str]:
    lines = [line for line in output.splitlines() if line]
    assert [line.split("=", 1)[0] for line in lines] == [
        "NURSERY_VAPID_PRIVATE_KEY",
        "NURSERY_VAPID_PUBLIC_KEY",
    ]
    return dict(line.split("=", 1) for line in lines)


def test_it_prints_a_key_pair_the_api_accepts() -> None:
    done = subprocess.run(
        [console_script("nursery-cloud"), "push-keys"], capture_output=True, text=True, check=True
    )
    keys = printed_keys(done.stdout)
    assert (
        application_server_key(keys["NURSERY_VAPID_PRIVATE_KEY"])
        == keys["NURSERY_VAPID_PUBLIC_KEY"]
    )
    settings = PushSettings.from_env(
        {
            "NURSERY_VAPID_PRIVATE_KEY": keys["NURSERY_VAPID_PRIVATE_KEY"],
            "NURSERY_VAPID_SUBJECT": "mailto:ops@example.org",
        }
    )
    assert settings is not None


def test_the_help_warns_that_rotating_invalidates_every_subscription() -> None:
    shown = subprocess.run(
        [console_script("nursery-cloud"), "push-keys", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "invalidates every browser subscription" in shown
    listed = subprocess.run(
        [console_script("nursery-cloud"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "push-keys" in listed


def test_a_new_env_file_is_created_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / ".env"
    assert main(["push-keys", "--env-file", str(env_file)]) == 0
    printed = printed_keys(capsys.readouterr().out)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert printed_keys(env_file.read_text()) == printed


def test_keys_are_added_to_an_existing_file_filling_an_empty_placeholder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / ".env"
    # As copied from .env.example: the key's line is there, empty; no newline at the end.
    env_file.write_text("JWT_SECRET=abc\nNURSERY_VAPID_PRIVATE_KEY=\nNURSERY_VAPID_SUBJECT=x")
    env_file.chmod(0o600)
    assert main(["push-keys", "--env-file", str(env_file)]) == 0
    printed = printed_keys(capsys.readouterr().out)
    assert env_file.read_text().splitlines() == [
        "JWT_SECRET=abc",
        f"NURSERY_VAPID_PRIVATE_KEY={printed['NURSERY_VAPID_PRIVATE_KEY']}",
        "NURSERY_VAPID_SUBJECT=x",
        f"NURSERY_VAPID_PUBLIC_KEY={printed['NURSERY_VAPID_PUBLIC_KEY']}",
    ]
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_a_file_readable_by_others_gets_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("JWT_SECRET=abc\n")
    env_file.chmod(0o644)
    assert main(["push-keys", "--env-file", str(env_file)]) == 0
    assert "chmod 600" in capsys.readouterr().err


@pytest.mark.parametrize(
    "existing",
    ["NURSERY_VAPID_PRIVATE_KEY=abc", "export NURSERY_VAPID_PRIVATE_KEY='abc'",
     "NURSERY_VAPID_PRIVATE_KEY = abc"],
)  # fmt: skip
def test_an_existing_key_is_never_replaced(
    tmp_path: Path, existing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / ".env"
    before = f"JWT_SECRET=abc\n{existing}\n"
    env_file.write_text(before)
    assert main(["push-keys", "--env-file", str(env_file)]) == 2
    captured = capsys.readouterr()
    assert "has a NURSERY_VAPID_PRIVATE_KEY already" in captured.err
    assert "invalidates every browser subscription" in captured.err
    # Nothing printed (no key that is not in use) and nothing changed.
    assert captured.out == ""
    assert env_file.read_text() == before


def test_the_refusal_through_the_installed_command(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("NURSERY_VAPID_PRIVATE_KEY=abc\n")
    done = subprocess.run(
        [console_script("nursery-cloud"), "push-keys", "--env-file", str(env_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert str(env_file) in done.stderr


def test_an_env_file_in_a_missing_folder_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["push-keys", "--env-file", str(tmp_path / "missing" / ".env")]) == 2
    assert "cannot create" in capsys.readouterr().err
