"""The firmware cache fills from a micropython.org-like server and checks what it holds.

There is no internet here, so the download path runs against a local HTTP server that serves
the same page layout and file names as micropython.org.
"""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest
from firmware_helpers import merged_image

from companion_app.firmware.cache import FirmwareCache, FirmwareCacheError

FILES = {
    "ESP32_GENERIC-20240602-v1.23.0.bin": merged_image(0, 0x1000),
    "ESP32_GENERIC-20241129-v1.24.1.bin": merged_image(0, 0x1000),
    "ESP32_GENERIC-20250101-v1.25.0-preview.10.g123.bin": merged_image(0, 0x1000),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    short = set()

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/download/ESP32_GENERIC/":
            links = "".join(f'<a href="/resources/firmware/{n}">{n}</a>\n' for n in FILES)
            body = f"<html><body>{links}</body></html>".encode()
        elif self.path.startswith("/resources/firmware/") and self.path.rsplit("/")[-1] in FILES:
            name = self.path.rsplit("/")[-1]
            body = FILES[name]
            if name in self.short:  # a connection that drops mid-download
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                return
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    _Handler.short.clear()


def test_download_fills_the_cache_with_the_newest_release(tmp_path, server):
    httpd, url = server
    cache = FirmwareCache(tmp_path / "cache", base_url=url)
    item = cache.find("esp32-devkit-v1")
    assert item.version == "v1.24.1"  # the preview is newer but not a release
    data = FILES["ESP32_GENERIC-20241129-v1.24.1.bin"]
    assert item.path.read_bytes() == data
    assert item.sha256 == hashlib.sha256(data).hexdigest()
    # Offline now: the cache answers by itself, for any board that uses the same firmware.
    httpd.shutdown()
    again = FirmwareCache(tmp_path / "cache", base_url=url).find("esp32-devkit-v1")
    assert again.path == item.path


def test_a_chosen_version_is_picked(tmp_path, server):
    _, url = server
    cache = FirmwareCache(tmp_path / "cache", base_url=url)
    assert cache.find("esp32-devkit-v1", version="1.23.0").version == "v1.23.0"
    versions = [c.version for c in cache.versions("esp32-devkit-v1")]
    assert versions == ["v1.23.0"]


def test_a_download_cut_short_is_not_cached(tmp_path, server):
    _, url = server
    _Handler.short.add("ESP32_GENERIC-20241129-v1.24.1.bin")
    cache = FirmwareCache(tmp_path / "cache", base_url=url)
    with pytest.raises(FirmwareCacheError, match="stopped early"):
        cache.find("esp32-devkit-v1")
    assert cache.versions("esp32-devkit-v1") == []
    assert not list((tmp_path / "cache").glob("*.bin"))


def test_a_damaged_cached_file_is_caught_before_flashing(tmp_path, server):
    _, url = server
    cache = FirmwareCache(tmp_path / "cache", base_url=url)
    item = cache.find("esp32-devkit-v1")
    raw = bytearray(item.path.read_bytes())
    raw[5000] ^= 0xFF
    item.path.write_bytes(bytes(raw))
    with pytest.raises(FirmwareCacheError, match="damaged"):
        cache.find("esp32-devkit-v1", download=False)


def test_offline_with_an_empty_cache_says_what_to_do(tmp_path):
    cache = FirmwareCache(tmp_path / "cache", base_url="http://127.0.0.1:9")
    with pytest.raises(FirmwareCacheError) as err:
        cache.find("pico-w")
    assert "Could not reach http://127.0.0.1:9/download/RPI_PICO_W/" in str(err.value)
    with pytest.raises(FirmwareCacheError, match="has no MicroPython release for pico-w"):
        cache.find("pico-w", download=False)


def test_a_lab_adds_a_file_by_hand(tmp_path):
    fw = tmp_path / "ESP32_GENERIC_S3-20241129-v1.24.1.bin"
    fw.write_bytes(merged_image(9, 0))
    cache = FirmwareCache(tmp_path / "shared")
    cache.add("esp32-s3-devkitc-1", fw, "v1.24.1", "20241129")
    item = cache.find("esp32-s3-devkitc-1", download=False)
    assert item.path.read_bytes() == fw.read_bytes()
