from machine import Pin

led = Pin(2, Pin.OUT
while True:
    led.toggle()
