"""Tools → "Check wiring of this script": the editor's text against the board and the wiring,
and back from a finding to its line in the editor.

The front editor's text is checked as it is, saved or not, against the board from the options
and the IoT Wiring view's wiring (companion_app.gui.wiring_panel.run_wiring_check, the same
check the companion runs). The editor that was checked is remembered, so a click on a finding
goes back to that editor even after another one came to the front; a finding in a file that
is not open opens it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from thonnycontrib.iotkit import settings
from thonnycontrib.iotkit.views import IotViews

log = logging.getLogger(__name__)

NO_EDITOR = (
    "Open or write a script in the editor first: Check wiring of this script reads the "
    "editor that is in front (saved or not)."
)
GONE = "The script of this finding is not open in the editor any more."


@dataclass
class Checked:
    """The editor text that "Check wiring of this script" looked at, to jump back into it."""

    editor: Any
    name: str
    findings: list[Any] = field(default_factory=list)


class EditorCheck:
    """Checks the front editor and jumps to a finding's line; Tk thread."""

    def __init__(self, views: IotViews, report: Callable[..., None]) -> None:
        self._views = views
        self._report = report
        self.checked: Checked | None = None

    def check(self) -> list[Any]:
        """Check the front editor's text (saved or not) against the board from the options;
        show the IoT Wiring view with the findings and return them."""
        editor = _current_editor()
        self._views.show("Wiring")
        panel = self._views.panel("Wiring")
        view = self._views.view("Wiring")
        if editor is None:
            self.checked = None
            if view is not None:
                view.show_status(NO_EDITOR, error=True)
            else:
                self._report(NO_EDITOR)
            return []
        text = editor.get_content()
        name = _editor_name(editor)
        board = settings.board_id()
        from companion_app.gui.wiring_panel import run_wiring_check

        wiring = json.loads(json.dumps(panel.wiring)) if panel is not None else None
        source = panel.source if panel is not None else ""
        _board, _diagram, findings = run_wiring_check(
            board, wiring, source, [], texts=[(name, text)]
        )
        self.checked = Checked(editor, name, list(findings))
        if panel is not None:
            panel.check_text(text, name, board_id=board)
        if view is not None:
            n = sum(1 for f in findings if f.line is not None)
            view.show_status(
                f"Checked {name} for {board}: {len(findings)} finding"
                f"{'s' * (len(findings) != 1)}"
                + (f"; click one to go to its line ({n} in the script)." if n else ".")
            )
        return list(findings)

    def goto_finding(self, index: int) -> bool:
        """Move the editor's cursor to the line of finding `index` of the last editor check."""
        checked = self.checked
        if checked is None or not 0 <= index < len(checked.findings):
            return False
        return self.goto_line(checked.findings[index])

    def goto_line(self, finding: Any) -> bool:
        """Show the editor of `finding` (the one checked, or its file) with the cursor on its
        line; False, said in the IoT Wiring view, when that script is gone."""
        line = getattr(finding, "line", None)
        if not line:
            return False
        editor = None
        checked = self.checked
        where = str(getattr(finding, "where", ""))
        if checked is not None and where.startswith(checked.name + ":"):
            editor = checked.editor if _editor_is_open(checked.editor) else None
        notebook = settings.workbench().get_editor_notebook()
        if editor is None:
            path = where.rsplit(":", 1)[0]
            if path and os.path.isfile(path):
                editor = notebook.show_file(path)
        if editor is None:
            self._report(GONE, view="Wiring")
            return False
        notebook.select(editor)
        text = editor.get_text_widget()
        text.mark_set("insert", f"{int(line)}.0")
        text.see(f"{int(line)}.0")
        editor.focus_set()
        text.focus_set()
        return True


def _current_editor() -> Any | None:
    try:
        return settings.workbench().get_editor_notebook().get_current_editor()
    except Exception:  # noqa: BLE001
        return None


def _editor_name(editor: Any) -> str:
    """The name findings say in their "where": the file name, or <untitled>."""
    filename = editor.get_filename()
    if not filename:
        return "<untitled>"
    if "::" in filename:  # a file on the board: "MicroPython device :: /main.py"
        return filename.split("::", 1)[1].strip()
    return filename


def _editor_is_open(editor: Any) -> bool:
    try:
        return editor in settings.workbench().get_editor_notebook().get_all_editors()
    except Exception:  # noqa: BLE001
        return False
