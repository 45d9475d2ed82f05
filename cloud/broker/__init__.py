"""The broker side of onboarding: device accounts in Mosquitto's password file, and the
development certificates for its TLS listener."""
