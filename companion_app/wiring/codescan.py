"""Read a MicroPython script and report which pins it uses, and how.

The rule engine compares a script with the board data and the wiring ("DHT22 on GPIO34, but 34
is input-only"; "the script drives GPIO2, the diagram wires the LED to GPIO4"). It needs the
facts only: which constructor, which role, which pin, which line. This module gathers those
facts and decides nothing, so the rules stay in one place.

We parse with `ast` and never run the script: it imports `machine`, which the PC does not have,
and a broken script must still be reportable. Beginners' scripts are short and direct, so a
small constant folder covers what they write (`LED_PIN = 2`, `const(2)`, `PINS["led"]`,
`SDA, SCL = 21, 22`). Anything we cannot fold (a function parameter, a value read from
config.json, a loop variable) is listed in `ScanResult.unresolved` instead of guessed.

Conventions the rule engine can rely on:

- `col` is 0-based and counts characters, as a Tk text index wants; `line` is 1-based.
- A `Pin(...)` written directly inside a peripheral (`dht.DHT22(Pin(14))`) is folded into that
  peripheral's use and is not reported on its own. A `Pin` bound to a variable first
  (`led = Pin(2, Pin.OUT)`, then `PWM(led)`) is reported twice: once as "pin", once as "pwm".
- Bus objects give one use per signal, in the order scl/sda, sck/mosi/miso, tx/rx. A signal the
  script leaves out of a hardware bus has `pin=None` and `note="default-pins"`: the port's
  default pins for `bus_id` apply. Left out of SoftI2C/SoftSPI it has `note="missing"`, as has
  `Pin()` with no id. A pin that may hide in `*args` / `**cfg` is unresolved, never a default.
- `ADC(34)` / `ADC(0)` (a number, not a `Pin` or a pin name) has `note="bare-id"`: a channel on
  rp2 (0-4) and ESP8266 (0, 1), a GPIO number on ESP32. The board decides, so `resolve_for_board`
  (run once by the rule engine, before any rule) rewrites such a use to the pin the channel
  really reads: `pin` becomes the GPIO (`ADC(0)` on a Pico -> 26), the board pin name of an input
  that has no GPIO (`"A0"` on an ESP8266), or None with `internal` saying what is measured
  (`ADC(4)`: the temperature sensor). `adc_channel` keeps the channel and `note` becomes
  "adc-channel"; an id the firmware refuses becomes `pin=None, note="adc-no-such-id"`.
  `ADC(Pin(n))` always stays GPIO n.
- Roles: "pin" uses take their mode ("out", "in", "open-drain", "alt", "alt-open-drain",
  "analog"), plus "+pull_up" / "+pull_down". A pull with no mode reads as "in" (every port
  starts pins as inputs); no mode and no pull gives "". Others: adc "in", pwm "out", dac "out",
  touch "in", neopixel "out", dht and onewire "data", buses their signal name, wlan "".
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from companion_app.boards import Board
from companion_app.errors import UsageError

__all__ = ["PinUse", "ScanResult", "resolve_for_board", "scan_file", "scan_source"]


@dataclass(frozen=True)
class PinUse:
    """One pin (or radio) a script claims, at the call that claims it."""

    kind: str
    role: str
    pin: int | str | None
    line: int
    col: int
    source: str
    bus_id: int | None = None
    pull: str | None = None
    irq: bool = False
    constant: str | None = None
    note: str | None = None
    adc_channel: int | None = None  # set by resolve_for_board: ADC(n) read n as a channel
    internal: str | None = None  # set by resolve_for_board: what an internal ADC channel measures


@dataclass
class ScanResult:
    """Everything the rule engine needs from one script; `syntax_error` replaces raising."""

    path: str
    uses: list[PinUse] = field(default_factory=list)
    wlan_active: bool = False
    unresolved: list[tuple[int, str]] = field(default_factory=list)
    syntax_error: str | None = None


def scan_file(path: str | Path) -> ScanResult:
    """Scan a script on disk. An unreadable file is the caller's mistake, so it raises."""
    from companion_app.inputs import read_text_file

    text = read_text_file(path, "script", error=UsageError, strict=False)
    return scan_source(text, str(path))


