"""A test-only Thonny plugin: runs a test's scenario inside real Thonny, on Tk's thread.

`tests/thonny_harness.py` puts the folder above ``thonnycontrib/`` on PYTHONPATH, so this module
joins the ``thonnycontrib`` namespace beside ``thonnycontrib.iotkit`` and Thonny loads it like
any other plug-in (last: see `load_order_key`). It does nothing unless ``IOTKIT_PROBE_SCENARIO``
is set:

- ``IOTKIT_PROBE_SCENARIO=timing``: note when the workbench was ready and when the backend first
  answered, then close Thonny (the start-time benchmark);
- ``IOTKIT_PROBE_SCENARIO=module:function`` (``thonny_scenarios:views_session``): import the
  module (the harness puts tests/ on PYTHONPATH too) and run ``function(params)``, a generator.
  Scenarios are ordinary functions in an ordinary module, so the linters read them and a
  traceback points at their real lines. A scenario reads top to bottom like a person's session;
  ``yield`` hands control back to Tk's event loop without blocking it:

      yield from until(backend_ready, 10, "the backend's prompt")   # look every 20 ms
      assert ..., "..."      # a failure ends the run; the test reports it with its traceback

  `until` is the one way a scenario waits: for a condition, with a deadline, never a fixed time
  (a fixed delay that is long enough on an idle machine is too short under load). Yielding a
  number (seconds) lets Tk run that long; only `until` and `settled` do that.

The scenario's helpers are this module's functions: `record` (read back as
``run.values[name]``), `until`, `settled` (with `steady` and `layout`), `focused`, `now`,
`shot`, `events`, `program_output`, `shell_text`, `backend_ready`, `menu_labels`, `invoke_menu`,
`open_editor`, `type_text`, `press_key`, `CONTROL`, `widget_info`, `on_screen`, `clipped`,
`overlapping_texts`, `descendants` and `internal_errors`.

Whatever happens, the result (recorded values, the scenario's traceback, Thonny's internal errors,
the workbench events seen, timings) is written to ``IOTKIT_PROBE_OUT/result.json`` and Thonny is
closed with ``destroy()``, so a test never waits on a modal dialog: `report_exception` is
replaced by a recorder, and a watchdog ends the run at ``IOTKIT_PROBE_TIMEOUT``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Generator, TypeVar

T = TypeVar("T")

T_IMPORT = time.time()

# Sorted after every other plug-in (Thonny sorts by this key, else by module name), so the
# plug-in under test has registered its views and commands when this one runs.
load_order_key = "zzzz_iotkit_probe"

#: How long `until` lets Tk run between two looks at its condition.
POLL_S = 0.02
#: How long a layout must stay the same to count as settled (several rounds of Tk's idle work).
SETTLE_S = 0.1

#: The probe of this Thonny (one per process), for the helpers the scenarios import.
_active: Probe | None = None


def _probe() -> Probe:
    if _active is None:
        raise RuntimeError("no scenario is running: the probe was not started by the harness")
    return _active


def _where(gen: Any) -> list[str]:
    """The lines a scenario is at now, down its ``yield from`` chain (for a timeout's report)."""
    lines = []
    while gen is not None and getattr(gen, "gi_frame", None) is not None:
        frame = gen.gi_frame
        lines.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        gen = gen.gi_yieldfrom
    return lines or ["(not started)"]


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


class Probe:
    def __init__(self, scenario: str, out_dir: Path) -> None:
        from thonny import get_workbench

        self.wb = get_workbench()
        self.scenario = scenario
        self.out = out_dir
        self.out.mkdir(parents=True, exist_ok=True)
        spawn = os.environ.get("IOTKIT_PROBE_SPAWN_TIME")
        self.t_spawn = float(spawn) if spawn else T_IMPORT
        self.timeout = float(os.environ.get("IOTKIT_PROBE_TIMEOUT", "60"))
        self.values: dict[str, Any] = {}
        self.times: dict[str, float] = {"probe_import": T_IMPORT - self.t_spawn}
        self.events: list[dict[str, Any]] = []
        self.output: list[tuple[str, str]] = []  # ProgramOutput chunks: (stream, data)
        self.internal_errors: list[str] = []
        self.shots: dict[str, dict[str, Any]] = {}
        self.error: str | None = None
        self.finished = False
        self.gen: Any = None

    # --- setting up -------------------------------------------------------------------------
    def install(self) -> None:
        wb = self.wb
        self.times["load_plugin"] = time.time() - self.t_spawn
        # Thonny shows internal errors in a modal dialog; a test records them instead.
        wb.report_exception = self._report_exception
        wb.bind("WorkbenchReady", self._on_ready, True)
        for name in ("ToplevelResponse", "BackendRestart", "BackendTerminated"):
            wb.bind(name, lambda e, n=name: self._on_event(n, e), True)
        wb.bind("ProgramOutput", self._on_output, True)

    def _report_exception(self, title: str = "Internal error") -> None:
        text = f"{title}\n{traceback.format_exc()}"
        self.internal_errors.append(text)
        print("iotkit_probe: Thonny reported an internal error:\n" + text, file=sys.stderr)

    def now(self) -> float:
        """Seconds since the test spawned Thonny."""
        return time.time() - self.t_spawn

    def _on_event(self, name: str, event: Any) -> None:
        item: dict[str, Any] = {"name": name, "t": self.now()}
        if name == "ToplevelResponse":
            item["welcome"] = bool(event.get("welcome_text"))
            item["command_name"] = event.get("command_name")
            if "backend_ready" not in self.times:
                self.times["backend_ready"] = item["t"]
                self.wb.after_idle(self._first_idle)
        elif name == "BackendRestart":
            item["full"] = bool(getattr(event, "full", False))
        self.events.append(item)

    def _first_idle(self) -> None:
        self.times.setdefault("first_idle", self.now())
        if self.scenario == "timing":
            self.finish()

    def _on_output(self, event: Any) -> None:
        self.output.append((str(getattr(event, "stream_name", "")), str(event.data)))

    def _on_ready(self, event: Any = None) -> None:
        self.times["workbench_ready"] = self.now()
        self.wb.after(int(self.timeout * 1000), self._watchdog)
        if self.scenario == "timing":
            return  # _first_idle closes Thonny
        try:
            self.gen = self._load_scenario(self.scenario)
        except BaseException:  # noqa: BLE001 - reported to the test
            self.error = traceback.format_exc()
            self.finish()
            return
        self.wb.after(0, self._step)

    def _load_scenario(self, name: str) -> Any:
        """``module:function`` imported and called with the test's params: the generator."""
        params_file = self.out / "params.json"
        params = json.loads(params_file.read_text(encoding="utf-8")) if params_file.exists() else {}
        module_name, _, func_name = name.partition(":")
        func = getattr(importlib.import_module(module_name), func_name)
        gen = func(params)
        if not inspect.isgenerator(gen):
            raise TypeError(f"the scenario {name} must be a generator function (use yield)")
        return gen

    # --- running the scenario ---------------------------------------------------------------
    def _step(self, value: Any = None, exc: BaseException | None = None) -> None:
        if self.finished:
            return
        try:
            item = self.gen.throw(exc) if exc is not None else self.gen.send(value)
        except StopIteration:
            self.finish()
            return
        except BaseException:  # noqa: BLE001 - an assert in the scenario, or any error
            self.error = traceback.format_exc()
            try:
                self.shoot("failure")  # what the screen showed when it failed
            except Exception:  # noqa: BLE001 - best effort
                pass
            self.finish()
            return
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            self.wb.after(max(0, int(item * 1000)), self._step)
        else:
            error = TypeError(f"a scenario yields seconds for Tk to run, not {item!r}")
            self.wb.after(0, self._step, None, error)

    def _watchdog(self) -> None:
        if self.finished:
            return
        dialogs = []
        for w in self.wb.winfo_children():
            if w.winfo_class() != "Menu" and w.winfo_toplevel() is w and w.winfo_viewable():
                dialogs.append(f"{w.winfo_class()} {w.wm_title()!r}")
        self.error = (
            f"the scenario did not finish within {self.timeout:g} s "
            f"(open windows: {', '.join(dialogs) or 'none'}); it was at:\n"
            + "\n".join(f"  {line}" for line in _where(self.gen))
        )
        try:
            self.shoot("timeout")
        except Exception:  # noqa: BLE001 - best effort
            pass
        self.finish()

    # --- screenshots and the result ---------------------------------------------------------
    def shoot(self, name: str, widget: Any = None) -> dict[str, Any]:
        """Grab what the X server shows of Thonny's window (or of `widget`) into NAME.png."""
        from PIL import ImageGrab

        wb = self.wb
        wb.update_idletasks()
        # A round trip to the X server (a pointer query): every drawing request Tk sent before
        # it has been carried out when the answer comes, so the grab sees the finished picture.
        wb.winfo_pointerxy()
        target = widget if widget is not None else wb
        x, y = target.winfo_rootx(), target.winfo_rooty()
        w, h = target.winfo_width(), target.winfo_height()
        if widget is None:
            # The menubar sits above the root's client area: start at the window's frame.
            frame_y = int(wb.wm_geometry().rsplit("+", 1)[1])
            h, y = h + max(0, y - frame_y), min(y, frame_y)
        image = ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=os.environ.get("DISPLAY"))
        path = self.out / f"{name}.png"
        image.save(path)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        info = {
            "path": str(path),
            "size": [w, h],
            "distinct_colours": len(colours) if colours is not None else 1 << 20,
        }
        self.shots[name] = info
        return info

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.times["finish"] = self.now()
        result = {
            "done": True,
            "error": self.error,
            "values": _json_safe(self.values),
            "times": self.times,
            "events": self.events,
            "output": "".join(data for _, data in self.output),
            "internal_errors": self.internal_errors,
            "shots": self.shots,
            "imported": sorted(m for m in sys.modules if m.startswith("thonnycontrib.")),
        }
        tmp = self.out / "result.json.tmp"
        tmp.write_text(json.dumps(result, indent=1, default=repr), encoding="utf-8")
        tmp.replace(self.out / "result.json")
        # A scenario may have closed Thonny itself; otherwise close without the config save.
        self.wb.after(10, self._close)

    def _close(self) -> None:
        try:
            self.wb.destroy()
        except Exception:  # noqa: BLE001 - already gone
            pass


