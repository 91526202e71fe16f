"""Wiring diagrams several tests use, written once."""

from __future__ import annotations

#: A DHT22 on an ESP32 DevKit V1 with its data wired to D34, which can only read: the checker
#: says a DHT cannot work there, and the Deploy form's default pin (14) disagrees with it.
DHT_ON_D34 = {
    "version": 1,
    "parts": [
        {"type": "wokwi-esp32-devkit-v1", "id": "esp", "attrs": {}},
        {"type": "wokwi-dht22", "id": "dht1", "attrs": {}},
    ],
    "connections": [
        ["dht1:VCC", "esp:3V3", "red", []],
        ["dht1:GND", "esp:GND.1", "black", []],
        ["dht1:SDA", "esp:D34", "green", []],
    ],
}
