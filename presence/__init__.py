"""The domain every part of sitegate shares: identifiers, the check-in event, MQTT topics."""
