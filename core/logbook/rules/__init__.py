"""Rules of the logbook: the signing window, the weekly close."""
