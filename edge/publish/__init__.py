"""Getting device messages to the broker: sequence numbers and the MQTT client."""
