"""What a person does in Thonny, as the Thonny tests replay it: one generator function a scenario.

These functions run inside real Thonny, on Tk's thread, never in the test process:
tests/thonny_harness.py's ``run_thonny("thonny_scenarios:NAME", ...)`` starts Thonny with tests/
on its PYTHONPATH, and the probe plug-in (tests/thonny_probe) calls ``NAME(params)`` once the
workbench is ready. They are ordinary functions rather than source text in the tests, so black,
isort and ruff check them and a failure's traceback points at the line here.

How a scenario waits: ``yield from until(condition, timeout, what)`` looks at the condition every
20 ms and lets Tk run in between; `settled` waits for a view to be drawn and stop changing. Never
a fixed delay: under load a delay that suits an idle machine is too short, and the look after it
fails at random (the check-wiring test once did, reading ``winfo_viewable()`` once).

What a scenario sees is recorded with `record` and asserted in the test; ``assert`` here ends the
run at once (the test reports the traceback). Only the standard library, Thonny and the probe are
imported at the top: the install test's first Thonny runs these before the plug-in is installed.
"""

from __future__ import annotations

import time
import traceback
from typing import Any, Callable, Generator

from thonny import get_runner, get_shell, get_workbench
from thonnycontrib.iotkit_probe import (
    CONTROL,
    POLL_S,
    backend_ready,
    clipped,
    events,
    focused,
    internal_errors,
    invoke_menu,
    menu_labels,
    now,
    on_screen,
    open_editor,
    overlapping_texts,
    press_key,
    record,
    settled,
    shell_text,
    shot,
    steady,
    type_text,
    until,
    widget_info,
)

#: What a scenario function returns: a generator that yields seconds for Tk to run.
Scenario = Generator[float, Any, None]
Params = dict[str, Any]

VIEWS = ("Flash", "Wiring", "Deploy", "Plot")


# --- shared helpers ---------------------------------------------------------------------------
def iotkit() -> tuple[Any, Any]:
    """The plug-in's package and its state, as loaded by this Thonny.

    The names of the plug-in these scenarios rely on: ``thonnycontrib.iotkit.VIEW_IDS`` and
    ``thonnycontrib.iotkit.state.plugin_state()`` (the accessor's leaf module), whose state
    has ``panel(name)``, ``errors``, ``check_editor_wiring()``, ``goto_finding(i)``,
    ``options_changed()``, ``on_workbench_close()``, ``handover_log``, ``connection`` (``port``,
    ``state``) and ``virtual_board`` (``webrepl_url``, ``webrepl_password``, ``port``,
    ``process``).
    """
    import thonnycontrib.iotkit as plugin
    from thonnycontrib.iotkit.state import plugin_state

    state = plugin_state()
    assert state is not None, "the plug-in's state is missing: load_plugin did not finish"
    return plugin, state


def open_view(name: str, timeout: float = 40) -> Generator[float, Any, tuple[Any, Any]]:
    """Show the IoT view `name` and wait until its panel is built and drawn."""
    plugin, state = iotkit()
    view = get_workbench().show_view(plugin.VIEW_IDS[name])
    assert view, f"show_view({plugin.VIEW_IDS[name]!r}) returned {view!r}"
    yield from until(
        lambda: state.panel(name) is not None, timeout, f"the {name} panel in its view"
    )
    yield from settled(view, what=f"the IoT {name} view to be drawn and stop changing")
    return view, state.panel(name)


def during_modal(
    open_modal: Callable[[], Any],
    look: Callable[[], bool],
    close: Callable[[], Any],
    timeout: float,
    what: str,
) -> None:
    """Run `open_modal()`, which opens a modal dialog and returns only once it is closed, so the
    scenario cannot yield meanwhile: `look()` runs from the dialog's own event loop instead,
    every `POLL_S`, until it returns True (it has seen the dialog ready and done its part).
    Then, or at the deadline, or if `look` raises (Thonny records that as an internal error),
    `close()` ends the dialog."""
    wb = get_workbench()
    deadline = time.monotonic() + timeout
    seen = {"done": False, "timed_out": False}

    def poll() -> None:
        finished = True
        try:
            if look():
                return
            if time.monotonic() < deadline:
                finished = False
                wb.after(int(POLL_S * 1000), poll)
            else:
                seen["timed_out"] = True
        finally:
            if finished:
                seen["done"] = True
                close()

    wb.after(int(POLL_S * 1000), poll)
    open_modal()
    if seen["timed_out"]:
        raise TimeoutError(f"waited {timeout:g} s for {what}")
    assert seen["done"], f"the dialog closed before {what}"


