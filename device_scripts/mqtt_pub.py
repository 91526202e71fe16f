# mqtt_pub.py - send each new sensor reading to an MQTT broker, as JSON.
#
# From main.py (a task):    asyncio.create_task(mqtt_pub.run(cfg))
#
# config.json: "mqtt_broker": "test.mosquitto.org" (or "host:port"), "mqtt_topic": "iotkit/readings"
# Each message is one JSON object, e.g. {"temp_c": 22.5, "humidity": 41.0}. Watch it on your
# computer with `iotkit plot --mqtt mqtt://HOST --topic iotkit/readings`.
#
# It uses umqtt.simple from micropython-lib: built into the official ESP32/ESP8266 firmware,
# and copied to /lib/umqtt/ by `iotkit deploy` for boards without it.
import asyncio
import binascii
import json
import time
import machine
import sensor

DEFAULT_PORT = 1883  # MQTT without TLS
KEEPALIVE_S = 60  # the broker drops a client that is silent for 1.5 times this
POLL_MS = 200  # how often we look for a new reading (and for a dropped connection)
BACKOFF_FIRST_S = 1  # wait before reconnecting, doubling after each failure...
BACKOFF_MAX_S = 60  # ...up to this


def client_id(cfg):
    """device_name plus the chip's unique id: two boards never kick each other off."""
    return "%s-%s" % (cfg["device_name"], binascii.hexlify(machine.unique_id()).decode())


def _why(e):
    if e.args == (-1,):  # umqtt's way of saying the broker closed the connection
        return "it closed the connection"
    return "error: %s: %s" % (type(e).__name__, e)


def _close(client):
    """Close the client's socket: a board has only a few, so a failed try must not keep one."""
    try:
        client.sock.close()
    except Exception:
        pass  # no socket yet, or closed already


def broker_address(cfg):
    """'host' or 'host:port' -> (host, port)"""
    host, _, port = cfg["mqtt_broker"].partition(":")
    return host, int(port) if port else DEFAULT_PORT


async def run(cfg):
    try:
        from umqtt.simple import MQTTClient
    except ImportError:
        print("mqtt: umqtt.simple is missing - deploy the mqtt template again to install it")
        return
    if not cfg["mqtt_broker"]:
        print("mqtt: mqtt_broker is empty in config.json - nothing to publish to")
        return
    host, port = broker_address(cfg)
    topic = cfg["mqtt_topic"]
    client = None
    backoff = BACKOFF_FIRST_S
    sent = None  # latest_time of the last reading we published
    last_packet = time.ticks_ms()
    while True:
        if client is None:
            try:
                # Note: connecting blocks the other tasks until the broker answers or refuses.
                client = MQTTClient(client_id(cfg), host, port=port, keepalive=KEEPALIVE_S)
                client.connect()
            except Exception as e:  # OSError (no broker), MQTTException (refused)
                _close(client)
                client = None
                print(
                    "mqtt: connecting to %s:%d failed (%s: %s) - next try in %d s"
                    % (host, port, type(e).__name__, e, backoff)
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            print("mqtt: connected to", host)
            backoff = BACKOFF_FIRST_S
            announced = False
            last_packet = time.ticks_ms()
        try:
            client.check_msg()  # reads what the broker sent; a closed connection raises OSError
            if sensor.latest_time is not None and sensor.latest_time != sent:
                client.publish(topic, json.dumps(sensor.latest))
                sent = sensor.latest_time
                last_packet = time.ticks_ms()
                if not announced:  # once per connection, not for every message
                    print("mqtt: published to", topic)
                    announced = True
            elif time.ticks_diff(time.ticks_ms(), last_packet) > KEEPALIVE_S * 1000 // 2:
                client.ping()  # nothing to send for a while: tell the broker we are here
                last_packet = time.ticks_ms()
        except Exception as e:  # OSError: the connection broke; others: the broker sent nonsense
            print("mqtt: lost the broker (%s) - reconnecting" % _why(e))
            _close(client)
            client = None
            continue
        await asyncio.sleep_ms(POLL_MS)
