"""Hardware ports and their back-ends: they turn hardware into events, and decide nothing."""
