"""Climate sensors behind one small interface."""

from edge.sensors.base import ClimateReading, ClimateSensor, SensorReadError
from edge.sensors.simulated import SimulatedClimateSensor

__all__ = ["ClimateReading", "ClimateSensor", "SensorReadError", "SimulatedClimateSensor"]
