"""Climate sensors behind one small interface, and the sampler that makes them dependable.

``edge.sensors.dht`` (the real DHT22/DHT11) is not imported here: it is imported only when the
configuration asks for it, so this package stays importable on machines without GPIO.
"""

from edge.sensors.base import ClimateReading, ClimateSensor, SensorReadError
from edge.sensors.sampler import ClimateSampler, ClimateStats, SensorRange
from edge.sensors.simulated import SimulatedClimateSensor

__all__ = [
    "ClimateReading",
    "ClimateSampler",
    "ClimateSensor",
    "ClimateStats",
    "SensorRange",
    "SensorReadError",
    "SimulatedClimateSensor",
]