def welcomes_since(t: float) -> list[dict[str, Any]]:
    return [e for e in events("ToplevelResponse") if e["welcome"] and e["t"] > t]


def board_prompt(timeout: float = 40) -> Scenario:
    yield from until(
        lambda: backend_ready() and "MicroPython" in shell_text(),
        timeout,
        "Thonny's Shell at the board's MicroPython prompt",
    )


def watch_reruns() -> list[str]:
    """Every time the plug-in runs the board's program again after a handover: a Ctrl-D through
    Thonny's runner (serial), or main.py submitted to the Shell (WebREPL). Spies: Thonny's
    methods run."""
    runner, shell = get_runner(), get_shell()
    calls: list[str] = []
    real_ctrld, real_submit = runner.ctrld, shell.submit_python_code

    def ctrld() -> Any:
        calls.append("ctrld")
        return real_ctrld()

    def submit_python_code(cmd_line: str) -> Any:
        calls.append(cmd_line)
        return real_submit(cmd_line)

    runner.ctrld, shell.submit_python_code = ctrld, submit_python_code
    return calls


def since_restart() -> str:
    """Thonny clears the Shell when it restarts the program with Ctrl-D; the board prints "soft
    reboot", then the program's lines. Run as a Shell command, they follow that command."""
    text = shell_text()
    at = max(text.rfind("soft reboot"), text.rfind("exec(open('main.py').read())"))
    return text[at:] if at >= 0 else ""


def program_lines_since_restart() -> bool:
    # The templates the tests deploy print "main: starting …" and then a reading every 2 s.
    return "main: starting" in since_restart()


def back_at_prompt(since: float, reruns: list[str], timeout: float = 40) -> Scenario:
    """Thonny's backend reconnected (a new process that greeted it since `since`) and the Shell
    takes commands again. If the plug-in restarted the board's program after the reconnect (its
    Ctrl-D, seen by `reruns` from `watch_reruns`), stop it the way a person would: once its
    first line is in the Shell, Ctrl-C in the Shell (not Stop/Restart). A Ctrl-C sent earlier,
    while the board still boots, is lost on a real board too: no program runs yet."""
    yield from until(
        lambda: welcomes_since(since) and get_runner().get_backend_proxy() is not None,
        timeout,
        "a new welcome from the board since the handover",
    )
    # The plug-in decides in the same ToplevelResponse handler that the welcome comes with.
    if reruns:
        yield from until(
            program_lines_since_restart, 30, "the board's program running in the Shell again"
        )
        record("program_running_after_reconnect", since_restart()[:300])
        yield from focused(get_shell().text)
        press_key(get_shell().text, "c", CONTROL)
    yield from until(backend_ready, 20, "Thonny's Shell at the board's prompt again")


def watch_restarts() -> list[dict[str, Any]]:
    """Every restart of Thonny's backend, with its arguments: Stop/Restart is clean=True."""
    runner = get_runner()
    calls: list[dict[str, Any]] = []
    real_restart = runner.restart_backend

    def restart_backend(clean: bool, first: bool = False, automatic: bool = False) -> Any:
        # a spy: Thonny's method runs
        calls.append({"clean": clean, "first": first, "automatic": automatic, "t": now()})
        return real_restart(clean, first, automatic)

    runner.restart_backend = restart_backend
    return calls


def plug_in_usb_board(port: str) -> Scenario:
    """A test double for a USB cable: Thonny lists only pyserial's comports(), never a pty
    (thonny#3916), so the test lists its board's pty there, as a USB-serial adapter would be,
    then chooses it as the ESP32 interpreter's port as a person does in the Options."""
    import thonny.plugins.micropython.mp_front as mpf
    from serial.tools.list_ports_common import ListPortInfo

    real = mpf.list_serial_ports

    def list_serial_ports(*args: Any, **kwargs: Any) -> list[Any]:
        info = ListPortInfo(port)
        info.description = "USB stand-in (the test's virtual board)"
        return [*real(*args, **kwargs), info]

    mpf.list_serial_ports = list_serial_ports
    yield from until(backend_ready, 30, "the Python backend's prompt")
    wb = get_workbench()
    wb.set_option("run.backend_name", "ESP32")
    wb.set_option("ESP32.port", port)
    get_runner().restart_backend(False)
    yield from board_prompt()


