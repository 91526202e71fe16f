# main.py - the board runs this after boot.py, at every start. It starts the parts you chose.
#
# The parts are listed in /config.json, e.g.  "parts": ["wifi", "sensor", "web"]
# Each part is a module (wifi.py, sensor.py, ...) with `async def run(cfg)`. They all run at
# the same time as asyncio tasks: each one does a little work, then awaits (sleeps), which lets
# the others run. So a part must never sit in a long loop without an `await`.
#
# Ctrl-C in Thonny (or Stop) ends main.py and gives you the >>> prompt back.
# `import main` at the prompt does not start it again; `main.start()` does.
#
# While an OTA update is on trial (see ota.py), boot.py has armed the watchdog: main.py feeds
# it from the event loop, so a part that blocks the loop, or a main.py that never gets this
# far, resets the board; an unhandled error resets it at once. Either way the boot counts,
# and a version that keeps failing is rolled back with nobody there. The version is marked
# good after its parts have run well for ota_good_after_s seconds (OTA_GOOD_AFTER_S).
import sys
import time
import asyncio
import config

MODULE_OF_PART = {"mqtt": "mqtt_pub"}  # part name -> module name, where they differ
# ota_good_after_s, as in config.py's DEFAULTS: how long a new version must run well to be kept
OTA_GOOD_AFTER_S = 30
RESET_DELAY_S = 2  # pause before a reset, so the message can still be read


def _one_line(e):
    return "%s: %s" % (type(e).__name__, e)


def _load(part):
    """Import a part's module. A missing or broken module is reported; None is returned."""
    name = MODULE_OF_PART.get(part, part)
    try:
        return __import__(name)
    except Exception as e:  # ImportError, SyntaxError, or an error while the module loads
        print("main: starting %r failed (%s) - the other parts still run" % (part, _one_line(e)))
        return None


def _update_on_trial():
    """True while an OTA update is being tried out (ota.py says so)."""
    try:
        import ota

        return ota.pending()
    except Exception:
        return False  # no ota.py, or a broken one: nothing to roll back


def _watchdog():
    """ota.py when it armed the watchdog in this boot (something must feed it), else None."""
    try:
        import ota

        return ota if ota.watchdog_armed() else None
    except Exception:
        return None


async def _feed_watchdog(ota):
    """Feed the watchdog from the event loop: a part that never awaits starves it."""
    ota.timer_feeds_watchdog(False)  # the loop runs: from now on it proves the board is alive
    while True:
        ota.feed_watchdog()
        await asyncio.sleep_ms(ota.WDT_FEED_MS)


def _reset_for_rollback(why):
    import machine

    print("main: %s - restarting in %d s so the update is rolled back" % (why, RESET_DELAY_S))
    time.sleep(RESET_DELAY_S)
    machine.reset()


async def _guard(part, module, cfg, failed):
    """Run one part. If it crashes, say so; the other parts keep running."""
    try:
        await module.run(cfg)
    except Exception as e:
        print("main: part %r stopped with an error:" % part)
        sys.print_exception(e)
        failed.append(part)
        if _update_on_trial():
            _reset_for_rollback("part %s failed while an update was on trial" % part)


async def _confirm_update(cfg, failed):
    """After ota_good_after_s of running well, tell ota.py the new version is good."""
    await asyncio.sleep(cfg.get("ota_good_after_s", OTA_GOOD_AFTER_S))
    if failed:
        if _update_on_trial():
            _reset_for_rollback("part %s failed while an update was on trial" % failed[0])
        return
    try:
        import ota

        ota.mark_good()
    except Exception as e:
        print("main: ota.mark_good() failed (%s)" % _one_line(e))


async def _main(cfg):
    parts = cfg["parts"]
    if not parts:
        print('main: no parts in config.json - add some, e.g. "parts": ["wifi", "sensor"]')
        return
    print("main: starting", ", ".join(parts))
    watchdog = _watchdog()
    if watchdog:
        # Imports and the Wi-Fi join block the loop for a while, as they may: a timer feeds.
        watchdog.timer_feeds_watchdog()
    modules = [(part, _load(part)) for part in parts]
    # A part that did not even import counts as failed: an update shipping a broken module
    # must not be marked good (and so kept) just because the other parts run.
    failed = [part for part, module in modules if module is None]
    if failed and _update_on_trial():
        _reset_for_rollback("part %s failed while an update was on trial" % failed[0])
    for part, module in modules:
        if part == "wifi" and module is not None:
            module.connect(cfg)  # first, so web/mqtt/ota find the network up (has a time limit)
    if watchdog:
        asyncio.create_task(_feed_watchdog(watchdog))  # not awaited: it ends with the loop
    tasks = [
        asyncio.create_task(_guard(part, module, cfg, failed))
        for part, module in modules
        if module is not None
    ]
    if _update_on_trial():  # also for an update installed by hand, without the ota part
        tasks.append(asyncio.create_task(_confirm_update(cfg, failed)))
    await asyncio.gather(*tasks)
    print("main: all parts have finished")


def _keep_watchdog_quiet(why):
    """A person has the prompt, or main.py ended: the watchdog (unstoppable) gets a timer."""
    watchdog = _watchdog()
    if watchdog:
        watchdog.timer_feeds_watchdog()
        print("main: %s - a timer now feeds the watchdog, so the board stays at >>>" % why)


def start():
    cfg = config.load()
    try:
        asyncio.run(_main(cfg))
    except KeyboardInterrupt:
        print("main: stopped by Ctrl-C")
        _keep_watchdog_quiet("stopped")
        raise  # so the REPL (Thonny) sees it and gives you the prompt
    except Exception as e:
        sys.print_exception(e)
        if _update_on_trial():
            _reset_for_rollback("main.py failed")
        _keep_watchdog_quiet("main.py failed")
    else:
        watchdog = _watchdog()
        if _update_on_trial() and watchdog:
            # Parts that end cannot prove the update: the watchdog restarts the board.
            watchdog.timer_feeds_watchdog(False)
            print("main: the parts ended while an update is on trial - the watchdog will restart")
        else:
            _keep_watchdog_quiet("main.py ended")
    finally:
        asyncio.new_event_loop()  # forget the stopped tasks: the next asyncio.run starts clean


if __name__ == "__main__":
    start()
