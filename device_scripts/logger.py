# logger.py - keep the sensor's readings in a CSV file on the board's flash.
#
# From main.py (a task):    asyncio.create_task(logger.run(cfg))
# From the REPL:            import logger, config
#                           logger.append(config.load(), {"temp_c": 21.5, "humidity": 40.0}, 0)
#
# The file (log_file, default /log/readings.csv) starts with a header row:
#     time_ms,temp_c,humidity
#     183042,22.5,41.0
# time_ms is time.ticks_ms() of the reading: milliseconds since the board started.
# Open the file in Thonny, or plot it on your computer with `iotkit plot --from-file`.
#
# Flash is small. When the file grows past log_max_bytes it is renamed readings.csv.1 (the
# older .1 becomes .2, and so on) and a new file starts. Only log_keep old files are kept, so
# all logs together never take more than (log_keep + 1) * log_max_bytes.
import os
import asyncio
import sensor

ENOSPC = 28  # "no space left on device"; MicroPython's errno module has no name for it
POLL_MS = 250  # how often we look for a new reading from the sensor

_dirs_made = []


def columns(cfg):
    if cfg["sensor"] == "bme280":
        return ("temp_c", "humidity", "pressure_hpa")
    return ("temp_c", "humidity")


def header(cfg):
    return "time_ms," + ",".join(columns(cfg))


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return None  # no such file (yet)


def _make_dirs(path):
    """mkdir -p for the folder of `path`."""
    folder = ""
    for part in path.split("/")[1:-1]:
        folder += "/" + part
        try:
            os.mkdir(folder)
        except OSError:
            pass  # it exists already


def _rotate(path, keep):
    """readings.csv -> .1, .1 -> .2, ... ; the oldest one, .keep, is deleted."""
    for i in range(keep, 0, -1):
        older = "%s.%d" % (path, i)
        newer = "%s.%d" % (path, i - 1) if i > 1 else path
        if _size(older) is not None:
            os.remove(older)
        if _size(newer) is not None:
            os.rename(newer, older)
    if keep < 1 and _size(path) is not None:
        os.remove(path)


def _drop_oldest(path, keep):
    """Free space by deleting the oldest rotated file. Returns its name, or None."""
    for i in range(keep, 0, -1):
        name = "%s.%d" % (path, i)
        if _size(name) is not None:
            os.remove(name)
            return name
    return None


def append(cfg, reading, time_ms):
    """Write one row. A full flash is reported, not raised: the board keeps running."""
    path = cfg["log_file"]
    if path not in _dirs_made:
        _make_dirs(path)
        _dirs_made.append(path)
    cells = [str(time_ms)]
    for key in columns(cfg):
        value = reading.get(key)
        cells.append("" if value is None else str(value))
    row = ",".join(cells) + "\n"
    size = _size(path)
    try:
        if size is not None and size + len(row) > cfg["log_max_bytes"]:
            _rotate(path, cfg["log_keep"])
            size = None
        # Opening and closing the file for each row writes it to flash at once, so a reset
        # or a power cut loses at most the row being written.
        with open(path, "a") as f:
            if not size:
                f.write(header(cfg) + "\n")
            f.write(row)
        return True
    except OSError as e:
        code = e.args[0] if e.args else None
        if code == ENOSPC:
            dropped = _drop_oldest(path, cfg["log_keep"])
            if dropped:
                print("logger: the flash is full - deleted the oldest log", dropped)
            else:
                print(
                    "logger: the flash is full and there is no old log to delete - "
                    "this reading is not saved"
                )
        else:
            print("logger: writing %s failed (OSError: %s)" % (path, e))
        return False


async def run(cfg):
    """Append every new reading that sensor.py makes."""
    path = cfg["log_file"]
    _make_dirs(path)
    _dirs_made.append(path)
    first = _first_line(path)
    if first is not None and first != header(cfg):
        print("logger: %s has other columns - starting a new file" % path)
        _rotate(path, cfg["log_keep"])
    print("logger: writing readings to", path)
    logged = None
    while True:
        if sensor.latest_time is not None and sensor.latest_time != logged:
            logged = sensor.latest_time
            append(cfg, sensor.latest, logged)
        await asyncio.sleep_ms(POLL_MS)


def _first_line(path):
    try:
        with open(path) as f:
            return f.readline().strip()
    except OSError:
        return None