def tree_names(tree: Any, node: str = "") -> list[str]:
    names = []
    for child in tree.get_children(node):
        names.append(str(tree.item(child, "text")).strip())
        names.extend(tree_names(tree, child))
    return names


def shell_notice() -> str | None:
    notice = get_shell().notice
    return notice.cget("text") if notice.winfo_ismapped() else None


def shell_command(code: str, expect: str, timeout: float = 20) -> Scenario:
    """Typed into Thonny's Shell with key events, as a person would, then Enter."""
    before = shell_text()
    text = get_shell().text
    yield from focused(text)
    type_text(text, code + "\n")
    yield from until(
        lambda: expect in shell_text()[len(before) - 1 :],
        timeout,
        f"{expect!r} in the Shell after typing {code!r}",
    )


def backend_facts() -> dict[str, Any]:
    proxy = get_runner().get_backend_proxy()
    return {"port": proxy._port, "pid": proxy._proc.pid, "alive": proxy.process_is_alive()}


# --- 1 and 2: one Thonny session: the plug-in loads, then each view is opened ------------------
def options_page_seen(timeout: float = 30) -> dict[str, Any]:
    """Tools → Options..., on the "IoT Kit" page, looked at once it is drawn and steady."""
    from thonny.config_ui import ConfigurationDialog

    wb = get_workbench()
    seen: dict[str, Any] = {}
    is_steady: dict[str, Callable[[], bool]] = {}

    def dialogs() -> list[Any]:
        return [w for w in wb.winfo_children() if isinstance(w, ConfigurationDialog)]

    def look() -> bool:
        found = dialogs()
        if len(found) != 1 or not found[0].winfo_viewable():
            return False
        dlg = found[0]
        dlg.select_page("iotkit")
        pages = {key: page for key, _title, page in dlg._page_records}
        page = pages.get("iotkit")
        if page is not None:
            if "page" not in is_steady:
                is_steady["page"] = steady(page)
            if not is_steady["page"]():
                return False
        seen["titles"] = [title for _k, title, _p in dlg._page_records]
        if page is not None:
            seen["page"] = widget_info(page)
            seen["page_clipped"] = clipped(page)
            shot("options-page", dlg)
        return True

    def close() -> None:
        for w in dialogs():
            w._cancel()

    during_modal(
        lambda: invoke_menu("tools", "Options..."), look, close, timeout, "the IoT Kit page"
    )
    return seen


def views_session(params: Params) -> Scenario:
    plugin, state = iotkit()
    wb = get_workbench()
    yield from until(backend_ready, 30, "the Python backend's prompt")
    record(
        "commands",
        {
            c["command_id"]: {"menu": c["menu_name"], "label": c["command_label"]}
            for c in wb._commands
            if c["command_id"].startswith("iotkit")
        },
    )
    record("tools_menu", menu_labels("tools"))
    record("view_ids", plugin.VIEW_IDS)
    record(
        "options",
        {
            name: wb.get_option(name)
            for name in ("iotkit.board", "iotkit.firmware_cache", "iotkit.baud")
        },
    )
    record("option_pages", [str(p) for p in getattr(wb, "_configuration_pages", [])])
    record("errors_at_start", list(state.errors))
    record("internal_at_start", internal_errors())
    record("options_dialog", options_page_seen())

    key_widgets = {
        "Flash": lambda p: {
            "port": p.port_combo,
            "detect": p.detect_button,
            "file": p.path_entry,
            "flash": p.flash_button,
            "bar": p.progress,
        },
        "Wiring": lambda p: {
            "board": p.board_combo,
            "picture": p.canvas,
            "findings": p.tree,
            "add": p.add_button,
        },
        "Deploy": lambda p: {
            "board": p.board_combo,
            "dry run": p.dry_button,
            "deploy": p.deploy_button,
            "bar": p.progress,
            **{f"template {n}": w for n, w in p.template_checks.items()},
        },
        "Plot": lambda p: {
            "pause": p.pause_button,
            "window": p.window_combo,
            "record": p.record_button,
            "figure": p.canvas.get_tk_widget(),
            "toolbar": p.toolbar,
        },
    }
    for name in VIEWS:
        view, panel = yield from open_view(name)
        info = widget_info(view)
        info["view_class"] = type(view).__name__
        info["panel"] = f"{type(panel).__module__}.{type(panel).__name__}"
        info["panel_size"] = [panel.winfo_width(), panel.winfo_height()]
        info["key_widgets"] = {k: on_screen(w, view) for k, w in key_widgets[name](panel).items()}
        info["clipped"] = clipped(view)
        if name == "Wiring":  # the pinout picture: every label readable, none drawn over another
            info["overlapping_labels"] = overlapping_texts(panel.canvas)
        notebook = view.home_widget.master
        info["tab"] = notebook.tab(view.home_widget, "text")
        info["selected"] = notebook.select() == str(view.home_widget)
        record(name, info)
        shot(f"view-{name.lower()}")
    record("errors", list(state.errors))


