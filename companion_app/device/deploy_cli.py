"""`iotkit deploy`: bundled templates, or a project folder, onto a board.

Only argparse lives at import time; the engine (companion_app.device.deploy) loads when the
command runs. Everything that can be checked without the board (template names, --config,
--set values, the project folder) is checked before the port is opened, so a typo never
interrupts the program running on the board.

Output follows shared/CONTRACTS.md: the plan and the summary on stdout, progress on stderr,
failures as one `error:` line on stderr with exit 1 (2 for usage errors); with --json, one
document on stdout. The Wi-Fi password is shown as "***" everywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from companion_app.errors import UsageError
from companion_app.inputs import non_negative_float, positive_int


def add_deploy_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "deploy",
        help="copy templates or a project folder to a board (only what changed)",
        description="Deploy bundled templates (with their libraries and /config.json) or sync a "
        "project folder to a board. Only changed files are sent; each file is checked on the "
        "board before it replaces the old one, so an interrupted deploy never leaves a "
        "half-written file. Files on the board that are not in the deploy are never deleted.",
    )
    p.add_argument("folder", nargs="?", metavar="DIR", help="a project folder to sync to /")
    p.add_argument("--port", metavar="P", help="the board's serial port (see `iotkit ports`)")
    p.add_argument(
        "--template",
        action="append",
        metavar="NAME[,NAME…]",
        help="templates to deploy, e.g. web,mqtt (what they need is added)",
    )
    p.add_argument("--config", metavar="FILE", help="a JSON file with config values")
    p.add_argument(
        "--saved",
        metavar="BOARD",
        help="start from the programs and settings the Deploy panel saved for this board type "
        "(see `iotkit boards`; never a password); --template, --config and --set win",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one config value, e.g. --set sensor_pin=4 (repeatable; wins over --config). "
        "--set wifi_password=- reads the password from stdin, without echo; with no password "
        "given, $IOTKIT_WIFI_PASSWORD is used",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.add_argument("--mpy", action="store_true", help="precompile .py to .mpy for the board")
    p.add_argument(
        "--baud", type=positive_int, default=115200, help="serial speed (default 115200)"
    )
    p.add_argument(
        "--no-reset", action="store_true", help="do not restart the board after the deploy"
    )
    p.add_argument(
        "--output-seconds",
        type=non_negative_float,
        default=3.0,
        metavar="S",
        help="after the restart, show the board's output for this long (default 3)",
    )
    p.add_argument("--list", action="store_true", help="list the templates and exit")
    p.set_defaults(func=run_deploy)
    return p


def _human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KB"


def _templates_arg(values: list[str] | None) -> list[str]:
    names: list[str] = []
    for value in values or []:
        names += [n.strip() for n in value.split(",") if n.strip()]
    return names


def _list_templates() -> int:
    from companion_app.device import deploy as engine

    for name in engine.template_names():
        info = engine.template_info(name)
        needs = f" (needs {', '.join(info['needs'])})" if info.get("needs") else ""
        print(f"{name:<12} {info['summary']}{needs}")
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    from companion_app import secrets
    from companion_app.device import deploy as engine

    secrets.known()  # IOTKIT_WIFI_PASSWORD is masked from the start, logs included
    if args.list:
        return _list_templates()
    names = _templates_arg(args.template)
    if args.folder and (args.config or args.set or args.saved):
        raise UsageError(
            "--config, --set and --saved go with --template (a folder brings its own files)"
        )
    saved = _saved_settings(args.saved) if args.saved else None
    if not names and saved is not None:  # in the manifest's order, as the panel deploys them
        names = [n for n in engine.template_names() if n in saved.programs]
    if not names and not args.folder:
        raise UsageError(
            "say what to deploy: --template NAME (see `iotkit deploy --list`) or a project folder"
        )
    if names and args.folder:
        raise UsageError("give either --template or a project folder, not both")
    if not args.port:
        raise UsageError(
            "--port is needed: the board's serial port (see `iotkit ports`), or the port "
            "`iotkit sim` printed for a virtual board"
        )
    if args.output_seconds < 0:
        raise UsageError("--output-seconds must not be negative")

    # Everything that needs no board is checked first.
    cfg: dict[str, Any] | None = None
    if names:
        resolved = engine.resolve_templates(names)
        base = _saved_values(saved, engine.config_defaults()) if saved is not None else {}
        if args.config:
            base.update(engine.load_config_file(args.config))
        cfg = engine.build_config(resolved, base, engine.parse_set(_set_items(args.set)))
        _password_from_env(cfg)
        files = None
    else:
        resolved = []
        files = engine.folder_files(args.folder)

    quiet = args.json
    progress = _Progress(quiet)

    def on_plan(changes: list[Any]) -> None:
        if not quiet:
            _print_plan(changes, args, resolved)

    from companion_app.device.link import Link

    kwargs: dict[str, Any] = dict(
        dry_run=args.dry_run,
        mpy=args.mpy,
        reset=not args.no_reset,
        first_output_s=args.output_seconds,
        on_event=progress,
        on_plan=on_plan,
    )
    with Link(args.port, baudrate=args.baud) as link:
        if names:
            assert cfg is not None
            result = _run_cancellable(
                lambda cancel: engine.deploy_templates(link, resolved, cfg, cancel=cancel, **kwargs)
            )[0]
        else:
            assert files is not None
            result = _run_cancellable(
                lambda cancel: engine.deploy(link, files, cancel=cancel, **kwargs)
            )
    progress.finish()

    if args.json:
        doc = {
            "port": args.port,
            "templates": resolved,
            "folder": args.folder,
            "dry_run": result.dry_run,
            "changes": [
                {"path": c.dest, "action": c.action, "size": c.size} for c in result.changes
            ],
            "sent_bytes": result.sent_bytes,
            "wire_bytes": result.wire_bytes,
            "seconds": round(result.seconds, 3),
            "first_output": result.first_output,
            "config": engine.masked(cfg) if cfg is not None else None,
            "notes": result.notes,
            "backed_up": [{"path": b.path, "backup": b.backup} for b in result.backups],
        }
        print(json.dumps(doc, indent=2))
        return 0
    kept = {b.text for b in result.backups}  # said on stdout with the summary, not warnings
    for note in result.notes:
        if note not in kept:
            print(f"warning: {note}", file=sys.stderr)
    _print_summary(result)
    return 0


def _saved_settings(board_id: str) -> Any:
    """The Deploy panel's saved settings for this board type (companion_app/device/settings.py)."""
    from companion_app.boards import load_board
    from companion_app.device import settings
    from companion_app.device.deploy import DeployError

    board_id = load_board(board_id).id  # an unknown id is refused, with the known ones
    saved = settings.load_settings(board_id)
    if saved is None:
        raise DeployError(
            f"No deploy settings are saved for {board_id} yet: deploy once from the Deploy "
            f"panel with that board type (they are kept in {settings.settings_dir()}), or give "
            "--template and --set."
        )
    return saved


