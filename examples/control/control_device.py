# control_device: the device the control port drives: an LED, two sensors, uptime and free memory.
#
# On the host the LED is a flag and the sensors are simulated; a board hands Device its own LED pin
# (board_led) and sensor reader (README.md).
import gc

import uasyncore

INTERVAL = 10  # seconds between sensor samples at start
INTERVAL_MIN = 1
INTERVAL_MAX = 3600  # far inside the time the tick counter takes to wrap, so uptime never misreads it
READINGS = ("temp", "humidity", "uptime", "mem")

##### the LED: a real pin where the runtime has machine.Pin, a flag elsewhere


class SimulatedLed:
    # Stands in for machine.Pin on the host: keeps the last value written.
    def __init__(self):
        self._value = 0

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = 1 if v else 0


# An output pin for the LED where machine.Pin exists (a board), else None; pin_id as the board names
# it: "LED" on a Pico W, a GPIO number such as 2 on many ESP32 boards.
def board_led(pin_id):
    try:
        # only boards have it: the unix port's machine module has no Pin
        from machine import Pin
    except ImportError:
        return None
    return Pin(pin_id, Pin.OUT)


##### sensors: simulated on the host; a board brings its own reader


# A triangle wave in tenths: from low up to high and back over period seconds, at t seconds.
def _triangle(t, period, low, high):
    phase = t % period
    half = period // 2
    if phase > half:
        phase = period - phase
    return low + (high - low) * phase // half


# The sensor hook's shape: f(uptime_s) -> (temperature C, relative humidity %), a value it cannot
# read as None. This one simulates, so the same uptime always gives the same readings.
def simulated_sensors(t):
    return _triangle(t, 600, 195, 245) / 10, _triangle(t + 200, 900, 400, 600) / 10


_gc_mem_free = getattr(gc, "mem_free", None)


# Free heap in bytes where the runtime can tell (MicroPython), else None.
def mem_free():
    return _gc_mem_free() if _gc_mem_free is not None else None


# A reading as text: one decimal for a float, "n/a" for a value the device cannot give.
def _text(v):
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return "%d" % v
    return "%.1f" % v if -1e30 < v < 1e30 else "n/a"  # NaN fails the range test too


##### the device


class Device:
    # led: anything with value(v) (a machine.Pin); sensors: a function shaped like simulated_sensors.
    def __init__(self, led=None, sensors=None):
        self.led = led if led is not None else SimulatedLed()
        self.sensors = sensors or simulated_sensors
        self.led_on = False
        self.led.value(0)
        self.interval = INTERVAL
        self.temp = None
        self.humidity = None
        self._up_ms = 0
        self._last = uasyncore.ticks()

    # Whole seconds since start, summed from tick differences so a wrapping clock is never misread.
    def uptime(self):
        now = uasyncore.ticks()
        self._up_ms += uasyncore.ticks_diff(now, self._last)
        self._last = now
        return self._up_ms // 1000

    # Take a sample of the sensors (the service calls this every `interval` seconds).
    def sample(self):
        try:
            self.temp, self.humidity = self.sensors(self.uptime())
        except Exception as e:  # a failing sensor reads as n/a until it recovers
            self.temp = self.humidity = None
            print("error: sensor failed: %r" % (e,))

    # A reading by name (one of READINGS) as text; None for a name the device does not have.
    def read(self, name):
        if name == "temp":
            return _text(self.temp)
        if name == "humidity":
            return _text(self.humidity)
        if name == "uptime":
            return _text(self.uptime())
        if name == "mem":
            return _text(mem_free())
        return None

    # Switch the LED; the flag changes only once the pin has taken the value.
    def set_led(self, on):
        self.led.value(1 if on else 0)
        self.led_on = on
