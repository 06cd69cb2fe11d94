"""Paging (phân trang): lists are paged in the database, never sent whole to a browser."""
from __future__ import annotations

PAGE = 50
