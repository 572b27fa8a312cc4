"""The central NSSO PresenceRegistration v1 service: SOAP codec, client, errors."""