# --- 3: a local program's temp: lines are plotted -----------------------------------------------
def plot_local_program(params: Params) -> Scenario:
    plugin, state = iotkit()
    yield from until(backend_ready, 30, "the Python backend's prompt")
    view, panel = yield from open_view("Plot")
    editor = open_editor(params["program"], path=params["path"])
    record("editor_file", editor.get_filename())
    get_runner().cmd_run_current_script()  # F5
    yield from until(
        lambda: panel.live_store.stats("temp").count >= 30,
        30,
        "30 temp readings in the Plot panel's store",
    )
    yield from until(backend_ready, 15, "the program to end")
    # Running brought the Shell to the front of the bottom notebook: click IoT Plot.
    get_workbench().show_view(plugin.VIEW_IDS["Plot"])
    yield from until(
        lambda: "temp 30" in panel.counts_var.get(), 10, "the plot's counts", panel.counts_var.get
    )
    # The legend's last values are redrawn at most 4 times a second: wait for the last one.
    yield from until(
        lambda: panel.renderer.legend_texts() == [params["last_legend"]],
        10,
        f"the legend to show the last reading, {params['last_legend']!r}",
        panel.renderer.legend_texts,
    )
    yield from settled(view)
    record("figure_on_screen", on_screen(panel.canvas.get_tk_widget(), view))
    record("legend", panel.renderer.legend_texts())
    t, v = panel.live_store.series("temp")
    record("names", panel.live_store.names)
    record("values", v.tolist())
    record("times_increase", bool((t[1:] >= t[:-1]).all()))
    record("counts", panel.counts_var.get())
    record("status", panel.status_var.get())
    record("shell", shell_text())
    record("errors", list(state.errors))
    shot("plot-local-program")


# --- 4: Tools → Check wiring of this script -----------------------------------------------------
def wiring_checked(panel: Any) -> bool:
    """The IoT Wiring panel exists, its check (a job) has ended, and it shows findings."""
    return panel is not None and not panel.checking and bool(panel.findings)


