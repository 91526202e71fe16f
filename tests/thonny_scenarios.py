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
    descendants,
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
    record("view_status", view.status_var.get())
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


# --- issue 15: the IoT views at 1024x768, with larger fonts, in the dark theme ------------------
#: Thonny's commands that change its font sizes at run time (View → Increase/Decrease font
#: size, Ctrl+plus/minus); each ends with a "UICommandDispatched" event.
FONT_COMMANDS = ("increase_font_size", "decrease_font_size")


def font_facts() -> dict[str, Any]:
    """Thonny's font sizes and scaling now, and the window's size."""
    import tkinter.font as tkfont

    wb = get_workbench()
    default = tkfont.nametofont("TkDefaultFont")
    return {
        "tk_scaling": float(wb.tk.call("tk", "scaling")),
        "thonny_scaling": wb.get_option("general.scaling"),
        "ui_size": int(default.cget("size")),
        "ui_px": int(default.metrics("linespace")),
        "editor_size": wb.get_option("view.editor_font_size"),
        "ui_mode": wb.get_ui_mode(),
        "ui_theme": wb.get_option("view.ui_theme"),
        "window": [wb.winfo_width(), wb.winfo_height()],
        "screen": [wb.winfo_screenwidth(), wb.winfo_screenheight()],
    }


def view_fit(view: Any) -> dict[str, Any]:
    """How the view fits: `layout_check`'s problems inside it, its box in Thonny's window, and
    whether its scroller needs a sideways scroll (the panel wider than its place)."""
    import layout_check

    top = view.winfo_toplevel()
    x, y = view.winfo_rootx() - top.winfo_rootx(), view.winfo_rooty() - top.winfo_rooty()
    w, h = view.winfo_width(), view.winfo_height()
    scroller = view.scroller
    inner, canvas = scroller.inner, scroller.canvas
    return {
        "problems": [str(p) for p in layout_check.check(view)],
        "hidden_columns": hidden_columns(view),
        "box": [x, y, w, h],
        "inside_window": x >= 0
        and y >= 0
        and x + w <= top.winfo_width()
        and y + h <= top.winfo_height(),
        "inner": [inner.winfo_width(), inner.winfo_height()],
        "place": [canvas.winfo_width(), canvas.winfo_height()],
        "panel_asks": [view.panel.winfo_reqwidth(), view.panel.winfo_reqheight()],
        "min_size": [scroller.min_width, scroller.min_height],
        "scrolls_sideways": inner.winfo_width() > canvas.winfo_width() + 1,
        "scrolls_down": inner.winfo_height() > canvas.winfo_height() + 1,
    }


def hidden_columns(view: Any) -> list[str]:
    """Table columns a person cannot see: each shown Treeview's columns that end past the
    table's visible width (the Wiring view's Message column was off-screen in Thonny)."""

    hidden = []
    for tree in descendants(view):
        if tree.winfo_class() != "Treeview" or not tree.winfo_ismapped():
            continue
        shown = list(tree.cget("displaycolumns"))
        if shown in (["#all"], []):
            shown = list(tree.cget("columns"))
        if "tree" in str(tree.cget("show")):
            shown.insert(0, "#0")
        x, visible = 0, tree.winfo_width()
        for column in shown:
            width = int(tree.column(column, "width"))
            if x + width > visible + 1:
                heading = str(tree.heading(column, "text")) or column
                hidden.append(f"{heading!r} at {x}-{x + width} px of {visible} ({tree})")
            x += width
    return hidden


def programs_width(panel: Any) -> int:
    """The Deploy panel's Programs column (the labelled frame around the list), in pixels."""
    return int(panel.programs_scroller.master.winfo_width())


def bright_parts(view: Any, png: str, near_white: int) -> dict[str, Any]:
    """Where a screenshot of `view` is near-white (R, G and B all at least `near_white`): the
    share of its pixels, and the innermost widgets at least half near-white (with their box),
    so a failure names the bright block."""
    import numpy as np
    from PIL import Image

    white = (np.asarray(Image.open(png).convert("RGB")) >= near_white).all(axis=2)
    vx, vy = view.winfo_rootx(), view.winfo_rooty()

    def share(w: Any) -> tuple[float, list[int]]:
        x0, y0 = max(0, w.winfo_rootx() - vx), max(0, w.winfo_rooty() - vy)
        x1 = min(white.shape[1], w.winfo_rootx() - vx + w.winfo_width())
        y1 = min(white.shape[0], w.winfo_rooty() - vy + w.winfo_height())
        if x1 <= x0 or y1 <= y0:
            return 0.0, [x0, y0, 0, 0]
        return float(white[y0:y1, x0:x1].mean()), [x0, y0, x1 - x0, y1 - y0]

    bright = {}
    for w in descendants(view):
        if not w.winfo_ismapped() or w.winfo_width() * w.winfo_height() < 200:
            continue
        part, box = share(w)
        if part >= 0.5:
            bright[str(w)] = {"class": w.winfo_class(), "share": round(part, 3), "box": box}
    innermost = {
        path: info
        for path, info in bright.items()
        if not any(other.startswith(path + ".") for other in bright)
    }
    return {"share": float(white.mean()), "widgets": innermost}


