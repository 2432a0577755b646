# A recording channel shared by the dispatcher and loop tests (kept out of support.py, which every
# test module loads: the 128K run has no room to spare).
import uasyncore


class Recorder(uasyncore.dispatcher):
    # Records its callbacks and log lines; leaves readable()/writable() alone (a "plain" channel).
    def __init__(self, sock=None, map=None):
        self.events = []
        self.logged = []
        uasyncore.dispatcher.__init__(self, sock, map)

    def log_info(self, message, type="info"):
        self.logged.append((type, message))

    def handle_connect(self):
        self.events.append(("connect", self.connected))

    def handle_read(self):
        self.events.append("read")

    def handle_write(self):
        self.events.append("write")

    def handle_close(self):
        self.events.append("close")
        self.close()

    def handle_error(self):
        self.events.append("error")
        uasyncore.dispatcher.handle_error(self)  # the default: log, then handle_close
