"""The local demo: a broker, the collector, the API and a simulated device on one machine."""

from cloud.demo.runner import DemoOptions, run_demo

__all__ = ["DemoOptions", "run_demo"]