def low_contrast(view: Any, minimum: float = 4.5) -> list[dict[str, Any]]:
    """Labels shown in `view` whose text colour is below `minimum` contrast with their
    background (WCAG; issue 15: text at least 4.5:1), with both colours."""
    from tkinter import ttk

    from companion_app.gui import look

    style = ttk.Style(view)
    page = look.palette(view).background
    found = []
    for w in descendants(view):
        cls = w.winfo_class()
        if cls not in ("TLabel", "Label") or not w.winfo_ismapped():
            continue
        text = str(w.cget("text")) or (
            str(w.getvar(w.cget("textvariable"))) if str(w.cget("textvariable")) else ""
        )
        if not text.strip():
            continue
        if cls == "TLabel":
            name = str(w.cget("style")) or "TLabel"
            fg = str(w.cget("foreground")) or str(style.lookup(name, "foreground")) or "black"
            bg = str(w.cget("background")) or str(style.lookup(name, "background")) or page
        else:
            fg, bg = str(w.cget("foreground")), str(w.cget("background"))
        ratio = look.contrast_ratio(w, fg, bg)
        if ratio < minimum:
            found.append(
                {"text": text[:60], "fg": fg, "bg": bg, "ratio": round(ratio, 2), "widget": str(w)}
            )
    return found


def look_walk(params: Params) -> Scenario:
    """Each IoT view in turn, in its usual place (the east column): how it fits Thonny's window
    (1024x768 and the fonts the test configured), a screenshot; then Deploy again after another
    view was on top, to see that its Programs column kept its width. In the dark theme the view
    alone is screenshotted and its near-white parts are recorded."""
    plugin, state = iotkit()
    wb = get_workbench()
    tag, dark = params["tag"], bool(params.get("dark"))
    yield from until(backend_ready, 30, "the Python backend's prompt")
    if params.get("switch_to"):
        # The views are built in the theme Thonny started with; then the theme is changed as
        # Tools → Options → Theme & Font does on each choice (its _update_appearance).
        for name in VIEWS:
            yield from open_view(name)
        wb.set_option("view.ui_theme", params["switch_to"])
        wb.reload_themes()
        wb.update_fonts()
    record("fonts", font_facts())
    for name in params.get("views", VIEWS):
        view, panel = yield from open_view(name)
        info = view_fit(view)
        info["low_contrast"] = low_contrast(view)
        if name == "Deploy":
            info["programs_width"] = programs_width(panel)
        if name == "Wiring":
            info["overlapping_labels"] = overlapping_texts(panel.canvas)
        if dark:
            png = shot(f"dark-{name.lower()}{params.get('suffix', '')}", view)["path"]
            info["bright"] = bright_parts(view, png, params["near_white"])
        else:
            shot(f"look-{name.lower()}-{tag}")
        record(name, info)
    if not dark and "Deploy" in params.get("views", VIEWS):
        # Another view of the same notebook on top, then Deploy again (issue 15, item 2) ...
        other = "Plot" if params.get("views", VIEWS)[-1] == "Deploy" else "Flash"
        yield from open_view(other)
        view, panel = yield from open_view("Deploy")
        after = view_fit(view)
        after["programs_width"] = programs_width(panel)
        record("Deploy_again", after)
        shot(f"look-deploy-again-{tag}")
        # ... and again with Thonny's fonts applied while Deploy is behind the other view, as
        # Thonny does on every change in Options → Theme & Font and View → font size (ttk then
        # sends <<ThemeChanged>> to every widget, the hidden ones too).
        yield from open_view(other)
        wb.update_fonts()
        view, panel = yield from open_view("Deploy")
        after = view_fit(view)
        after["programs_width"] = programs_width(panel)
        record("Deploy_after_fonts", after)
    if dark:
        # An error in a view's status line is red on Thonny's dark grey: readable, 4.5:1 at least.
        from companion_app.gui import look

        view = state.view("Plot")
        view.show_status("The board did not answer.", error=True)
        label = view.status_label
        yield from until(label.winfo_ismapped, 10, "the Plot view's status line on screen")
        background = look.palette(label).background
        foreground = str(label.cget("foreground"))
        record("error_contrast", look.contrast_ratio(label, foreground, background))
        record("error_colours", [foreground, background])
        view.show_status("")
    record("fonts_end", font_facts())
    record("errors", list(state.errors))
    record("internal", internal_errors())


def canvas_text_px(canvas: Any) -> float:
    """The median line height, in pixels, of the text drawn on a Tk canvas (the pinout's)."""
    import statistics

    sizes = [
        int(canvas.tk.call("font", "metrics", canvas.itemcget(i, "font"), "-linespace"))
        for i in canvas.find_all()
        if canvas.type(i) == "text" and str(canvas.itemcget(i, "text")).strip()
    ]
    return float(statistics.median(sizes)) if sizes else 0.0


