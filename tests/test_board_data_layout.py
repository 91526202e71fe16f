"""Board layout facts in the data files: the order of each header column, against where Wokwi
puts the pins (board.json y positions), and the pinout picture drawing from that fact."""

from __future__ import annotations

import pytest
from test_boards import DATA, WOKWI_REFERENCE, _load_wokwi_board_json

from companion_app.boards import (
    RIGHT_COLUMN_ORDERS,
    _board_from_data,
    load_board,
    validate_board_data,
)
from companion_app.wiring.pinout import header_columns


def _wokwi_pins(folder: str) -> dict[str, dict]:
    if not (WOKWI_REFERENCE / folder / "board.json").is_file():
        pytest.skip(f"Wokwi reference board.json not available at {WOKWI_REFERENCE}")
    return _load_wokwi_board_json(folder)["pins"]


def _reference_folder(board_id: str) -> str | None:
    """The Wokwi board whose pin positions stand for this board: its own ``wokwi_board``, or
    for a board of our own (Pico 2 W) the Wokwi board that has every one of its header pin
    names (the board file says the header is pin-for-pin the same)."""
    data = DATA[board_id]
    if "wokwi_board" in data:
        return data["wokwi_board"]
    names = {p["name"] for p in data["pins"] if p.get("header", True)}
    if not WOKWI_REFERENCE.is_dir():
        return None
    for folder in sorted(p.name for p in WOKWI_REFERENCE.iterdir()):
        board_json = WOKWI_REFERENCE / folder / "board.json"
        if board_json.is_file() and names <= set(_load_wokwi_board_json(folder)["pins"]):
            return folder
    return None


def _order(ys: list[float]) -> str:
    if all(a < b for a, b in zip(ys, ys[1:])):
        return "top-down"
    if all(a > b for a, b in zip(ys, ys[1:])):
        return "bottom-up"
    return "mixed"


WITH_REFERENCE = sorted(b for b in DATA if _reference_folder(b))


def test_every_board_with_a_wokwi_file_is_checked():
    # The three boards of our own with no Wokwi twin are checked against their sources by hand.
    assert {"esp32-devkit-v1", "pico", "pico-w", "pico2-w", "esp32-devkitc"} <= set(WITH_REFERENCE)


@pytest.mark.parametrize("board_id", WITH_REFERENCE)
def test_right_column_order_matches_wokwi_y_positions(board_id):
    pins = _wokwi_pins(_reference_folder(board_id))
    board = load_board(board_id)
    header = [p.name for p in board.pins if p.header]
    half = (len(header) + 1) // 2
    left, right = header[:half], header[half:]
    # Two columns: one x each, the left one left of the right one.
    left_x = {pins[n]["x"] for n in left}
    right_x = {pins[n]["x"] for n in right}
    assert len(left_x) == 1 and len(right_x) == 1 and left_x.pop() < right_x.pop()
    assert _order([pins[n]["y"] for n in left]) == "top-down"
    assert _order([pins[n]["y"] for n in right]) == board.right_column_order
    assert board.right_column_order == DATA[board_id]["right_column"]["order"]


@pytest.mark.parametrize("board_id", WITH_REFERENCE)
def test_pinout_draws_both_columns_top_to_bottom_as_on_the_board(board_id):
    pins = _wokwi_pins(_reference_folder(board_id))
    for column in header_columns(load_board(board_id)):
        assert _order([pins[p.name]["y"] for p in column]) == "top-down"


@pytest.mark.parametrize("board_id", sorted(DATA))
def test_every_board_file_states_its_column_order_with_a_source(board_id):
    entry = DATA[board_id]["right_column"]
    assert entry["order"] in RIGHT_COLUMN_ORDERS
    assert entry["source"].startswith("https://")


def test_the_picture_follows_the_order_the_data_gives():
    data = {k: v for k, v in DATA["pico"].items() if k != "right_column"}
    assert validate_board_data(data, expected_id="pico") == []
    unsaid = _board_from_data(data)  # no key: the right column is listed top down
    assert unsaid.right_column_order == "top-down"
    _, right = header_columns(unsaid)
    assert right[0].name == "GP16" and right[-1].name == "VBUS"
    _, right = header_columns(load_board("pico"))  # the file says bottom-up
    assert right[0].name == "VBUS" and right[-1].name == "GP16"


@pytest.mark.parametrize(
    "entry, problem",
    [
        ({"order": "sideways", "source": "x"}, '"order" must be one of'),
        ({"order": "bottom-up"}, 'needs a "source"'),
        ("bottom-up", "must be an object"),
    ],
)
def test_a_bad_right_column_entry_is_explained(entry, problem):
    data = {**DATA["pico"], "right_column": entry}
    problems = validate_board_data(data, expected_id="pico")
    assert len(problems) == 1 and problem in problems[0]
