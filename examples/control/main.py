# main.py for a board: serve the control port on 7070 with the board's LED, offering STARTTLS when
# secrets.py names a certificate and its key (TLS_CERT, TLS_KEY: files copied to the board; README.md).
# Wi-Fi is joined before this runs, by boot.py (ports/boot.py, which `make deploy` copies with secrets.py).
# Upload it with control_service.py, control_device.py and the uasyncore files (README.md).
import control_service
from control_device import Device, board_led

LED_PIN = "LED"  # the Pico W's on-board LED; on an ESP32 board its GPIO number instead (often 2)
PORT = 7070

try:
    import secrets
except ImportError:
    secrets = None

# board_led gives None where there is no machine.Pin, and Device then keeps a simulated LED
control_service.main(host="0.0.0.0", port=PORT, device=Device(led=board_led(LED_PIN)),
                     tls_cert=getattr(secrets, "TLS_CERT", None), tls_key=getattr(secrets, "TLS_KEY", None))
