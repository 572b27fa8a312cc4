"""The Belgian eID card: identity file parsing, the card protocol, PC/SC and fake readers."""
