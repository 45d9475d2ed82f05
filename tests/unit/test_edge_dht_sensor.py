"""The DHT adapter resolves pins, translates the library's errors and releases the line.

There is no GPIO here, so ``adafruit_dht`` and ``board`` are replaced in ``sys.modules`` by fakes
that behave like the library: properties that raise ``RuntimeError`` or hold ``None``, ``exit()``.
"""

from __future__ import annotations

import subprocess
import sys
import types
from typing import Any

import pytest

from edge.sensors import ClimateReading, SensorReadError
from edge.sensors.dht import DhtClimateSensor, DhtSetupError, UnknownPinError


class FakePin:
    def __init__(self, name: str) -> None:
        self.name = name


class FakeDevice:
    """Like ``adafruit_dht.DHTBase``: each property read may raise, or return None before the
    first good measurement."""

    instances: list[FakeDevice] = []  # noqa: RUF012 - per-test registry, reset by the fixture
    fail_on_open: Exception | None = None

    def __init__(self, pin: FakePin, **kwargs: Any) -> None:
        if FakeDevice.fail_on_open is not None:
            raise FakeDevice.fail_on_open
        self.pin = pin
        self.kwargs = kwargs
        self.measurements: list[tuple[float | None, float | None] | Exception] = []
        self.exits = 0
        self._current: tuple[float | None, float | None] = (None, None)
        FakeDevice.instances.append(self)

    def _measure(self) -> None:
        outcome = self.measurements.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        self._current = outcome

    @property
    def temperature(self) -> float | None:
        self._measure()
        return self._current[0]

    @property
    def humidity(self) -> float | None:
        # Within 2 s of the temperature read the real library returns the cached measurement.
        return self._current[1]

    def exit(self) -> None:
        self.exits += 1


class FakeDHT22(FakeDevice):
    pass


class FakeDHT11(FakeDevice):
    pass


@pytest.fixture
def board(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    fake_board = types.ModuleType("board")
    fake_board.D4 = FakePin("D4")  # type: ignore[attr-defined]
    fake_board.D17 = FakePin("D17")  # type: ignore[attr-defined]
    fake_board.SCL = FakePin("SCL")  # type: ignore[attr-defined]
    fake_board.board_id = "RASPBERRY_PI_4B"  # type: ignore[attr-defined]
    fake_dht = types.ModuleType("adafruit_dht")
    fake_dht.DHT22 = FakeDHT22  # type: ignore[attr-defined]
    fake_dht.DHT11 = FakeDHT11  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "board", fake_board)
    monkeypatch.setitem(sys.modules, "adafruit_dht", fake_dht)
    monkeypatch.setattr(FakeDevice, "instances", [])
    monkeypatch.setattr(FakeDevice, "fail_on_open", None)
    return fake_board


def opened(sensor: DhtClimateSensor) -> FakeDevice:
    assert len(FakeDevice.instances) == 1
    device = FakeDevice.instances[0]
    wrapped = sensor._device is device  # a separate name: `is Any` would widen `device`
    assert wrapped
    return device


def test_opens_the_model_on_the_named_pin(board: types.ModuleType) -> None:
    sensor = DhtClimateSensor("dht22", "D17")
    device = opened(sensor)
    assert type(device) is FakeDHT22
    assert device.pin is board.D17
    assert device.kwargs == {}  # the library's own PulseIn choice


def test_dht11_and_forced_bitbanging(board: types.ModuleType) -> None:
    device = opened(DhtClimateSensor("dht11", "D4", use_pulseio=False))
    assert type(device) is FakeDHT11
    assert device.pin is board.D4
    assert device.kwargs == {"use_pulseio": False}


@pytest.mark.parametrize("pin", ["D5", "d4", "GPIO4", "board_id", "__name__", ""])
def test_an_unknown_pin_is_a_clear_configuration_error(board: types.ModuleType, pin: str) -> None:
    with pytest.raises(UnknownPinError, match=r"pins on this board: D4, D17") as caught:
        DhtClimateSensor("dht22", pin)
    assert isinstance(caught.value, ValueError)
    assert FakeDevice.instances == []


def test_an_unknown_model_is_refused(board: types.ModuleType) -> None:
    with pytest.raises(ValueError, match="unknown DHT model"):
        DhtClimateSensor("dht21", "D4")  # type: ignore[arg-type]


def test_reads_one_measurement(board: types.ModuleType) -> None:
    sensor = DhtClimateSensor("dht22", "D4")
    opened(sensor).measurements = [(21.3, 48.7), (22, 50)]
    assert sensor.read() == ClimateReading(21.3, 48.7)
    reading = sensor.read()
    assert reading == ClimateReading(22.0, 50.0)
    assert isinstance(reading.temperature_c, float)


def test_library_runtime_errors_become_sensor_read_errors(board: types.ModuleType) -> None:
    sensor = DhtClimateSensor("dht22", "D4")
    checksum = RuntimeError("Checksum did not validate. Try again.")
    opened(sensor).measurements = [checksum, (20.0, 40.0)]
    with pytest.raises(SensorReadError, match="Checksum did not validate") as caught:
        sensor.read()
    assert caught.value.__cause__ is checksum
    assert sensor.read() == ClimateReading(20.0, 40.0)


@pytest.mark.parametrize("measurement", [(None, None), (20.0, None), (None, 40.0)])
def test_a_missing_value_is_a_sensor_read_error(
    board: types.ModuleType, measurement: tuple[float | None, float | None]
) -> None:
    sensor = DhtClimateSensor("dht22", "D4")
    opened(sensor).measurements = [measurement]
    with pytest.raises(SensorReadError, match="no measurement"):
        sensor.read()


def test_close_releases_the_line(board: types.ModuleType) -> None:
    sensor = DhtClimateSensor("dht22", "D4")
    sensor.close()
    assert opened(sensor).exits == 1


def test_a_failure_to_open_is_a_setup_error(board: types.ModuleType) -> None:
    FakeDevice.fail_on_open = RuntimeError("Timed out waiting for PulseIn message.")
    with pytest.raises(DhtSetupError, match="could not open DHT22 on pin D4: Timed out"):
        DhtClimateSensor("dht22", "D4")


@pytest.mark.parametrize("module", ["board", "adafruit_dht"])
def test_missing_hardware_libraries_are_a_setup_error(
    board: types.ModuleType, monkeypatch: pytest.MonkeyPatch, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(DhtSetupError, match=f"cannot import '{module}'"):
        DhtClimateSensor("dht22", "D4")


def test_importing_the_sensors_does_not_import_the_hardware_libraries() -> None:
    code = (
        "import sys, edge.sensors, edge.sensors.dht; "
        "loaded = {'board', 'adafruit_dht'} & set(sys.modules); "
        "assert not loaded, loaded"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