def check_wiring(params: Params) -> Scenario:
    plugin, state = iotkit()
    wb = get_workbench()
    yield from until(backend_ready, 30, "the Python backend's prompt")
    editor = open_editor(params["code"])
    text = editor.get_text_widget()
    text.mark_set("insert", "1.0")
    (label,) = [
        c["command_label"] for c in wb._commands if c["command_id"] == "iotkit_check_wiring"
    ]
    invoke_menu("tools", label)  # as a click on Tools → Check wiring...
    yield from until(
        lambda: wiring_checked(state.panel("Wiring")), 40, "findings in the IoT Wiring view"
    )
    panel = state.panel("Wiring")
    view = wb.get_view(plugin.VIEW_IDS["Wiring"])
    # The view is shown by the command, and mapped when Tk gets to it: wait, never look once.
    yield from settled(view, what="the IoT Wiring view on screen, drawn and steady")
    record("view_visible", bool(view.winfo_viewable()))
    record("panel_board", panel.board.id)
    record("panel_findings", [{"rule": f.rule, "severity": f.severity} for f in panel.findings])
    record("tree_rows", [panel.tree.item(i, "values") for i in panel.tree.get_children()])
    findings = state.check_editor_wiring()
    record(
        "findings",
        [
            {"rule": f.rule, "severity": f.severity, "line": getattr(f, "line", None)}
            for f in findings
        ],
    )
    index = [f.rule for f in findings].index("flash-pin")
    state.goto_finding(index)
    yield from until(
        lambda: text.index("insert").split(".")[0] == str(params["finding_line"]),
        10,
        f"the editor's cursor on the finding's line {params['finding_line']}",
        lambda: text.index("insert"),
    )
    record("insert", text.index("insert"))
    # The direct check above also rechecks the view's panel, in a job: select a finding once
    # that result is shown, or it would replace the selection.
    yield from until(lambda: wiring_checked(panel), 20, "the IoT Wiring view's recheck")
    i = [f.rule for f in panel.findings].index("flash-pin")
    panel.select_finding(i)
    yield from until(
        lambda: "Fix:" in panel.fix_var.get(), 10, "the selected finding's fix", panel.fix_var.get
    )
    record("fix", panel.fix_var.get())
    yield from settled(view)
    record(
        "on_screen",
        {"findings": on_screen(panel.tree, view), "picture": on_screen(panel.canvas, view)},
    )
    shot("wiring-finding")
    # The board comes from the options: on a Pico, GPIO6 is an ordinary pin.
    wb.set_option("iotkit.board", "pico")
    record("pico_rules", [f.rule for f in state.check_editor_wiring()])
    wb.set_option("iotkit.board", params["board"])
    record("errors", list(state.errors))


# --- 5: the port handover with Thonny's ESP32 backend -------------------------------------------
def deploy_handover(params: Params) -> Scenario:
    plugin, state = iotkit()
    yield from plug_in_usb_board(params["port"])
    restarts = watch_restarts()
    reruns = watch_reruns()
    record("before", backend_facts())
    view, panel = yield from open_view("Deploy")
    panel.choose("wifi", "sensor")
    panel.values["wifi_ssid"].set(params["ssid"])
    panel.values["wifi_password"].set(params["password"])
    yield from settled(view, what="the filled deploy form to be drawn and stop changing")
    record("form_clipped", clipped(view))  # the form, filled: nothing cut off
    shot("deploy-form")
    started = now()
    panel.deploy_button.invoke()  # as a click
    record("running", panel.running)
    yield from until(lambda: panel.running is None, 60, "the deploy to finish")
    record("status", panel.status_var.get())
    record("deploy_log", panel.log_content())
    yield from after_the_handover(state, started, restarts, reruns)
    shot("deploy-handover")


def after_the_handover(
    state: Any, started: float, restarts: list, reruns: list[str], timeout: float = 40
) -> Scenario:
    """After a board task that took Thonny's port: wait until Thonny is back at its prompt and
    takes a command, and record what every handover scenario checks."""
    yield from back_at_prompt(started, reruns, timeout)
    record("after", backend_facts())
    record("events_since", [e for e in events() if e["t"] > started])
    yield from shell_command("print(6*7)", "42")
    record("restarts", restarts)
    record("reruns", reruns)
    record("notice", shell_notice())
    record("shell", shell_text())
    record("handover_log", list(state.handover_log))
    record("errors", list(state.errors))


