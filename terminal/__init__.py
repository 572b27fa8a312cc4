"""Firmware of one turnstile: drivers, flows, outbox, MQTT link, config, entry point."""
