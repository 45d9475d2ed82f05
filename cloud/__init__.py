"""The Nursery cloud: the MQTT collector, storage and the parents' API."""
