# control_auth: who may change the device through the control port. A shared token, compared in a
# time that does not depend on it; an address that keeps guessing waits longer after each failure.
import os

import uasyncore

LOCKOUT_MAX = 60  # seconds: the longest an address waits between two tried guesses
FORGET = 600  # seconds without a failure after which an address's failures are forgotten
PEERS = 16  # addresses whose failures are kept; past that, the one quiet the longest is forgotten


# The control port's token as bytes: CONTROL_TOKEN from the environment (a host; set but empty: none),
# else from secrets.py (a board); None when neither sets one, and the port is then read-only. Never printed.
def configured_token():
    getenv = getattr(os, "getenv", None)  # boards have no environment
    token = getenv("CONTROL_TOKEN") if getenv is not None else None
    if token is None:
        try:
            import secrets  # a board's secrets.py (CPython's own secrets module has no CONTROL_TOKEN)
        except ImportError:
            secrets = None
        token = getattr(secrets, "CONTROL_TOKEN", None)
    if isinstance(token, str):
        token = token.encode()
    return token or None


# Whether given is token, compared in a time that depends on given's length alone (not on where the
# first difference is, nor on the token's length).
def same(given, token):
    n = len(token)
    diff = len(given) ^ n
    for i in range(len(given)):
        diff |= given[i] ^ token[i % n]
    return diff == 0


# Seconds an address waits after its n-th failure: 1, 2, 4, ... up to LOCKOUT_MAX.
def lockout(n):
    return LOCKOUT_MAX if n > 6 else min(1 << (n - 1), LOCKOUT_MAX)


class Guesses:
    # Failed AUTHs per client address (IP): after its n-th, an address's next AUTH is not tried for
    # lockout(n) seconds. At most PEERS addresses are kept: a board's heap stays bounded.
    def __init__(self):
        self.peers = {}  # address -> [failures, tick of the last]
        self.total = 0  # failures since the service started

    # Whole seconds before peer's next AUTH is tried; 0: now.
    def wait(self, peer):
        entry = self.peers.get(peer)
        if entry is None:
            return 0
        since = uasyncore.ticks_diff(uasyncore.ticks(), entry[1])
        if since >= FORGET * 1000:
            del self.peers[peer]
            return 0
        left = lockout(entry[0]) * 1000 - since
        return (left + 999) // 1000 if left > 0 else 0

    def failed(self, peer):
        self.total += 1
        now = uasyncore.ticks()
        entry = self.peers.get(peer)
        if entry is not None:
            entry[0] += 1
            entry[1] = now
            return
        if len(self.peers) >= PEERS:
            quiet = None
            for p, e in self.peers.items():
                if quiet is None or uasyncore.ticks_diff(e[1], self.peers[quiet][1]) < 0:
                    quiet = p
            del self.peers[quiet]
        self.peers[peer] = [1, now]

    def passed(self, peer):
        self.peers.pop(peer, None)