def flash_handover(params: Params) -> Scenario:
    plugin, state = iotkit()
    wb = get_workbench()
    dispatched: list[str] = []
    wb.bind("UICommandDispatched", lambda e: dispatched.append(e.command_id), True)
    yield from plug_in_usb_board(params["port"])
    restarts = watch_restarts()
    reruns = watch_reruns()
    record("before", backend_facts())
    view, panel = yield from open_view("Flash")
    yield from until(
        lambda: panel.port() == params["port"], 10, "the Flash view on Thonny's port", panel.port
    )
    record("panel_port", panel.port())
    record("practice", bool(panel.practice_var.get()))
    panel.choose_image(params["image"])
    yield from until(lambda: panel.image is not None, 20, "the image to be checked")
    yield from until(lambda: panel.flash_button.instate(["!disabled"]), 10, "Flash enabled")
    samples: list[list[Any]] = []

    def flashing_done() -> bool:
        p = get_runner().get_backend_proxy()
        samples.append([panel.task, p is not None and p.process_is_alive()])
        return panel.task == "idle"

    started = now()
    panel.flash_button.invoke()  # as a click
    record("task_after_click", panel.task)
    yield from until(flashing_done, 60, "the flash attempt to end")
    record("samples", samples)
    record("outcome", panel.outcome)
    record("outcome_text", panel.outcome_var.get())
    record("flash_log", panel.log_content())
    yield from after_the_handover(state, started, restarts, reruns)
    record("dispatched", dispatched)
    # The options page's board reaches the built Flash view, so its hint names that board.
    wb.set_option("iotkit.board", "esp32-cam")
    state.options_changed()
    yield from until(
        lambda: panel.board_type() == "esp32-cam",
        10,
        "the Flash view to follow the options' board",
        panel.board_type,
    )
    record("board_type_after_options", panel.board_type())
    record("errors", list(state.errors))
    shot("flash-handover")


# --- issue 12, item 3: Thonny reaches a virtual board over its own WebREPL, with no pty ---------
def webrepl_session(params: Params) -> Scenario:
    import thonny.plugins.micropython.mp_front as mpf

    plugin, state = iotkit()
    wb = get_workbench()
    record("port_list_patched", hasattr(mpf.list_serial_ports, "__wrapped__"))
    yield from until(backend_ready, 30, "the Python backend's prompt")
    invoke_menu("tools", "Connect Thonny to a virtual board")
    yield from until(
        lambda: state.virtual_board is not None and state.virtual_board.webrepl_url,
        40,
        "the virtual board's endpoints",
    )
    vb = state.virtual_board
    yield from board_prompt(60)
    yield from until(
        lambda: state.connection.state == "connected",
        20,
        "the plug-in's connection to follow Thonny's backend",
        lambda: state.connection.state,
    )
    proxy = get_runner().get_backend_proxy()
    record(
        "connected",
        {
            "backend": wb.get_option("run.backend_name"),
            "proxy_port": proxy._port,
            "option_port": wb.get_option("ESP32.port"),
            "url": wb.get_option("ESP32.webrepl_url"),
            "webrepl": vb.webrepl_url,
            "socket": vb.port,
            "sim_args": list(vb.process.args),
            "pid": proxy._proc.pid,
            "link_port": state.connection.port,
            "state": state.connection.state,
        },
    )
    password = wb.get_option("ESP32.webrepl_password")
    record("password_ok", len(password) == 9 and password == vb.webrepl_password)
    yield from shell_command("print(6*7)", "42")
    shot("webrepl-shell")

    files = wb.show_view("FilesView")
    yield from until(
        lambda: "boot.py" in tree_names(files.remote_files.tree),
        40,
        "boot.py in Thonny's Files view (the board's side)",
    )
    record("board_files", tree_names(files.remote_files.tree))
    yield from settled(files)
    shot("webrepl-files")

    restarts = watch_restarts()
    reruns = watch_reruns()
    view, panel = yield from open_view("Deploy")
    panel.choose("wifi", "sensor")
    panel.values["wifi_ssid"].set(params["ssid"])
    panel.values["wifi_password"].set(params["password"])
    started = now()
    panel.deploy_button.invoke()  # as a click
    record("running", panel.running)
    yield from until(lambda: panel.running is None, 90, "the deploy to finish")
    record("status", panel.status_var.get())
    record("deploy_log", panel.log_content())
    yield from after_the_handover(state, started, restarts, reruns, timeout=60)
    shot("webrepl-deploy-handover")

    state.on_workbench_close()  # what closing Thonny runs
    yield from until(
        lambda: vb.process.poll() is not None, 20, "the virtual board's process to end"
    )
    record(
        "closed",
        {
            "backend": wb.get_option("run.backend_name"),
            "port": wb.get_option("ESP32.port"),
            "password": wb.get_option("ESP32.webrepl_password"),
            "sim_exit": vb.process.poll(),
        },
    )


