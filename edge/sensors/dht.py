"""DHT22 / DHT11 temperature and humidity sensor on a Raspberry Pi GPIO pin.

Uses Adafruit's ``adafruit-circuitpython-dht`` (the ``pi`` extra). Its modules, ``adafruit_dht``
and Blinka's ``board``, are imported inside the constructor, never at module import time: they are
absent or noisy on a machine without GPIO (on a PC ``board`` prints platform warnings and has no
pins), and importing this module must stay harmless everywhere (tests, ``--help``, the demo).

How the library behaves, and what this adapter does about it:

- A read is a bit-banged or PulseIn-timed exchange that fails routinely (checksum, short buffer,
  "sensor not found"): the library raises ``RuntimeError``. That is a counted miss, translated to
  ``SensorReadError``; ``ClimateSampler`` retries on its next tick.
- ``temperature`` and ``humidity`` each call ``measure()``, which returns the *cached* values when
  called again within 2 s. Reading both properties back to back therefore yields one consistent
  measurement; it also means the caller must not read faster than every 2 s, or it gets the old
  values again (``ClimateSampler``'s minimum interval takes care of that). Before the first
  successful measurement the cache holds ``None``: also a ``SensorReadError``.
- With PulseIn the library starts a helper process that holds the GPIO line until ``exit()``; a
  second instance on the same pin then fails. Keep one instance per process and always ``close()``.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Literal

from edge.sensors.base import ClimateReading, SensorReadError

logger = logging.getLogger(__name__)

DhtModel = Literal["dht22", "dht11"]

# Class names in ``adafruit_dht`` per model.
_DEVICE_CLASSES: dict[DhtModel, str] = {"dht22": "DHT22", "dht11": "DHT11"}


class DhtSetupError(RuntimeError):
    """The sensor could not be opened: library missing, unsupported board, GPIO line busy."""


class UnknownPinError(DhtSetupError, ValueError):
    """The configured pin name is not a pin of this board (a configuration error)."""


class DhtClimateSensor:
    """A ``ClimateSensor`` for a DHT22 or DHT11 whose data line is on a board pin such as ``"D4"``.

    ``use_pulseio``: ``None`` keeps the library's choice (PulseIn when Blinka provides it). Forcing
    ``False`` (bit-banging) or ``True`` is a known fix on some boards and OS releases, so it is
    exposed rather than hard-coded.
    """

    def __init__(self, model: DhtModel, pin: str, *, use_pulseio: bool | None = None) -> None:
        if model not in _DEVICE_CLASSES:
            raise ValueError(
                f"unknown DHT model {model!r}; expected one of {list(_DEVICE_CLASSES)}"
            )
        adafruit_dht = _import_hardware_module("adafruit_dht")
        board = _import_hardware_module("board")
        board_pin = _resolve_pin(board, pin)
        device_class = getattr(adafruit_dht, _DEVICE_CLASSES[model])
        kwargs: dict[str, bool] = {} if use_pulseio is None else {"use_pulseio": use_pulseio}
        try:
            self._device: Any = device_class(board_pin, **kwargs)
        except (RuntimeError, OSError, ValueError) as exc:
            # E.g. "Timed out waiting for PulseIn message. Make sure libgpiod is installed." or
            # the line still held by another process's PulseIn helper.
            raise DhtSetupError(f"could not open {model.upper()} on pin {pin}: {exc}") from exc
        self._model = model
        self._pin = pin
        logger.info("opened %s on pin %s", model.upper(), pin)

    def read(self) -> ClimateReading:
        try:
            # Both properties come from one measurement: the second call hits the 2 s cache.
            temperature = self._device.temperature
            humidity = self._device.humidity
        except RuntimeError as exc:
            raise SensorReadError(f"{self._model.upper()} on {self._pin}: {exc}") from exc
        if temperature is None or humidity is None:
            raise SensorReadError(f"{self._model.upper()} on {self._pin}: no measurement yet")
        return ClimateReading(float(temperature), float(humidity))

    def close(self) -> None:
        # Stops the PulseIn helper process that would otherwise keep the GPIO line busy.
        self._device.exit()


def _import_hardware_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except (ImportError, NotImplementedError, RuntimeError) as exc:
        # Blinka raises NotImplementedError (not ImportError) for a board it does not know.
        raise DhtSetupError(
            f"cannot import {name!r} ({exc}); install the 'pi' extra on a Raspberry Pi"
        ) from exc


def _resolve_pin(board: Any, name: str) -> Any:
    """``"D4"`` -> ``board.D4``; anything that is not a public pin constant is refused."""
    pin_names = sorted(
        (attr for attr in dir(board) if attr[:1] == "D" and attr[1:].isdigit()),
        key=lambda attr: int(attr[1:]),
    )
    # Only upper-case public names are pins (D4, SCL, MOSI); this also keeps a typo such as
    # "board_id" or "__name__" from resolving to something that is not a pin at all.
    if name.isidentifier() and name.isupper() and hasattr(board, name):
        return getattr(board, name)
    available = ", ".join(pin_names) if pin_names else "none (this board has no GPIO pins)"
    raise UnknownPinError(f"unknown board pin {name!r}; pins on this board: {available}")
