from machine import Pin
import time

pressed = False


def on_press(pin):
    global pressed
    pressed = True


button = Pin(0, Pin.IN, Pin.PULL_UP)
button.irq(trigger=Pin.IRQ_FALLING, handler=on_press)

while True:
    if pressed:
        print("button pressed")
        pressed = False
    time.sleep_ms(50)
