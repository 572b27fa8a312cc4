"""The site manager's web console: one more door onto the controller's store and ingest path.

Pages are thin (CONVENTIONS.md habit 16): a route checks its input, calls the function the
matching ``sitegate-controller`` command calls, and renders a template.
"""