def scan_source(text: str, path: str = "<script>") -> ScanResult:
    """Scan script text. Never raises for a bad script: a syntax error is reported instead."""
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        return ScanResult(path=path, syntax_error=f"line {exc.lineno or 0}: {exc.msg}")
    except ValueError as exc:  # NUL bytes in the source
        return ScanResult(path=path, syntax_error=f"line 0: {exc}")
    except (RecursionError, MemoryError):  # expressions nested thousands deep
        return ScanResult(path=path, syntax_error="line 0: the code nests too deeply to read")
    try:
        return _Scanner(text, path, tree).run()
    except RecursionError:
        return ScanResult(path=path, syntax_error="line 0: the code nests too deeply to read")


def resolve_for_board(scan: ScanResult, board: Board) -> ScanResult:
    """The scan with every `ADC(<number>)` rewritten to what that number reads on `board`.

    Why here and once: a bare number means a GPIO on ESP32 chips but a channel on the ESP8266
    and RP2 (`ADC(0)` on a D1 mini is A0, not GPIO0; `ADC(29)` on a Pico is GPIO29, `ADC(3)` is
    GPIO29 too). Rules that read `pin` as a GPIO would each have to know that; rewriting the use
    before any rule runs means every rule sees the pin the firmware really reads. The channel map
    is board data (`Board.adc_id`, from chips.json with its source). Calling it twice is harmless.
    """
    uses = []
    changed = False
    for use in scan.uses:
        if use.kind == "adc" and use.note == "bare-id" and isinstance(use.pin, int):
            target = board.adc_id(use.pin)
            if target.channel is not None or not target.exists:
                changed = True
                pin = target.gpio if target.gpio is not None else target.pin
                use = replace(
                    use,
                    pin=pin,
                    adc_channel=target.channel,
                    internal=target.internal,
                    note="adc-channel" if target.exists else "adc-no-such-id",
                )
        uses.append(use)
    return replace(scan, uses=uses) if changed else scan


# --- what we recognise ----------------------------------------------------------------------

# Qualified constructor name -> kind. Both machine.TouchPad and esp32.TouchPad have existed.
_CONSTRUCTORS = {
    "machine.Pin": "pin",
    "machine.ADC": "adc",
    "machine.PWM": "pwm",
    "machine.DAC": "dac",
    "machine.TouchPad": "touch",
    "esp32.TouchPad": "touch",
    "machine.I2C": "i2c",
    "machine.SoftI2C": "softi2c",
    "machine.SPI": "spi",
    "machine.SoftSPI": "softspi",
    "machine.UART": "uart",
    "dht.DHT11": "dht",
    "dht.DHT22": "dht",
    "neopixel.NeoPixel": "neopixel",
    "onewire.OneWire": "onewire",
    "network.WLAN": "wlan",
}

# Names a beginner uses without importing them (pasted fragments) still mean the usual thing,
# unless the script defines the name itself.
_BARE_NAMES = {q.rsplit(".", 1)[1]: q for q in _CONSTRUCTORS if not q.startswith("esp32.")}
_BARE_NAMES["const"] = "micropython.const"

# Module -> names `from module import *` brings in that we care about.
_STAR_EXPORTS: dict[str, set[str]] = {}
for _q in [*_CONSTRUCTORS, "micropython.const"]:
    _mod, _name = _q.rsplit(".", 1)
    _STAR_EXPORTS.setdefault(_mod, set()).add(_name)

_SINGLE_PIN_ROLE = {
    "adc": "in",
    "pwm": "out",
    "dac": "out",
    "touch": "in",
    "dht": "data",
    "neopixel": "out",
    "onewire": "data",
}
# Keyword name MicroPython accepts for the pin of each single-pin constructor.
_SINGLE_PIN_KEYWORD = {"pwm": "dest"}

_BUS_SIGNALS = {
    "i2c": ("scl", "sda"),
    "softi2c": ("scl", "sda"),
    "spi": ("sck", "mosi", "miso"),
    "softspi": ("sck", "mosi", "miso"),
    "uart": ("tx", "rx"),
}

_MODES = {
    "OUT": "out",
    "IN": "in",
    "OPEN_DRAIN": "open-drain",
    "ALT": "alt",
    "ALT_OPEN_DRAIN": "alt-open-drain",
    "ANALOG": "analog",
}
_PULLS = {"PULL_UP": "up", "PULL_DOWN": "down"}

_GPIO_NAME = re.compile(r"^(?:GP|GPIO|IO)(\d+)$", re.IGNORECASE)


