"""A stand-in for NSSO's PresenceRegistration v1 service (tests and demo only).

It serves the same SOAP contract as the real service, checks each item like the real one
would (as far as DOMAIN.md section 4 tells), validates asynchronously after a delay, keeps its
state in SQLite, and can inject faults on request.
"""
