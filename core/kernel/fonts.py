"""The font for Vietnamese text in documents: DejaVu Sans (covers every Vietnamese letter),
from Debian's fonts-dejavu-core or the copy that ships inside matplotlib. Never downloaded."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

CANDIDATES = ("/usr/share/fonts/truetype/dejavu/{name}.ttf",)


@lru_cache(maxsize=None)
def dejavu(name: str = "DejaVuSans") -> Path:
    for pattern in CANDIDATES:
        path = Path(pattern.format(name=name))
        if path.exists():
            return path
    import matplotlib

    path = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / f"{name}.ttf"
    if path.exists():
        return path
    raise FileNotFoundError(f"{name}.ttf not found: install the Debian package fonts-dejavu-core")
