"""ThrottledLog: one line per key per interval, with the count of lines left out."""

from __future__ import annotations

import logging

from projectqa.server.logs import ThrottledLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_key_per_interval_then_the_count_left_out(caplog) -> None:
    clock = Clock()
    throttled = ThrottledLog(logging.getLogger("projectqa.test"), 10.0, clock)
    with caplog.at_level(logging.INFO, logger="projectqa"):
        written = [throttled.log(logging.WARNING, "ann", "refused", {"n": i}) for i in range(4)]
        throttled.log(logging.WARNING, "bob", "refused", {"n": 9})
        clock.now = 9.9
        throttled.log(logging.WARNING, "ann", "refused", {"n": 4})
        clock.now = 10.0
        throttled.log(logging.WARNING, "ann", "refused", {"n": 5})

    assert written == [True, False, False, False]
    assert [(r.n, r.suppressed) for r in caplog.records] == [(0, 0), (9, 0), (5, 4)]


def test_only_the_newest_keys_are_remembered(caplog) -> None:
    throttled = ThrottledLog(logging.getLogger("projectqa.test"), 10.0, Clock(), max_keys=2)
    with caplog.at_level(logging.INFO, logger="projectqa"):
        for key in ("a", "b", "c", "a"):
            throttled.log(logging.WARNING, key, "refused", {"key": key})

    # "a" was forgotten when "c" came, so it is logged again (bounded memory, not silence).
    assert [r.key for r in caplog.records] == ["a", "b", "c", "a"]
