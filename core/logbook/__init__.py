"""The logbook (sổ đầu bài số): entries, signatures from the apps, weekly close, compliance, verification."""
