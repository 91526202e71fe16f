"""`iotkit broker`: the embedded MQTT broker (companion_app.classroom.broker) from a terminal.

Only argparse lives at import time. The command serves until Ctrl-C or SIGTERM and then exits
0, because stopping it is how a teacher ends it, not a failure. What it prints, in steps:

1. one line on stdout with the URL (and, with --lan, this PC's network addresses as the lines
   to put in class.toml, since the boards are not on this PC);
2. with --port-file, the URL written to that file once the broker listens, so a script or a
   test can wait for it (port 0 = any free port, said only there and in line 1);
3. nothing more, unless -v: amqtt logs every connection otherwise.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from companion_app.inputs import check_output_file, tcp_port

log = logging.getLogger(__name__)

EXIT_OK = 0
_WAIT_SLICE_S = 0.5  # Event.wait() in slices, so Ctrl-C reaches the main thread on Windows too


def add_broker_parser(subparsers: Any) -> argparse.ArgumentParser:
    from companion_app.classroom.broker import DEFAULT_PORT  # a constant; amqtt stays unloaded

    p = subparsers.add_parser(
        "broker",
        help="run an MQTT broker on this PC for a lab that has none",
        description="An embedded MQTT 3.1.1 broker (amqtt), anonymous, with retained messages "
        "and last wills, for the class dashboard and the boards' mqtt template. It serves "
        "until Ctrl-C. A lab that has mosquitto (or any MQTT broker) should use that instead.",
    )
    p.add_argument(
        "--port",
        type=tcp_port,
        default=DEFAULT_PORT,
        help=f"the TCP port (default {DEFAULT_PORT}; 0 = any free port)",
    )
    p.add_argument(
        "--lan",
        action="store_true",
        help="let the boards on the network reach it (default: this computer only)",
    )
    p.add_argument(
        "--port-file",
        metavar="FILE",
        help="write the broker's URL (mqtt://127.0.0.1:N) here once it listens",
    )
    p.set_defaults(func=run_broker)
    return p


def _announcement(url: str, lan: bool, addresses: list[str], port: int) -> list[str]:
    """Where the broker is, said as what to do with it."""
    if not lan:
        return [f"MQTT broker on {url} (this computer only; --lan to let the boards reach it)"]
    lines = [f"MQTT broker on port {port} of every network interface of this computer."]
    if addresses:
        lines.append("Put one of these in class.toml (the one on the boards' network):")
        lines += [f'  broker = "mqtt://{address}:{port}"' for address in addresses]
    else:
        lines.append(
            "This computer has no network address now: connect it to the lab's network, "
            'then put broker = "mqtt://<its address>:' + f'{port}" in class.toml.'
        )
    return lines


def run_broker(args: argparse.Namespace) -> int:
    from companion_app.classroom.broker import EmbeddedBroker, lan_addresses, quiet_amqtt_logging
    from companion_app.simulator.endpoint import write_port_file

    if args.port_file:  # a wrong path is refused before the port is taken
        check_output_file(args.port_file, "--port-file")
    quiet_amqtt_logging(bool(getattr(args, "verbose", False)))
    stop = threading.Event()
    previous = _on_sigterm(stop)  # before the broker starts: a kill then still exits 0
    broker = EmbeddedBroker(args.port, lan=args.lan)
    try:
        broker.start()
        addresses = lan_addresses() if args.lan else []
        for line in _announcement(broker.url, args.lan, addresses, broker.port):
            print(line, flush=True)
        if args.port_file:
            write_port_file(args.port_file, broker.url, what="broker's port file")
        try:
            while not stop.wait(_WAIT_SLICE_S):
                pass
        except KeyboardInterrupt:
            pass
        print("MQTT broker stopped.", file=sys.stderr, flush=True)
        return EXIT_OK
    finally:
        broker.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _on_sigterm(stop: threading.Event) -> Any:
    """SIGTERM (what `kill` and service managers send) ends the broker like Ctrl-C does."""
    try:
        return signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    except ValueError:  # not the main thread (an embedding program): Ctrl-C only
        return None
