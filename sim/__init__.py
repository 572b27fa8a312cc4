"""Stand-ins for the outside world: card emulator, QR frames, NSSO, broker, demo site."""
