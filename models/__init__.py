"""Shared by the edge and the cloud: the MQTT wire contract and the cry detector."""