def _saved_values(saved: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """Saved values as a config base: keys this version knows, and no empty field (an empty
    field in the form meant "the default")."""
    return {k: v for k, v in saved.values.items() if k in defaults and k != "parts" and v != ""}


def _set_items(items: list[str]) -> list[str]:
    """--set KEY=- for a secret key reads the value from stdin (no echo), so it is not in `ps`."""
    from companion_app import secrets

    out: list[str] = []
    from_stdin = False
    for item in items:
        key, sep, value = item.partition("=")
        if sep and value == secrets.FROM_STDIN and secrets.is_secret_key(key.strip()):
            if from_stdin:
                raise UsageError("only one --set value can come from standard input (-)")
            from_stdin = True
            item = f"{key}={secrets.read_secret(key.strip())}"
        out.append(item)
    return out


def _password_from_env(cfg: dict[str, Any]) -> None:
    """No Wi-Fi password given: IOTKIT_WIFI_PASSWORD, when set (shared/CONTRACTS.md)."""
    from companion_app import secrets

    env = secrets.env_wifi_password()
    if env is not None and not cfg.get("wifi_password"):
        cfg["wifi_password"] = env


def _run_cancellable(work: Any) -> Any:
    """Run the deploy in a worker so Ctrl-C can stop it between chunks, cleanly.

    The main thread waits on an Event, not on Thread.join(): a join interrupted by Ctrl-C can
    report a live thread as finished.
    """
    cancel = threading.Event()
    finished = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = work(cancel)
        except BaseException as exc:  # handed to the main thread below
            box["error"] = exc
        finally:
            finished.set()

    worker = threading.Thread(target=target, name="iotkit-deploy", daemon=True)
    worker.start()
    while not finished.is_set():
        try:
            finished.wait(0.1)
        except KeyboardInterrupt:
            if not cancel.is_set():
                print("\nstopping after the current chunk…", file=sys.stderr)
            cancel.set()
    if "error" in box:
        raise box["error"]
    return box["result"]


def _print_plan(changes: list[Any], args: argparse.Namespace, resolved: list[str]) -> None:
    what = f"templates {', '.join(resolved)}" if resolved else f"folder {args.folder}"
    verb = "Would deploy" if args.dry_run else "Deploying"
    print(f"{verb} {what} to {args.port}")
    if not changes:
        return
    width = max(len(c.dest) for c in changes)
    for c in changes:
        note = f" {c.note}" if c.note else ""
        print(f"  {c.action:<9} {c.dest:<{width}}  {_human_size(c.size):>9}  {c.origin}{note}")


def _print_summary(result: Any) -> None:
    sent = result.sent_files
    unchanged = sum(1 for c in result.changes if c.action == "unchanged")
    removed = sum(1 for c in result.changes if c.action == "remove")
    if result.dry_run:
        print(
            f"Dry run: {len(sent)} file{'s' if len(sent) != 1 else ''} would be sent "
            f"({_human_size(sum(c.size for c in sent))}), {unchanged} unchanged. "
            "Nothing was changed on the board."
        )
        return
    if not sent and not removed:
        print(f"Nothing to send: all {unchanged} files are up to date ({result.seconds:.1f} s).")
    else:
        plain = sum(c.size for c in sent)
        extra = f", removed {removed} stale .py" if removed else ""
        print(
            f"Sent {len(sent)} file{'s' if len(sent) != 1 else ''} ({_human_size(plain)}; "
            f"{_human_size(result.wire_bytes)} on the wire) in {result.seconds:.1f} s{extra}; "
            f"{unchanged} unchanged."
        )
    for backup in result.backups:
        print(backup.text)
    if result.first_output.strip():
        print("--- the board's first output ---")
        print(result.first_output.rstrip().replace("\r\n", "\n"))


class _Progress:
    """Progress on stderr; on a terminal a line that updates in place."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.open_line = False

    def __call__(self, event: Any) -> None:
        if self.quiet:
            return
        if event.kind == "progress" and event.total:
            pct = event.done * 100 // event.total
            line = f"sending {pct:3d}%  {event.path or ''}"
            if self.tty:
                print(f"\r{line:<70}", end="", file=sys.stderr, flush=True)
                self.open_line = True
            return
        if event.kind == "file" and not self.tty:
            print(f"{event.text} {event.path} ({event.done}/{event.total})", file=sys.stderr)
        elif event.kind == "stage":
            self._end_line()
            print(f"{event.text}…", file=sys.stderr)

    def _end_line(self) -> None:
        if self.open_line:
            print(file=sys.stderr)
            self.open_line = False

    def finish(self) -> None:
        self._end_line()