class _Unknown:
    """The value of an expression we could not fold."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class _PinConst:
    """`Pin.OUT`, `Pin.PULL_UP`...: kept symbolic so `MODE = Pin.IN` folds like a number."""

    name: str


@dataclass
class _Scope:
    """A Python scope with every assignment seen in it, folded on demand."""

    parent: _Scope | None
    assigns: dict[str, list[Any]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: Any) -> None:
        """Record `name = value`; `value` is an expression node or UNKNOWN."""
        self.assigns.setdefault(name, []).append(value)


@dataclass(frozen=True)
class _Binding:
    """`target = <call>` where the object might be a Pin or a WLAN, for later `.irq`, `PWM(x)`."""

    target: str
    value: ast.expr
    pos: tuple[int, int]
    scope: _Scope


@dataclass
class _PinRef:
    """Where a pin argument led: its folded value, or the reason it did not fold."""

    pin: int | str | None = None
    constant: str | None = None
    pull: str | None = None
    unresolved: tuple[int, str] | None = None
    given_as_pin: bool = False
    number: bool = False  # the script gave a number, not a name such as "GP26"


# --- the scanner -------------------------------------------------------------------------------


class _Scanner:
    """One scan: collect scopes, imports and calls first, then turn the calls into uses."""

    def __init__(self, text: str, path: str, tree: ast.Module) -> None:
        self.text = text
        self.lines = text.splitlines()
        self.result = ScanResult(path=path)
        self.tree = tree
        self.module = _Scope(parent=None)
        self.aliases: dict[str, str] = {}
        self.star_modules: set[str] = set()
        self.defined: set[str] = set()
        self.calls: list[tuple[ast.Call, _Scope]] = []
        self.bindings: list[_Binding] = []
        self.scope_of: dict[int, _Scope] = {}
        self.consumed: set[int] = set()
        self.use_of_node: dict[int, int] = {}
        self.evaluating: set[tuple[int, str]] = set()

    def run(self) -> ScanResult:
        self._collect(self.tree, self.module)
        self._collect_value_aliases()
        for call, scope in self.calls:
            self._scan_call(call, scope)
        for call, scope in self.calls:
            self._scan_method(call, scope)
        # A Pin variable passed on (`led = Pin(p)`, then `PWM(led)`) reports its argument once.
        self.result.unresolved = list(dict.fromkeys(self.result.unresolved))
        return self.result

    # -- pass 1: scopes, imports, bindings, calls in source order --

    def _collect(self, node: ast.AST, scope: _Scope) -> None:
        """Walk in pre-order (outer calls before the calls nested in them) tracking scopes."""
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if not isinstance(node, ast.Lambda):
                scope.add(node.name, UNKNOWN)
                self.defined.add(node.name)
                for deco in node.decorator_list:
                    self._collect(deco, scope)
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    self._collect(default, scope)
            inner = _Scope(parent=self._function_parent(scope))
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is not None:
                    inner.add(arg.arg, UNKNOWN)
            body = node.body if isinstance(node.body, list) else [node.body]
            globals_ = {
                n for stmt in ast.walk(node) if isinstance(stmt, ast.Global) for n in stmt.names
            }
            inner.values["__globals__"] = globals_
            for stmt in body:
                self._collect(stmt, inner)
            return
        if isinstance(node, ast.ClassDef):
            scope.add(node.name, UNKNOWN)
            self.defined.add(node.name)
            inner = _Scope(parent=scope)
            inner.values["__class__"] = (node.name, scope)
            for stmt in node.body:
                self._collect(stmt, inner)
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = _Scope(parent=scope)
            for gen in node.generators:
                self._collect(gen.iter, scope)
                for name in _target_names(gen.target):
                    inner.add(name, UNKNOWN)
                for cond in gen.ifs:
                    self._collect(cond, inner)
            parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            for part in parts:
                self._collect(part, inner)
            return

        self.scope_of[id(node)] = scope
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                self.aliases[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name == "*":
                    self.star_modules.add(node.module)
                else:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self._assign(target, node.value, scope)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self._assign(node.target, node.value, scope)
        elif isinstance(node, ast.NamedExpr):
            self._assign(node.target, node.value, scope)
        elif isinstance(node, (ast.AugAssign, ast.For, ast.AsyncFor)):
            for name in _target_names(node.target):
                self._scope_for(name, scope).add(name, UNKNOWN)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            for name in _target_names(node.optional_vars):
                self._scope_for(name, scope).add(name, UNKNOWN)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            scope.add(node.name, UNKNOWN)
        elif isinstance(node, ast.Call):
            self.calls.append((node, scope))

        for child in ast.iter_child_nodes(node):
            self._collect(child, scope)

    @staticmethod
    def _function_parent(scope: _Scope) -> _Scope:
        """Function bodies see enclosing functions and the module, never a class body."""
        while "__class__" in scope.values and scope.parent is not None:
            scope = scope.parent
        return scope

    def _scope_for(self, name: str, scope: _Scope) -> _Scope:
        """Where an assignment to `name` lands: the module when the function says `global`."""
        if name in scope.values.get("__globals__", ()):
            return self.module
        return scope

    def _assign(self, target: ast.expr, value: ast.expr, scope: _Scope) -> None:
        """Record constants (names) and object bindings (names and `self.x` attributes)."""
        if isinstance(target, (ast.Tuple, ast.List)):
            if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
                if not any(isinstance(e, ast.Starred) for e in target.elts):
                    for t, v in zip(target.elts, value.elts):
                        self._assign(t, v, scope)
                    return
            for name in _target_names(target):
                self._scope_for(name, scope).add(name, UNKNOWN)
            return
        dotted = _dotted(target)
        if dotted is None:
            return
        pos = (target.lineno, target.col_offset)
        self.bindings.append(_Binding(dotted, value, pos, scope))
        if isinstance(target, ast.Name):
            self._scope_for(target.id, scope).add(target.id, value)
            self.defined.add(target.id)
            owner = scope.values.get("__class__")
            if owner is not None:  # class Cfg: LED = 2  ->  Cfg.LED in the enclosing scope
                owner[1].add(f"{owner[0]}.{target.id}", value)

    def _collect_value_aliases(self) -> None:
        """`Pin = machine.Pin` at module level is an alias, like `from machine import Pin`."""
        for name, values in self.module.assigns.items():
            if len(values) == 1 and isinstance(values[0], (ast.Name, ast.Attribute)):
                qualified = self._qualify(values[0])
                if qualified is not None:
                    self.aliases[name] = qualified

    # -- names --

    def _qualify(self, node: ast.expr) -> str | None:
        """`P` -> "machine.Pin", `machine.Pin` -> "machine.Pin", unknown -> None."""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            for module in self.star_modules:
                if node.id in _STAR_EXPORTS.get(module, ()):
                    return f"{module}.{node.id}"
            if node.id not in self.defined:
                return _BARE_NAMES.get(node.id)
            return None
        if isinstance(node, ast.Attribute):
            base = node.value
            if isinstance(base, ast.Name) and base.id not in self.aliases:
                # `machine.Pin` with no `import machine`: the script will fail, but say what it
                # meant.
                if base.id in _STAR_EXPORTS and base.id not in self.defined:
                    return f"{base.id}.{node.attr}"
                return None
            prefix = self._qualify(base)
            return f"{prefix}.{node.attr}" if prefix else None
        return None

    def _kind_of(self, call: ast.Call) -> str | None:
        qualified = self._qualify(call.func)
        return _CONSTRUCTORS.get(qualified) if qualified else None

    # -- constant folding --

    def _lookup(self, name: str, scope: _Scope) -> Any:
        """The folded value of `name` as seen from `scope`: local first, then outward."""
        s: _Scope | None = scope
        while s is not None:
            if name in s.assigns:
                return self._scope_value(name, s)
            s = s.parent
        return UNKNOWN

    def _scope_value(self, name: str, scope: _Scope) -> Any:
        """A name is a constant only when every assignment to it in its scope agrees."""
        if name in scope.values:
            return scope.values[name]
        key = (id(scope), name)
        if key in self.evaluating:
            return UNKNOWN
        self.evaluating.add(key)
        try:
            found: list[Any] = []
            for expr in scope.assigns[name]:
                found.append(UNKNOWN if expr is UNKNOWN else self._fold(expr, scope))
            first = found[0]
            value = first if all(v == first and v is not UNKNOWN for v in found) else UNKNOWN
            if _contains_unknown(value) and not isinstance(value, (tuple, list, dict)):
                value = UNKNOWN
        finally:
            self.evaluating.discard(key)
        scope.values[name] = value
        return value

    def _fold(self, node: ast.expr, scope: _Scope) -> Any:
        """Fold an expression to a Python value, or UNKNOWN. Never executes anything."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self._lookup(node.id, scope)
        if isinstance(node, ast.Attribute):
            if node.attr in _MODES or node.attr in _PULLS:
                return _PinConst(node.attr)
            dotted = _dotted(node)
            return self._lookup(dotted, scope) if dotted else UNKNOWN
        if isinstance(node, (ast.Tuple, ast.List)):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                return UNKNOWN
            items = tuple(self._fold(e, scope) for e in node.elts)
            return items if isinstance(node, ast.Tuple) else list(items)
        if isinstance(node, ast.Dict):
            out: dict[Any, Any] = {}
            for k, v in zip(node.keys, node.values):
                key = UNKNOWN if k is None else self._fold(k, scope)
                if key is UNKNOWN or isinstance(key, (list, dict)):
                    return UNKNOWN
                out[key] = self._fold(v, scope)
            return out
        if isinstance(node, ast.Subscript):
            container = self._fold(node.value, scope)
            index = self._fold(node.slice, scope)
            if container is UNKNOWN or index is UNKNOWN or isinstance(index, (list, dict)):
                return UNKNOWN
            try:
                return container[index]
            except (KeyError, IndexError, TypeError):
                return UNKNOWN
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self._fold(node.operand, scope)
            if isinstance(operand, int) and not isinstance(operand, bool):
                return -operand if isinstance(node.op, ast.USub) else operand
            return UNKNOWN
        if isinstance(node, ast.BinOp):
            return _binop(node.op, self._fold(node.left, scope), self._fold(node.right, scope))
        if isinstance(node, ast.Call):
            if self._qualify(node.func) == "micropython.const" and len(node.args) == 1:
                return self._fold(node.args[0], scope)
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "get" and 1 <= len(node.args) <= 2:
                mapping = self._fold(func.value, scope)
                key = self._fold(node.args[0], scope)
                if isinstance(mapping, dict) and key is not UNKNOWN:
                    if key in mapping:
                        return mapping[key]
                    return self._fold(node.args[1], scope) if len(node.args) == 2 else None
        return UNKNOWN

    # -- object bindings --

    def _binding_for(self, node: ast.expr, scope: _Scope, depth: int = 0) -> ast.Call | None:
        """The call a variable was bound to (`led` -> `Pin(2, Pin.OUT)`), following `a = b`."""
        if isinstance(node, ast.Call):
            return node
        dotted = _dotted(node)
        if dotted is None or depth > 8:
            return None
        candidates = [b for b in self.bindings if b.target == dotted]
        if isinstance(node, ast.Name):
            # A local name (a parameter, say) hides a module-level one of the same name.
            home = self._home_scope(node.id, scope)
            candidates = [b for b in candidates if self._scope_for(node.id, b.scope) is home]
        if not candidates:
            return None
        pos = (node.lineno, node.col_offset)
        before = [b for b in candidates if b.pos < pos]
        chosen = before[-1] if before else candidates[0]
        return self._binding_for(chosen.value, chosen.scope, depth + 1)

    def _home_scope(self, name: str, scope: _Scope) -> _Scope | None:
        s: _Scope | None = scope
        while s is not None:
            if name in s.assigns:
                return s
            s = s.parent
        return None

    # -- pass 2: calls to uses --

    def _scan_call(self, call: ast.Call, scope: _Scope) -> None:
        kind = self._kind_of(call)
        if kind is None or id(call) in self.consumed:
            return
        if kind == "pin":
            self._scan_pin(call, scope)
        elif kind in _SINGLE_PIN_ROLE:
            keyword = _SINGLE_PIN_KEYWORD.get(kind, "pin")
            expr = _argument(call, 0, keyword) or _argument(call, None, "id")
            note = None
            if expr is None:
                ref, note = self._absent(call, "missing")
            else:
                ref = self._resolve_pin_arg(expr, scope)
                if kind == "adc" and ref.number and not ref.given_as_pin:
                    note = "bare-id"
            self._emit(kind, _SINGLE_PIN_ROLE[kind], ref, call, note=note)
        elif kind in _BUS_SIGNALS:
            self._scan_bus(kind, call, scope)
        elif kind == "wlan":
            self._emit("wlan", "", _PinRef(), call)

    def _scan_pin(self, call: ast.Call, scope: _Scope) -> None:
        id_expr = _argument(call, 0, "id")
        note = None
        if id_expr is None:
            ref, note = self._absent(call, "missing")
        else:
            ref = self._resolve_pin_value(id_expr, scope)
        mode = self._pin_const(_argument(call, 1, "mode"), scope, _MODES)
        ref.pull = self._pin_const(_argument(call, 2, "pull"), scope, _PULLS)
        self._emit("pin", _pin_role(mode, ref.pull), ref, call, note=note)

    def _absent(self, call: ast.Call, note: str) -> tuple[_PinRef, str | None]:
        """An argument the call leaves out: hidden in `*args`/`**cfg` (unresolved) or absent."""
        for arg in call.args:
            if isinstance(arg, ast.Starred):
                return _PinRef(unresolved=(arg.lineno, self._segment(arg))), None
        for kw in call.keywords:
            if kw.arg is None:
                return _PinRef(unresolved=(kw.value.lineno, "**" + self._segment(kw.value))), None
        return _PinRef(), note

    def _scan_bus(self, kind: str, call: ast.Call, scope: _Scope) -> None:
        signals = _BUS_SIGNALS[kind]
        soft = kind.startswith("soft")
        positional = [a for a in call.args if not isinstance(a, ast.Starred)]
        bus_id: int | None = None
        first_pin = 0
        id_keyword = _argument(call, None, "id")
        if not soft and id_keyword is not None:
            # `I2C(id=1, ...)`: the bus number, never a pin; the pins are keywords then.
            folded = self._fold(id_keyword, scope)
            if isinstance(folded, int) and not isinstance(folded, bool):
                bus_id = folded
        elif not soft and positional and not self._looks_like_pin(positional[0], scope):
            folded = self._fold(positional[0], scope)
            if isinstance(folded, int) and not isinstance(folded, bool):
                bus_id = folded
            first_pin = 1
        # Only I2C takes its pins positionally (old `I2C(-1, Pin(5), Pin(4))`, SoftI2C(scl, sda));
        # SPI and UART take a baud rate there.
        pin_positions = kind in ("i2c", "softi2c")
        for i, signal in enumerate(signals):
            expr = _argument(call, first_pin + i if pin_positions else None, signal)
            if expr is None:
                ref, note = self._absent(call, "missing" if soft else "default-pins")
                self._emit(kind, signal, ref, call, bus_id=bus_id, note=note)
            else:
                ref = self._resolve_pin_arg(expr, scope)
                self._emit(kind, signal, ref, call, bus_id=bus_id)

    def _looks_like_pin(self, expr: ast.expr, scope: _Scope) -> bool:
        bound = self._binding_for(expr, scope) if not isinstance(expr, ast.Constant) else None
        return bound is not None and self._kind_of(bound) == "pin"

    def _pin_const(self, expr: ast.expr | None, scope: _Scope, table: dict[str, str]) -> str | None:
        if expr is None:
            return None
        value = self._fold(expr, scope)
        return table.get(value.name) if isinstance(value, _PinConst) else None

    def _resolve_pin_arg(self, expr: ast.expr, scope: _Scope) -> _PinRef:
        """A peripheral's pin argument: `Pin(14)` nested, a Pin variable, or a bare number."""
        if isinstance(expr, ast.Call) and self._kind_of(expr) == "pin":
            self.consumed.add(id(expr))
            return self._pin_of_call(expr, scope)
        if not isinstance(expr, ast.Constant):
            bound = self._binding_for(expr, scope)
            if bound is not None and self._kind_of(bound) == "pin":
                return self._pin_of_call(bound, self.scope_of.get(id(bound), self.module))
        return self._resolve_pin_value(expr, scope)

    def _pin_of_call(self, call: ast.Call, scope: _Scope) -> _PinRef:
        id_expr = _argument(call, 0, "id")
        ref = self._resolve_pin_value(id_expr, scope) if id_expr is not None else _PinRef()
        ref.pull = self._pin_const(_argument(call, 2, "pull"), scope, _PULLS)
        ref.given_as_pin = True
        return ref

    def _resolve_pin_value(self, expr: ast.expr, scope: _Scope) -> _PinRef:
        """A pin number or name: folded through constants, normalised ("GP15" -> 15)."""
        value = self._fold(expr, scope)
        pin = _normalise_pin(value)
        if pin is None:
            return _PinRef(unresolved=(expr.lineno, self._segment(expr)))
        named = any(isinstance(n, (ast.Name, ast.Attribute)) for n in ast.walk(expr))
        constant = self._segment(expr) if named else None
        number = isinstance(value, int) and not isinstance(value, bool)
        return _PinRef(pin=pin, constant=constant, number=number)

    def _emit(
        self,
        kind: str,
        role: str,
        ref: _PinRef,
        call: ast.Call,
        bus_id: int | None = None,
        note: str | None = None,
    ) -> None:
        if ref.unresolved is not None:
            self.result.unresolved.append(ref.unresolved)
        self.use_of_node.setdefault(id(call), len(self.result.uses))
        self.result.uses.append(
            PinUse(
                kind=kind,
                role=role,
                pin=ref.pin,
                line=call.lineno,
                col=self._char_col(call),
                source=self._segment(call),
                bus_id=bus_id,
                pull=ref.pull,
                constant=ref.constant,
                note=note,
            )
        )

    # -- pass 3: methods on objects: pin.irq(...), wlan.active(True) --

    def _scan_method(self, call: ast.Call, scope: _Scope) -> None:
        func = call.func
        if not isinstance(func, ast.Attribute) or func.attr not in ("irq", "active"):
            return
        target = self._binding_for(func.value, scope)
        if target is None:
            return
        kind = self._kind_of(target)
        if func.attr == "irq" and kind == "pin" and id(target) in self.use_of_node:
            index = self.use_of_node[id(target)]
            self.result.uses[index] = replace(self.result.uses[index], irq=True)
        elif func.attr == "active" and kind == "wlan" and call.args:
            value = self._fold(call.args[0], scope)
            if value is not UNKNOWN and bool(value):
                self.result.wlan_active = True

    # -- source text --

    def _segment(self, node: ast.AST) -> str:
        """The node's source, on one line so it fits a one-line message."""
        text = ast.get_source_segment(self.text, node) or ast.unparse(node)
        if "\n" in text:
            text = " ".join(part.strip() for part in text.splitlines() if part.strip())
        return text

    def _char_col(self, node: ast.expr) -> int:
        """ast gives a UTF-8 byte offset; Tk and people count characters."""
        line = self.lines[node.lineno - 1] if 0 < node.lineno <= len(self.lines) else ""
        return len(line.encode("utf-8")[: node.col_offset].decode("utf-8", errors="replace"))