def text_sizes(state: Any) -> dict[str, int]:
    """The line height, in pixels, of each text-showing widget's font in the four views (its
    own font, else its ttk style's, else the UI font), by widget path."""
    from tkinter import ttk

    import layout_check

    sizes = {}
    for name in VIEWS:
        for w in descendants(state.view(name)):
            if w.winfo_class() not in layout_check.TEXT_CLASSES or not layout_check._text(w):
                continue
            font = ""
            try:
                font = str(w.cget("font"))
            except Exception:  # noqa: BLE001 - a ttk widget without the option
                pass
            if not font:
                style = str(w.cget("style")) if "style" in w.keys() else ""
                font = str(ttk.Style(w).lookup(style or w.winfo_class(), "font") or "TkDefaultFont")
            sizes[str(w)] = int(w.tk.call("font", "metrics", font, "-linespace"))
    return sizes


def drawn_sizes(state: Any) -> dict[str, Any]:
    """What the views drew at the fonts of now: the pinout's text height and the plot's axis
    label size (both in pixels), beside the UI font's line height and its size in pixels (what
    the plot's text should be)."""
    from companion_app.gui import look

    wiring, plot = state.panel("Wiring"), state.panel("Plot")
    figure = plot.figure
    label = figure.axes[0].xaxis.label
    return {
        "ui_px": look.ui_font_px(wiring),
        "pinout_px": canvas_text_px(wiring.canvas),
        "plot_px": round(float(label.get_fontsize()) * float(figure.dpi) / 72.0, 2),
        "plot_px_wanted": round(look.ui_font_pt(plot) * float(plot.winfo_fpixels("1p")), 2),
    }


def look_font_change(params: Params) -> Scenario:
    """Thonny's font sizes changed while the views are open: by View → Increase font size
    (Ctrl+plus: Thonny only updates its named fonts, and sends no event of Tk's) and by Tools → Options →
    Theme & Font (what that page runs on each change: reload_themes, then update_fonts). In
    simple mode Thonny's UI font follows the editor's size, so the views' text grows too; they
    must lay themselves out again (wrap rows, the pinout, the plot)."""
    plugin, state = iotkit()
    wb = get_workbench()
    yield from until(backend_ready, 30, "the Python backend's prompt")
    for name in ("Flash", "Plot", "Deploy", "Wiring"):
        yield from open_view(name)
    record("fonts_before", font_facts())
    before = record("drawn_before", drawn_sizes(state))
    texts = record("texts_before", text_sizes(state))
    dispatched: list[str] = []
    wb.bind("UICommandDispatched", lambda e: dispatched.append(e.command_id), True)
    for _ in range(params["presses"]):
        # View → Increase font size, by its keypad shortcut (X maps a generated "plus" to the
        # "equal" key, which Thonny does not bind)
        press_key(wb, "KP_Add", CONTROL)
    yield from until(
        lambda: len([c for c in dispatched if c in FONT_COMMANDS]) >= params["presses"],
        10,
        "Thonny's font-size command to run",
        lambda: dispatched,
    )
    record("dispatched", dispatched)
    record("fonts_after", font_facts())
    grown = font_facts()["ui_px"] / before["ui_px"]

    def pinout_followed() -> bool:
        now_ = drawn_sizes(state)
        return now_["pinout_px"] >= before["pinout_px"] * (1 + (grown - 1) * 0.6)

    yield from until(
        pinout_followed, 10, "the pinout redrawn at the larger font", lambda: drawn_sizes(state)
    )
    record("drawn_after", drawn_sizes(state))

    def kept_their_size() -> dict[str, int]:
        now_ = text_sizes(state)
        return {path: px for path, px in now_.items() if path in texts and px <= texts[path]}

    yield from until(
        lambda: not kept_their_size(),
        10,
        "every text in the views to grow with Thonny's font",
        kept_their_size,
    )
    record("texts_after", text_sizes(state))
    fits = {}
    for name in VIEWS:
        view, panel = yield from open_view(name)
        fits[name] = view_fit(view)
        shot(f"look-{name.lower()}-fonts-changed")
    record("fits_after", fits)

    # Tools → Options → Theme & Font: each change there runs these two (its _update_appearance).
    wb.set_option("view.editor_font_size", params["editor_size"])
    wb.reload_themes()
    wb.update_fonts()
    record("fonts_options", font_facts())
    yield from until(
        lambda: drawn_sizes(state)["pinout_px"] <= before["pinout_px"] * 1.05,
        10,
        "the pinout redrawn at the font the Options page set back",
        lambda: drawn_sizes(state),
    )
    record("drawn_options", drawn_sizes(state))
    record("errors", list(state.errors))
    record("internal", internal_errors())
