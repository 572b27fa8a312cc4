"""The site controller: MQTT ingest, store, relay to the registry, roster, site-manager commands."""