# --- helpers -----------------------------------------------------------------------------------


def _argument(call: ast.Call, position: int | None, keyword: str) -> ast.expr | None:
    """The argument at `position` or named `keyword`, whichever the call used."""
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if position is None:
        return None
    positional = []
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            break
        positional.append(arg)
    return positional[position] if position < len(positional) else None


def _dotted(node: ast.AST) -> str | None:
    """`led` -> "led", `self.led` -> "self.led", anything else -> None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _target_names(target: ast.AST) -> Iterator[str]:
    for node in ast.walk(target):
        if isinstance(node, ast.Name):
            yield node.id


def _contains_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, (tuple, list)):
        return any(_contains_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_unknown(v) for v in value.values())
    return False


def _binop(op: ast.operator, left: Any, right: Any) -> Any:
    """Integer arithmetic of constants (`BASE + 1`) and string joins (`"GP" + "15"`)."""
    if isinstance(left, str) and isinstance(right, str) and isinstance(op, ast.Add):
        return left + right
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right)):
        return UNKNOWN
    try:
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.FloorDiv):
            return left // right
        if isinstance(op, ast.Mod):
            return left % right
        if isinstance(op, ast.LShift) and 0 <= right < 64:
            return left << right
        if isinstance(op, ast.BitOr):
            return left | right
    except ZeroDivisionError:
        return UNKNOWN
    return UNKNOWN


def _normalise_pin(value: Any) -> int | str | None:
    """GPIO numbers as int; "GP15"/"GPIO15"/"IO15" -> 15; board names ("LED", "D5") kept."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip():
        name = value.strip()
        if name.isdigit():
            return int(name)
        match = _GPIO_NAME.match(name)
        return int(match.group(1)) if match else name
    return None


def _pin_role(mode: str | None, pull: str | None) -> str:
    if pull is not None and mode is None:
        mode = "in"
    role = mode or ""
    return f"{role}+pull_{pull}" if pull else role
