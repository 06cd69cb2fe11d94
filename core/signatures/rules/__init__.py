"""Rules of signatures: when a certificate is valid."""
