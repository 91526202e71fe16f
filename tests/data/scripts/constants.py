from machine import Pin, PWM, I2C
from micropython import const

LED_PIN = 2
BUTTON_PIN = const(0)
BASE = const(12)
SERVO_PIN = BASE + 3
LEDS = (4, 5, 18)
PINS = {"buzzer": 23, "i2c": {"sda": 21, "scl": 22}}
SDA, SCL = PINS["i2c"]["sda"], PINS["i2c"]["scl"]

led = Pin(LED_PIN, Pin.OUT)
button = Pin(BUTTON_PIN, Pin.IN, Pin.PULL_UP)
servo = PWM(Pin(SERVO_PIN), freq=50)
second = Pin(LEDS[1], Pin.OUT)
buzzer = PWM(Pin(PINS["buzzer"]))
i2c = I2C(0, scl=Pin(SCL), sda=Pin(SDA))
