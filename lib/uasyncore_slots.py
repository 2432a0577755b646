# uasyncore_slots: which connection gives its slot back when a listener at its budget has a client
# waiting. The core asks it through dispatcher.make_room() and loads it on first use: a service that
# never reaches its budget with a client waiting never pays for it.
#
# A connection is judged by its phase (dispatcher.end_phase(), phase_timeout): one still in its
# handshake or request past a short grace, and slower than a minimum rate or past its phase's
# deadline, goes first (the longest in its phase first); else the one idle longest, once idle for
# `slot_idle`. A response in flight (the channel is writable()) counts as activity while it moves,
# so only a stalled one is taken, a grace after its last byte went out. A connection never seen before gets its grace from the moment the policy first sees it.
# While a connection in a phase is still within its grace (it may soon be the one to go), an idle one
# is taken only if the service's clients simply reconnect (slot_sessions False: HTTP) and it has been
# idle for two graces; by default connections are sessions, and taking one ends a user's session.
# A listener tunes this with these slot_* attributes, or overrides make_room().
import uasyncore

_port = uasyncore._port

GRACE = _port.SLOT_GRACE  # seconds a phase (or a connection first seen) is not judged
MIN_RATE = _port.SLOT_MIN_RATE  # bytes per second a phase past its grace must average
IDLE = _port.SLOT_IDLE  # seconds a connection between phases must have been idle to be taken
_FLOOR = 10  # ms: the soonest the listener asks again


# The listener's connection that deserves its slot least (None if none may be taken yet), and the
# ms after which one may be.
def choose(listener, now):
    grace = int(getattr(listener, "slot_grace", GRACE) * 1000)
    min_rate = getattr(listener, "slot_min_rate", MIN_RATE)
    idle = int(getattr(listener, "slot_idle", IDLE) * 1000)
    sessions = getattr(listener, "slot_sessions", True)
    slow = stale = None
    slow_age = stale_age = -1
    pending = False  # a connection in a phase is still within its grace
    wait = grace
    for conn in listener._map.values():
        if conn._owner is not listener:
            continue
        mark = conn._mark
        if mark is None:
            conn._mark = now  # first seen: its grace starts now
            pending = True
            continue
        age = _port.ticks_diff(now, mark)
        got = conn._got
        if got >= 0:  # in a phase since `mark`, `got` bytes read in it
            if age < grace:
                wait = min(wait, grace - age)
                pending = True
                continue
            limit = conn.phase_timeout
            if (limit is not None and age >= limit * 1000) or got * 1000 // max(age, 1) < min_rate:
                if age > slow_age:
                    slow, slow_age = conn, age
            else:  # ask again when its rate falls below the minimum, or at its deadline
                if min_rate:
                    wait = min(wait, got * 1000 // min_rate + 1 - age)
                if limit is not None:
                    wait = min(wait, int(limit * 1000) - age)
        else:  # between phases, nothing in or out since `mark`
            # a response in flight that moved nothing for a grace has stalled: its client does not read
            enough = grace if conn.writable() else idle
            if age < enough:
                wait = min(wait, enough - age)
            elif age > stale_age:
                stale, stale_age = conn, age
    victim = slow
    if victim is None and stale is not None:
        if not pending or not sessions and stale_age >= 2 * grace:
            victim = stale
        elif not sessions:
            wait = min(wait, 2 * grace - stale_age)
    return victim, max(wait, _FLOOR)


# The core's default make_room(): take the slot of the connection chosen, or say when to ask again.
def make_room(listener):
    victim, wait = choose(listener, _port.ticks_ms())
    if victim is None:
        return wait / 1000
    victim.handle_evict()
    if victim._owner is None:
        return None  # its slot is the waiting client's
    return wait / 1000  # it said goodbye but is not closed yet
