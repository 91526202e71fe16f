"""device_scripts/manifest.json, read once: which templates and libraries exist, what each needs.

A leaf of the engine: the deploy, the RAM rule (template_fit.py) and the library cache all read
the manifest here, so none of them has to import another to know what a template needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from companion_app.device.errors import DeployUsageError

__all__ = ["manifest", "resolve_templates", "scripts_dir", "template_info", "template_names"]


def scripts_dir() -> Path:
    """The device_scripts folder installed with the package."""
    from device_scripts import scripts_dir as installed

    return installed()


@lru_cache(maxsize=1)
def manifest() -> dict[str, Any]:
    return json.loads((scripts_dir() / "manifest.json").read_text(encoding="utf-8"))


def template_names() -> list[str]:
    return list(manifest()["templates"])


def template_info(name: str) -> dict[str, Any]:
    templates = manifest()["templates"]
    if name not in templates:
        raise DeployUsageError(_unknown_template_text(name))
    return dict(templates[name], name=name)


def _unknown_template_text(name: str) -> str:
    return f"Unknown template {name!r}. Templates: {', '.join(template_names())}."


def resolve_templates(names: Iterable[str]) -> list[str]:
    """The templates with what they need, needs first, each once: ["web"] -> wifi, sensor, web."""
    templates = manifest()["templates"]
    order: list[str] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name not in templates:
            raise DeployUsageError(_unknown_template_text(name))
        if name in order or name in trail:
            return
        for need in templates[name].get("needs", []):
            visit(need, trail + (name,))
        order.append(name)

    wanted = [n.strip() for n in names if n and n.strip()]
    if not wanted:
        raise DeployUsageError(f"Pick at least one template: {', '.join(template_names())}.")
    for name in wanted:
        visit(name, ())
    return order
