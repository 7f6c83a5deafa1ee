"""The simulated board's clock (board/sim/clock.py): pauses hide the simulation's host time, and a
holding pause keeps the clock stopped until its next reading (the driver's, after ap_start)."""
from __future__ import annotations

import threading
import time

from sustainml.board.sim.clock import SimClock

GAP_S = 0.1  # host time spent inside / after a pause; far above the clock's own reading cost
SLACK_NS = 50_000_000  # scheduling slack of a loaded 2-core host (GAP_S / 2)


def test_a_pause_hides_the_time_spent_inside_it():
    c = SimClock()
    t0 = c.perf_counter_ns()
    with c.paused():
        time.sleep(GAP_S)
        assert c.perf_counter_ns() - t0 < SLACK_NS  # frozen inside
    assert c.perf_counter_ns() - t0 < SLACK_NS
    time.sleep(GAP_S)  # and running again after it
    assert c.perf_counter_ns() - t0 >= GAP_S * 1e9


def test_a_holding_pause_stops_the_clock_until_the_next_reading():
    c = SimClock()
    with c.paused(hold=True):
        time.sleep(GAP_S)
        frozen = c.perf_counter_ns()
    time.sleep(GAP_S)  # host time between the end of the pause and the next reading: not device time
    assert c.perf_counter_ns() == frozen  # the first reading is the instant the pause ended
    time.sleep(GAP_S)
    after = c.perf_counter_ns()  # that reading restarted the clock
    assert GAP_S * 1e9 <= after - frozen < GAP_S * 1e9 + SLACK_NS


def test_a_pause_that_starts_while_the_clock_is_held_continues_the_hold():
    c = SimClock()
    with c.paused(hold=True):
        frozen = c.perf_counter_ns()
    time.sleep(GAP_S)
    with c.paused():  # a plain pause: the clock restarts when it ends, still at the held value
        time.sleep(GAP_S)
    assert c.perf_counter_ns() - frozen < SLACK_NS


def test_another_threads_reading_does_not_restart_a_held_clock():
    c = SimClock()
    with c.paused(hold=True):
        frozen = c.perf_counter_ns()
    seen = []
    t = threading.Thread(target=lambda: seen.append(c.perf_counter_ns()))  # e.g. the power recorder
    t.start()
    t.join()
    time.sleep(GAP_S)
    assert seen == [frozen] and c.perf_counter_ns() == frozen  # still held for the pausing thread
