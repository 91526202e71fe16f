"""Where thonny-iotkit keeps its files on this computer (one place, so they stay together)."""

from __future__ import annotations

import os
from pathlib import Path

APP = "thonny-iotkit"


def cache_dir(kind: str, env_var: str, override: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder for `kind` ("firmware", "libs"): `override`, else $`env_var` (a lab
    share, say), else the user's cache directory."""
    if override is not None:
        return Path(override)
    env = os.environ.get(env_var)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP)) / kind
