# A real DNS server for the resolver's tests: Debian's dnsmasq on a free loopback port, answering from a
# hosts file of the test's (names under .test, which it answers NXDOMAIN when unknown), never asking
# anyone else. Started as a child process in the foreground and stopped by its PID: with subprocess on
# CPython, with os.system() on MicroPython's unix port. Tests skip where dnsmasq is missing
# (apt-get install dnsmasq-base).
import os
import socket
import time

import uasyncore
import uasyncore_dns
from dgram_kit import free_udp_port

try:
    import subprocess
except ImportError:
    subprocess = None

_port = uasyncore._port
TTL = 60  # seconds dnsmasq gives its answers
MISSING = "needs dnsmasq (apt-get install dnsmasq-base)"


def find_dnsmasq():
    for folder in (os.getenv("PATH") or "").split(":") + ["/usr/sbin", "/sbin"]:
        path = folder + "/dnsmasq"
        try:
            os.stat(path)
            return path
        except OSError:
            pass
    return None


# Wait (5 s at most) until process pid has ended: gone, or a zombie waiting for us (no wait() here).
def _wait_dead(pid):
    for _ in range(250):
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.02)


class Dnsmasq:
    def __init__(self, hosts):
        self.binary = find_dnsmasq()
        self.dir = "/tmp/uasyncore-dnsmasq-%d" % int.from_bytes(os.urandom(4), "big")
        os.mkdir(self.dir)
        self.hosts = self.dir + "/hosts"
        self.log = self.dir + "/log"
        with open(self.hosts, "w") as f:
            f.write(hosts)
        self.pid = None
        self.proc = None
        self.port = None

    # Start on a free port (a few tries: another process may take it first); wait until it answers.
    def start(self):
        for _ in range(5):
            self.port = free_udp_port()
            args = [
                self.binary, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--addn-hosts=" + self.hosts, "--local=/test/", "--local-ttl=%d" % TTL,
                "--listen-address=127.0.0.1", "--bind-interfaces", "--port=%d" % self.port,
                "--pid-file=", "--user=root", "--log-queries", "--log-facility=-",
            ]  # --user=root: no change of user (a non-root run cannot, and needs none)
            self._spawn(args)
            if self._answers():
                return self
            self.stop()
        raise AssertionError("dnsmasq did not start; its log:\n" + self.read_log())

    def _spawn(self, args):
        if subprocess is not None:
            with open(self.log, "a") as log:
                self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
            self.pid = self.proc.pid
            return
        pid_file = self.dir + "/pid"
        os.system("%s >>%s 2>&1 & echo $! >%s" % (" ".join(args), self.log, pid_file))
        with open(pid_file) as f:
            self.pid = int(f.read())

    # Whether it answers a query within a few seconds.
    def _answers(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            query = uasyncore_dns._question(4660, "ready.test", 1)
            for _ in range(25):
                try:
                    s.sendto(query, _port.sockaddr(("127.0.0.1", self.port)))
                    if s.recvfrom(512)[0][:2] == query[:2]:
                        return True
                except OSError:
                    pass
            return False
        finally:
            s.close()

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
        elif self.pid is not None:
            os.system("kill %d 2>/dev/null" % self.pid)
            _wait_dead(self.pid)
        self.pid = None

    def read_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def remove(self):
        self.stop()
        for name in ("hosts", "log", "pid"):
            try:
                os.remove(self.dir + "/" + name)
            except OSError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass
