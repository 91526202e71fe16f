"""Where a class's boards publish on MQTT: the one definition of the topic layout.

shared/CONTRACTS.md fixes it: each board publishes its readings to
`iotkit/<class>/<board>/readings` (one reading line, as the sensor prints it) and its state,
retained, to `iotkit/<class>/<board>/status` (`online`, and `offline` as its MQTT last will).
The deploy (which tells each board its topics), the dashboard (which subscribes to them) and
the docs all take the names from here.
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "iotkit"
READINGS = "readings"
STATUS = "status"
ONLINE = "online"
OFFLINE = "offline"  # the board's last will: the broker publishes it when the board vanishes
# MQTT forbids these in a topic level a publisher names: wildcards, the level separator, NUL.
_FORBIDDEN = ("+", "#", "/", "\x00")


@dataclass(frozen=True)
class BoardTopic:
    """What a received topic says: which class, which board, and which kind of message."""

    class_name: str
    board: str
    kind: str  # READINGS or STATUS


def level_problem(name: str) -> str | None:
    """Why `name` cannot be one level of a topic (a class or board name), or None."""
    if not name or not name.strip():
        return "it is empty"
    bad = [c for c in _FORBIDDEN if c in name]
    if bad:
        shown = ", ".join("NUL" if c == "\x00" else repr(c) for c in bad)
        return f"MQTT topics cannot hold {shown} in a name"
    if name != name.strip():
        return "it starts or ends with a space"
    return None


def readings_topic(class_name: str, board: str) -> str:
    return f"{ROOT}/{class_name}/{board}/{READINGS}"


def status_topic(class_name: str, board: str) -> str:
    return f"{ROOT}/{class_name}/{board}/{STATUS}"


def class_filters(class_name: str) -> list[str]:
    """The subscriptions that see every board of the class, readings and status."""
    return [f"{ROOT}/{class_name}/+/{READINGS}", f"{ROOT}/{class_name}/+/{STATUS}"]


def parse_topic(topic: str) -> BoardTopic | None:
    """`iotkit/<class>/<board>/<kind>` -> BoardTopic; None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != ROOT or parts[3] not in (READINGS, STATUS):
        return None
    if not parts[1] or not parts[2]:
        return None
    return BoardTopic(parts[1], parts[2], parts[3])
