import machine
import dht
import time

sensor = dht.DHT22(machine.Pin(14))

while True:
    try:
        sensor.measure()
        print("Temp:", sensor.temperature())
        print("Humidity:", sensor.humidity())
        time.sleep(5)
    except OSError as e:
        print("Sensor error", e)
