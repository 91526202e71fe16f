# button_led.py - each press of the button switches the LED on or off.
#
# From main.py (a task):    asyncio.create_task(button_led.run(cfg))
# From the REPL:            import button_led, config, asyncio
#                           asyncio.run(button_led.run(config.load()))    (Ctrl-C stops it)
#
# Wiring: one side of the button to button_pin, the other side to GND. The pin's internal
# pull-up resistor holds it at 1; pressing connects it to GND, so it reads 0 ("active low").
# The BOOT button of an ESP32 DevKit (GPIO0) is wired exactly like that.
import time
import asyncio
import machine

DEBOUNCE_MS = 50  # a switch's metal contacts bounce for a few ms when they close or open
POLL_MS = 10  # how often the loop looks at the flag the interrupt sets

presses = 0  # how many presses so far
led_on = False
_pressed = False  # set by the interrupt handler, cleared by the loop


def _on_press(pin):
    # This runs as an interrupt: it can cut into any line of your program, and on some boards
    # it may not even allocate memory. So it only raises a flag and returns at once. The real
    # work (printing, waiting out the bounce, switching the LED) happens in run() below.
    global _pressed
    _pressed = True


async def run(cfg):
    global presses, led_on, _pressed
    button = machine.Pin(cfg["button_pin"], machine.Pin.IN, machine.Pin.PULL_UP)
    led = machine.Pin(cfg["led_pin"], machine.Pin.OUT, value=0)
    presses, led_on = 0, False
    button.irq(trigger=machine.Pin.IRQ_FALLING, handler=_on_press)  # 1 -> 0: pressed
    print(
        "button: press the button on GPIO%s to switch the LED on GPIO%s"
        % (cfg["button_pin"], cfg["led_pin"])
    )
    held = False  # a press was counted and the button has not been let go since
    released_at = None
    while True:
        if held:
            # Bounces while the button is held are not new presses. Count the next press only
            # after the button has been let go for DEBOUNCE_MS.
            _pressed = False
            if button.value() == 0:
                released_at = None
            elif released_at is None:
                released_at = time.ticks_ms()
            elif time.ticks_diff(time.ticks_ms(), released_at) >= DEBOUNCE_MS:
                held = False
        elif _pressed:
            _pressed = False
            await asyncio.sleep_ms(DEBOUNCE_MS)  # let the contacts settle
            if button.value() == 0:  # still pressed: a real press, not a bounce or a spike
                held = True
                released_at = None
                presses += 1
                led_on = not led_on
                led.value(led_on)
                print("button: pressed (%d)" % presses)
        await asyncio.sleep_ms(POLL_MS)
