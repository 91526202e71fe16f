import network
import time

SSID = "classroom"
PASSWORD = "secret"


def connect_wifi(ssid, password):
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    sta.connect(ssid, password)
    while not sta.isconnected():
        time.sleep(0.1)
    print("Connected, IP:", sta.ifconfig()[0])


connect_wifi(SSID, PASSWORD)