# --- what a scenario uses (each reaches the one probe of this Thonny) --------------------------
def until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    describe: Callable[[], Any] | None = None,
) -> Generator[float, Any, T]:
    """Look at `predicate` every `POLL_S`, letting Tk run in between, until it returns something
    truthy, and return that (``value = yield from until(...)``).

    At the deadline it raises TimeoutError("waited {timeout} s for {what}"), with what
    `describe()` shows then, so a failure says what never happened and what was there instead.
    The predicate is asked once more at the deadline, so a slow look still gets its full time.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            seen = f" (it was: {describe()!r})" if describe is not None else ""
            raise TimeoutError(f"waited {timeout:g} s for {what}{seen}")
        yield POLL_S


def layout(widget: Any) -> list[Any]:
    """Where `widget` and everything in it is drawn (and what its canvases hold): the same in two
    looks once Tk has stopped laying it out."""
    widget.update_idletasks()
    found: list[Any] = []
    for w in [widget, *descendants(widget)]:
        if not w.winfo_ismapped():
            continue
        box = [w.winfo_rootx(), w.winfo_rooty(), w.winfo_width(), w.winfo_height()]
        if w.winfo_class() == "Canvas":
            box += [len(w.find_all()), w.bbox("all")]
        found.append(box)
    return found


def steady(widget: Any) -> Callable[[], bool]:
    """A condition: `widget` is on screen with a real size, and its `layout` has stayed the same
    for `SETTLE_S` (for `until`, or a modal dialog's own polling loop)."""
    last: list[Any] = [None, 0.0]

    def is_steady() -> bool:
        if not (widget.winfo_viewable() and widget.winfo_width() > 1 and widget.winfo_height() > 1):
            last[0] = None
            return False
        current = layout(widget)
        if current != last[0]:
            last[0], last[1] = current, time.monotonic()
            return False
        return time.monotonic() - last[1] >= SETTLE_S

    return is_steady


def settled(widget: Any, timeout: float = 20.0, what: str = "") -> Generator[float, Any, None]:
    """Wait until `widget` is drawn and its layout stops changing: the condition that a fixed
    "let it draw" delay only hoped for."""
    label = what or f"{widget.winfo_class()} {widget} to be drawn and stop changing"
    yield from until(steady(widget), timeout, label)


def focused(widget: Any, timeout: float = 10.0) -> Generator[float, Any, None]:
    """Give `widget` the keyboard focus and wait until it has it: typed keys go to the focus."""

    def has_focus() -> bool:
        widget.focus_force()
        try:
            return str(widget.focus_get()) == str(widget)
        except KeyError:  # Tk's focus is in a widget tkinter does not know (a popdown)
            return False

    yield from until(has_focus, timeout, f"the keyboard focus in {widget}")


def record(name: str, value: T) -> T:
    """Keep `value` (made JSON-safe) for the test to read as ``run.values[name]``."""
    _probe().values[name] = _json_safe(value)
    return value


def now() -> float:
    """Seconds since the test spawned Thonny."""
    return _probe().now()


def shot(name: str, widget: Any = None) -> dict[str, Any]:
    """A screenshot of Thonny's window (or of `widget`), published by the test as NAME."""
    return _probe().shoot(name, widget)


def events(name: str | None = None) -> list[dict[str, Any]]:
    """The workbench events seen so far (all, or those called `name`)."""
    return [e for e in _probe().events if name is None or e["name"] == name]


def internal_errors() -> list[str]:
    """What Thonny would have shown in its internal-error dialog, so far."""
    return list(_probe().internal_errors)


def program_output() -> str:
    return "".join(data for _, data in _probe().output)


def shell_text() -> str:
    from thonny import get_shell

    return get_shell().text.get("1.0", "end")


def backend_ready() -> bool:
    """The backend process is up and waiting at its prompt (it answered since starting)."""
    from thonny import get_runner

    runner = get_runner()
    proxy = runner.get_backend_proxy() if runner is not None else None
    return bool(
        proxy is not None and proxy.process_is_alive() and runner.is_waiting_toplevel_command()
    )


def menu_labels(menu_name: str) -> list[str]:
    from thonny import get_workbench

    menu = get_workbench().get_menu(menu_name)
    end = menu.index("end")
    labels = []
    for i in range(0 if end is None else end + 1):
        if menu.type(i) in ("command", "checkbutton", "radiobutton", "cascade"):
            labels.append(str(menu.entrycget(i, "label")))
    return labels


def invoke_menu(menu_name: str, label: str) -> Any:
    """Choose `label` in a menu as a click would (the command's tester decides if it runs)."""
    from thonny import get_workbench

    menu = get_workbench().get_menu(menu_name)
    return menu.invoke(menu.index(label))


def open_editor(code: str, path: str | None = None) -> Any:
    """A new editor with `code`; saved as `path` (and opened from there) when given."""
    from thonny import get_workbench

    nb = get_workbench().get_editor_notebook()
    if path is not None:
        Path(path).write_text(code, encoding="utf-8")
        return nb.show_file(str(path))
    nb.open_new_file()
    editor = nb.get_current_editor()
    editor.get_code_view().set_content(code)
    return editor


def descendants(widget: Any) -> list[Any]:
    found = []
    for child in widget.winfo_children():
        found.append(child)
        found.extend(descendants(child))
    return found


def widget_info(widget: Any) -> dict[str, Any]:
    """Size, whether it is on screen, and how many widgets it holds (for "not blank" checks)."""
    widget.update_idletasks()
    inside = descendants(widget)
    return {
        "class": widget.winfo_class(),
        "width": widget.winfo_width(),
        "height": widget.winfo_height(),
        "viewable": bool(widget.winfo_viewable()),
        "descendants": len(inside),
        "viewable_descendants": sum(1 for w in inside if w.winfo_viewable()),
    }


def on_screen(widget: Any, within: Any) -> dict[str, Any]:
    """Is `widget` drawn, of real size, and wholly inside `within`'s box (not clipped)?"""
    widget.update_idletasks()
    x, y, w, h = (
        widget.winfo_rootx(),
        widget.winfo_rooty(),
        widget.winfo_width(),
        widget.winfo_height(),
    )
    bx, by = within.winfo_rootx(), within.winfo_rooty()
    bw, bh = within.winfo_width(), within.winfo_height()
    inside = bx <= x and by <= y and x + w <= bx + bw and y + h <= by + bh
    return {
        "viewable": bool(widget.winfo_viewable()),
        "box": [x - bx, y - by, w, h],
        "sized": w > 1 and h > 1,
        "inside": inside,
        "ok": bool(widget.winfo_viewable()) and w > 1 and h > 1 and inside,
    }


FIELDS = ("TCombobox", "TEntry", "Entry", "Listbox")
LABELLED = ("TButton", "Button", "TCheckbutton", "Checkbutton", "TRadiobutton", "Radiobutton")


def natural_width(widget: Any) -> int:
    """How wide `widget` would be to show its whole label: a twin with the same class, style,
    font and text but no width option, asked for its requested width."""
    options: dict[str, Any] = {"text": widget.cget("text"), "width": 0}
    for name in ("style", "font", "image", "compound", "padding"):
        try:
            value = widget.cget(name)
        except Exception:  # noqa: BLE001 - not an option of this class
            continue
        if str(value) != "":
            options[name] = value
    twin = type(widget)(widget.master, **options)
    try:
        twin.update_idletasks()
        return twin.winfo_reqwidth()
    finally:
        twin.destroy()


def clipped(container: Any) -> list[dict[str, Any]]:
    """Buttons and check buttons shown inside `container` whose label cannot be read whole
    (narrower than their label needs: a fixed width from the theme, or squeezed), and any of
    those or an entry, combobox or list that lies (partly) outside the container's box."""
    container.update_idletasks()
    found = []
    for w in descendants(container):
        if (
            w.winfo_class() in FIELDS + LABELLED
            and w.winfo_manager() == "pack"
            and w.master.winfo_viewable()
            and not w.winfo_ismapped()
        ):
            # pack unmaps what no longer fits in its row
            try:
                text = str(w.cget("text"))
            except Exception:  # noqa: BLE001 - an entry or a list
                text = ""
            found.append({"class": w.winfo_class(), "text": text, "box": None, "unmapped": True})
            continue
        if w.winfo_class() in FIELDS and w.winfo_viewable():
            where = on_screen(w, container)
            if not where["ok"]:
                found.append({"class": w.winfo_class(), "text": str(w.get()), "box": where["box"]})
            continue
        if w.winfo_class() not in LABELLED or not w.winfo_viewable():
            continue
        if str(w.cget("image")) and str(w.cget("compound")) in ("", "none"):
            continue  # an icon button (the plot toolbar's): its text is never shown
        where = on_screen(w, container)
        try:
            need = natural_width(w)
        except Exception:  # noqa: BLE001 - a widget we cannot copy: judge by its request
            need = w.winfo_reqwidth()
        if w.winfo_width() < need - 1 or not where["inside"]:
            found.append(
                {
                    "class": w.winfo_class(),
                    "text": str(w.cget("text")),
                    "box": where["box"],
                    "needs": need,
                }
            )
    return found


def overlapping_texts(canvas: Any) -> list[list[str]]:
    """Pairs of text items on a Tk canvas whose boxes overlap: labels drawn over each other."""
    canvas.update_idletasks()
    items = [
        i for i in canvas.find_all() if canvas.type(i) == "text" and canvas.itemcget(i, "text")
    ]
    boxes = {i: canvas.bbox(i) for i in items}
    pairs = []
    for n, a in enumerate(items):
        for b in items[n + 1 :]:
            A, B = boxes[a], boxes[b]
            if A and B and A[0] < B[2] and B[0] < A[2] and A[1] < B[3] and B[1] < A[3]:
                pairs.append([canvas.itemcget(a, "text"), canvas.itemcget(b, "text")])
    return pairs


_KEYSYMS = {
    " ": "space",
    "(": "parenleft",
    ")": "parenright",
    "*": "asterisk",
    "+": "plus",
    "-": "minus",
    "=": "equal",
    ",": "comma",
    ".": "period",
    ":": "colon",
    "'": "apostrophe",
    '"': "quotedbl",
    "_": "underscore",
    "\n": "Return",
}


def type_text(widget: Any, text: str) -> None:
    """Type `text` into `widget` as X key events (focus first), as a person at the keyboard."""
    widget.focus_force()
    widget.update()
    for ch in text:
        keysym = _KEYSYMS.get(ch, ch)
        widget.event_generate("<KeyPress>", keysym=keysym, when="tail")
        widget.event_generate("<KeyRelease>", keysym=keysym, when="tail")
    widget.update()


CONTROL = 0x4  # X's ControlMask, for press_key


def press_key(widget: Any, keysym: str, state: int = 0) -> None:
    """One key press (with modifiers in `state`, e.g. CONTROL) into `widget`, focus first."""
    widget.focus_force()
    widget.update()
    widget.event_generate("<KeyPress>", keysym=keysym, state=state, when="tail")
    widget.event_generate("<KeyRelease>", keysym=keysym, state=state, when="tail")
    widget.update()


def load_plugin() -> None:
    scenario = os.environ.get("IOTKIT_PROBE_SCENARIO")
    out = os.environ.get("IOTKIT_PROBE_OUT")
    if not scenario or not out:
        return  # on the path, but not asked to do anything
    global _active
    _active = Probe(scenario, Path(out))
    _active.install()
