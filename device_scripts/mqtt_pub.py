# mqtt_pub.py - send each new sensor reading to an MQTT broker, and say whether the board is on.
#
# From main.py (a task):    asyncio.create_task(mqtt_pub.run(cfg))
#
# config.json: "mqtt_broker": "test.mosquitto.org" (or "host:port"), "mqtt_topic": "iotkit/readings"
# Each message is one reading line, exactly as sensor.py prints it: temp_c:22.5,humidity:41.0
# Watch it on your computer with
#     iotkit plot --mqtt mqtt://HOST:1883 --topic iotkit/readings
# (in a class: iotkit plot --mqtt mqtt://HOST:1883 --topic iotkit/CLASS/BOARD/readings).
#
# The board also says whether it is there, on its status topic ("mqtt_status_topic"; empty means
# mqtt_topic with its last level "readings" changed to "status", else mqtt_topic + "/status"):
# "online" (retained) after each connect, and "offline" (retained) as its MQTT last will, which
# the broker publishes for it when the board vanishes: at once when the connection breaks, or
# 1.5 x mqtt_keepalive_s after it last heard from the board (which pings it while idle).
# Retained means a watcher who connects later still gets the state.
#
# It uses umqtt.simple from micropython-lib: built into the official ESP32/ESP8266 firmware,
# and copied to /lib/umqtt/ by `iotkit deploy` for boards without it.
import asyncio
import binascii
import time
import machine
import sensor
from micropython import const

# const() with a leading underscore: the compiler puts the number in the code, so the names
# take no RAM (every byte counts on an ESP8266 running wifi, sensor, logger and mqtt).
_DEFAULT_PORT = const(1883)  # MQTT without TLS
_KEEPALIVE_S = const(60)  # mqtt_keepalive_s when config.json has no usable one
_POLL_MS = const(200)  # how often we look for a new reading (and for a dropped connection)
_BACKOFF_FIRST_S = const(1)  # wait before reconnecting, doubling after each failure...
_BACKOFF_MAX_S = const(60)  # ...up to this


def _close(client):
    """Close the client's socket: a board has only a few, so a failed try must not keep one."""
    try:
        client.sock.close()
    except Exception:
        pass  # no socket yet, or closed already


async def run(cfg):
    try:
        from umqtt.simple import MQTTClient
    except ImportError:
        print("mqtt: umqtt.simple is missing - deploy the mqtt template again to install it")
        return
    if not cfg["mqtt_broker"]:
        print("mqtt: mqtt_broker is empty in config.json - nothing to publish to")
        return
    host, _, port = cfg["mqtt_broker"].partition(":")  # "host" or "host:port"
    port = int(port) if port else _DEFAULT_PORT
    # device_name plus the chip's unique id: two boards never kick each other off.
    name = "%s-%s" % (cfg["device_name"], binascii.hexlify(machine.unique_id()).decode())
    topic = cfg["mqtt_topic"]
    # The status topic: mqtt_status_topic, else .../readings -> .../status, else topic/status.
    # (The code is inline, not in functions: each function costs RAM on an ESP8266.)
    status = cfg.get("mqtt_status_topic") or (
        topic[: -len("readings")] + "status" if topic.endswith("/readings") else topic + "/status"
    )
    keepalive = cfg.get("mqtt_keepalive_s", _KEEPALIVE_S)
    if type(keepalive) is not int or not 0 < keepalive < 65536:  # MQTT sends it as 16 bits
        keepalive = _KEEPALIVE_S
        print("mqtt: warning - mqtt_keepalive_s must be 1 to 65535 s, so %d is used" % keepalive)
    client = None
    backoff = _BACKOFF_FIRST_S
    sent = None  # latest_time of the last reading we published
    last_packet = time.ticks_ms()
    while True:
        if client is None:
            try:
                # Note: connecting blocks the other tasks until the broker answers or refuses.
                client = MQTTClient(name, host, port=port, keepalive=keepalive)
                # Before every connect: the broker keeps a will only for the connection it came
                # with, and publishes it for the board when the board vanishes.
                client.set_last_will(status, b"offline", retain=True, qos=1)
                client.connect()
                # Retained, so it replaces an "offline" from the last time, also after a broker
                # restart that lost every retained message.
                client.publish(status, b"online", retain=True)
            except Exception as e:  # OSError (no broker), MQTTException (refused)
                _close(client)
                client = None
                print(
                    "mqtt: connecting to %s:%d failed (%s: %s) - next try in %d s"
                    % (host, port, type(e).__name__, e, backoff)
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            print("mqtt: connected to", host)
            backoff = _BACKOFF_FIRST_S
            announced = False
            last_packet = time.ticks_ms()
        try:
            client.check_msg()  # reads what the broker sent; a closed connection raises OSError
            if sensor.latest_time is not None and sensor.latest_time != sent:
                client.publish(topic, sensor.plot_line(sensor.latest))
                sent = sensor.latest_time
                last_packet = time.ticks_ms()
                if not announced:  # once per connection, not for every message
                    print("mqtt: published to", topic)
                    announced = True
            elif time.ticks_diff(time.ticks_ms(), last_packet) > keepalive * 1000 // 2:
                client.ping()  # nothing to send for a while: tell the broker we are here
                last_packet = time.ticks_ms()
        except Exception as e:  # OSError: the connection broke; others: the broker sent nonsense
            why = "error: %s: %s" % (type(e).__name__, e)
            if e.args == (-1,):  # umqtt's way of saying the broker closed the connection
                why = "it closed the connection"
            print("mqtt: lost the broker (%s) - reconnecting" % why)
            _close(client)
            client = None
            continue
        await asyncio.sleep_ms(_POLL_MS)