# --- tests/test_thonny_install.py: Tools → Manage plug-ins, in a Thonny with its own Python -----
def install_from_manage_plugins(params: Params) -> Scenario:
    """Install the test's wheel through the real "Thonny plug-ins" dialog's own code."""
    import sys

    from thonny import running
    from thonny.plugins.pip_gui import PluginsPipDialog
    from thonny.workdlg import SubprocessDialog

    wb = get_workbench()
    record("loaded_before", sorted(m for m in sys.modules if m.startswith("thonnycontrib.")))
    state: dict[str, Any] = {}

    def dialogs(kind: type, parent: Any = wb) -> list[Any]:
        found = []
        for w in parent.winfo_children():
            if isinstance(w, kind):
                found.append(w)
            found.extend(dialogs(kind, w))
        return found

    def close_failed_pip_dialogs() -> None:
        # pip's dialog closes itself on success; after a failure it waits for a click.
        for dlg in dialogs(SubprocessDialog):
            if dlg.returncode not in (None, 0):
                dlg.close()
        if "done" not in state:
            wb.after(500, close_failed_pip_dialogs)

    def in_the_dialog() -> bool:
        # Runs inside the modal "Thonny plug-ins" dialog's event loop, once it is on screen.
        found = dialogs(PluginsPipDialog)
        if len(found) != 1 or not found[0].winfo_viewable():
            return False
        (dlg,) = found
        try:
            state["title"] = dlg.title()
            state["user_install"] = dlg._use_user_install()
            state["target"] = dlg._get_target_directory()
            real_run_pip = dlg._run_pip_with_dialog

            def run_pip(command: str, args: list[str], title: str) -> Any:
                # a spy: Thonny's own method does the work
                rc, out, err = real_run_pip(command, args, title)
                state["pip"] = {
                    "command": command,
                    "args": list(args),
                    "rc": rc,
                    "out": out[-4000:],
                }
                return rc, out, err

            dlg._run_pip_with_dialog = run_pip
            real_create = running.create_frontend_python_process

            def create_process(args: list[str], *rest: Any, **kw: Any) -> Any:
                # a spy too: records the command and env
                state["process"] = {
                    "args": list(args),
                    "env": dict(kw.get("environment_extras") or {}),
                }
                return real_create(args, *rest, **kw)

            running.create_frontend_python_process = create_process
            dlg._install_file(params["wheel"], False)  # "Install from local file"
        except BaseException:  # noqa: BLE001 - reported to the test
            state["error"] = traceback.format_exc()
        return True

    def close() -> None:
        state["done"] = True
        for dlg in dialogs(PluginsPipDialog):
            dlg._on_close()

    wb.after(500, close_failed_pip_dialogs)
    started = now()
    during_modal(
        lambda: invoke_menu("tools", "Manage plug-ins..."),
        in_the_dialog,
        close,
        60,
        "the Thonny plug-ins dialog",
    )
    record("install_seconds", now() - started)
    record("state", state)
    yield from ()  # a scenario is a generator, even one that never needs to wait


def loaded_from_user_dir(params: Params) -> Scenario:
    """The second start: the plug-in installed in the user dir is loaded and its views work."""
    import os
    import sys

    import thonnycontrib

    wb = get_workbench()
    record("thonnycontrib_path", list(thonnycontrib.__path__))
    record(
        "inits",
        [p for p in thonnycontrib.__path__ if os.path.exists(os.path.join(p, "__init__.py"))],
    )
    plugin, state = iotkit()
    record("plugin_file", plugin.__file__)
    record("tools", menu_labels("tools"))
    yield from until(backend_ready, 20, "the Python backend's prompt")
    view = wb.show_view(plugin.VIEW_IDS["Plot"])
    assert view, "show_view returned " + repr(view)
    yield from until(lambda: state.panel("Plot") is not None, 20, "the Plot panel")
    yield from settled(view)
    record("view", widget_info(view))
    record("panel_class", type(state.panel("Plot")).__name__)
    record("errors", list(state.errors))
    record(
        "modules",
        {
            name: getattr(sys.modules.get(name), "__file__", None)
            for name in ("companion_app", "matplotlib", "numpy", "serial")
        },
    )
    shot("install-user-dir-plot")
