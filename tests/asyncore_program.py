# A program written for the standard library's asyncore and asynchat (CPython 3.11 and older), kept
# unchanged: tests/test_dropin.py runs it where `import asyncore` finds uasyncore's drop-in.
# It echoes each line back; usage: python asyncore_program.py [PORT] (0, the default: any free port).
import asynchat
import asyncore
import sys


class LineEcho(asynchat.async_chat):
    def __init__(self, sock):
        asynchat.async_chat.__init__(self, sock)
        self.line = []
        self.set_terminator(b"\n")

    def collect_incoming_data(self, data):
        self.line.append(data)

    def found_terminator(self):
        self.push(b"".join(self.line) + b"\n")
        self.line = []


class EchoServer(asyncore.dispatcher):
    def __init__(self, host, port):
        asyncore.dispatcher.__init__(self)
        self.create_socket()
        self.set_reuse_addr()
        self.bind((host, port))
        self.listen(5)

    def handle_accepted(self, sock, addr):
        LineEcho(sock)


server = EchoServer("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0)
print("listening on", server.socket.getsockname()[1], flush=True)
asyncore.loop()
