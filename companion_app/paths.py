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


def config_dir(kind: str) -> Path:
    """The user's config folder for `kind` ("deploy": the saved deploy settings)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP)) / kind


def data_dir(kind: str) -> Path:
    """The user's data folder for `kind` ("virtual-boards", "virtual-chips": their flash)."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP)) / kind
