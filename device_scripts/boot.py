# boot.py - the board runs this first at every start (power-on, the reset button, Ctrl-D).
#
# boot.py is for the little that must happen before your program: here, letting the OTA
# updater finish or undo an update. Your program itself starts in main.py, which runs next.
# Keep boot.py short and safe: if it crashes or hangs, main.py may never run, and a board
# stuck in boot.py is hard to fix without re-flashing.
import os

try:
    os.stat("/ota.py")
    has_ota = True
except OSError:
    has_ota = False  # no OTA updater installed: nothing to do

if has_ota:
    try:
        import ota

        # Counts boots of a new version and rolls it back if it keeps failing. On a trial boot
        # it also arms the watchdog: a new main.py that crashes at import or hangs resets the
        # board by itself, so the rollback needs nobody to press reset.
        ota.on_boot()
    except Exception as e:  # a broken ota.py must never stop the board from starting
        print("boot: ota.on_boot() failed:", repr(e))
