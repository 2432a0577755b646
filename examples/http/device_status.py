# device_status: what the status service reports, rendered as JSON and as an HTML page.
#
# The device's name, its uptime, its sensor readings and its free memory. On the host the sensors are
# simulated; a board passes Status a function that reads its own (see sensors below).
import gc

import uasyncore

try:
    import json
except ImportError:  # older MicroPython firmware names it ujson
    import ujson as json

DEVICE_NAME = "uasyncore-device"
UPTIME_SAMPLE = 600  # seconds between uptime samples, far inside the time the tick counter takes to wrap

##### sensors: simulated on the host; a board brings its own reader


# A triangle wave from low to high and back (both in tenths) over period seconds, at t seconds.
def _wave(t, period, low, high):
    half = period // 2
    phase = t % period
    if phase > half:
        phase = period - phase
    return (low + (high - low) * phase // half) / 10


# The sensor hook's shape: f(uptime_s) -> (temperature C, relative humidity %, pressure hPa), a value
# it cannot read as None. A board passes its own f to Status (README.md); this one simulates, so the
# same uptime always gives the same values.
def simulated_sensors(t):
    return (_wave(t, 600, 195, 245), _wave(t + 300, 900, 380, 520), _wave(t, 3600, 10080, 10180))


_gc_mem_free = getattr(gc, "mem_free", None)


# Free heap in bytes where the runtime can tell (MicroPython), else None.
def mem_free():
    return _gc_mem_free() if _gc_mem_free is not None else None


##### rendering


# A reading as JSON: one decimal, or null when missing or not a finite number (NaN fails the test).
def _number(v):
    if v is None or not -1e30 < v < 1e30:
        return "null"
    return "%.1f" % v


def _html_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# "3d 04:05:06" from seconds.
def _duration(s):
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    return "%dd %02d:%02d:%02d" % (d, h, m, s)


_JSON = (
    '{"device": %s, "uptime_s": %d, '
    '"readings": {"temperature_c": %s, "humidity_pct": %s, "pressure_hpa": %s}, "mem_free": %s}\n'
)

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta http-equiv="refresh" content="10"><title>%s</title></head>
<body><h1>%s</h1>
<table>
<tr><th>Uptime</th><td>%s</td></tr>
<tr><th>Temperature</th><td>%s &deg;C</td></tr>
<tr><th>Humidity</th><td>%s %%</td></tr>
<tr><th>Pressure</th><td>%s hPa</td></tr>
<tr><th>Free memory</th><td>%s</td></tr>
</table>
<p>As JSON: <a href="/api/status">/api/status</a></p>
</body></html>
"""


class Status:
    # What the pages report; sensors: a function shaped like simulated_sensors (the default).
    def __init__(self, name=DEVICE_NAME, sensors=None):
        self.name = name
        self.sensors = sensors or simulated_sensors
        self._name_json = json.dumps(name)  # escaped once, not per request
        self._name_html = _html_escape(name)
        self._up_ms = 0
        self._last = uasyncore.ticks()
        self._sample = None  # the last sample: the pages change once a second, at most

    # Whole seconds since start, summed from tick differences so a wrapping clock is never misread.
    def uptime(self):
        now = uasyncore.ticks()
        self._up_ms += uasyncore.ticks_diff(now, self._last)
        self._last = now
        return self._up_ms // 1000

    # (uptime seconds, readings, free memory or None), taken at most once per second of uptime:
    # sensors can be slow, and gc.mem_free() walks the whole heap (0.3 ms on a 2 MB one).
    def sample(self):
        t = self.uptime()
        last = self._sample
        if last is None or last[0] != t:
            r = self.sensors(t)
            last = self._sample = (t, r[0], r[1], r[2], mem_free())
        return last

    def json(self):
        t, temp, hum, pres, mem = self.sample()
        mem = "null" if mem is None else "%d" % mem
        return (_JSON % (self._name_json, t, _number(temp), _number(hum), _number(pres), mem)).encode()

    def html(self):
        t, temp, hum, pres, mem = self.sample()
        mem = "n/a" if mem is None else "%d bytes" % mem
        name = self._name_html
        return (_PAGE % (name, name, _duration(t), _number(temp), _number(hum), _number(pres), mem)).encode()
