"""The wiring model: what is connected to what, read from a Wokwi diagram.json.

Only the diagram loader lives here so far; the rules, the code scanner and the live probe build
on `Diagram`.
"""

from companion_app.wiring.diagram import (
    Connection,
    Diagram,
    DiagramError,
    Part,
    diagram_from_data,
    load_diagram,
    parse_diagram,
    split_endpoint,
)

__all__ = [
    "Connection",
    "Diagram",
    "DiagramError",
    "Part",
    "diagram_from_data",
    "load_diagram",
    "parse_diagram",
    "split_endpoint",
]
