"""The signing API for teachers' apps (see docs/api.md)."""
