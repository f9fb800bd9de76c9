"""Index generations published during a run, not only at its end.

``ProgressivePublisher`` is a thread of a run: the first generation goes out as soon
as the first batch is written (keyword search, symbols and the chunk table have it;
the dense index has whatever vectors exist), the next ones whenever new chunks or new
vectors exist, at an adaptive interval: ``max(MIN_INTERVAL_S, BUILD_SHARE_FACTOR x``
the last build's duration``)`` between two builds' starts, so that builds take at most
1 / ``BUILD_SHARE_FACTOR`` of the run's time however large the project grows (a build
costs time in proportion to the project's chunks). Measured figures and the reasons for
the constants: docs/INDEX_PUBLICATION.md.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
MIN_INTERVAL_S = 5.0
BUILD_SHARE_FACTOR = 5.0
FAILED_RETRY_S = 30.0  # a build that failed (a full disk) is not tried again sooner


class ProgressivePublisher:
    """Calls ``publish`` after ``changed``, no more often than the interval allows."""

    def __init__(
        self,
        publish: Callable[[], object],
        *,
        min_interval_s: float = MIN_INTERVAL_S,
        factor: float = BUILD_SHARE_FACTOR,
        clock: Callable[[], float] = time.monotonic,
        name: str = "projectqa-publish",
    ) -> None:
        self._publish = publish
        self._min_interval_s = min_interval_s
        self._factor = factor
        self._clock = clock
        self._changed = threading.Event()
        self._halt = threading.Event()
        self._due = -math.inf  # the first change is published at once
        self.builds: list[float] = []  # duration of each build, seconds (logs, benches)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def changed(self) -> None:
        """The Store has chunks or vectors the published generation lacks."""
        self._changed.set()

    def stop(self) -> None:
        """Stop and wait for a build under way (the run's own last build follows)."""
        self._halt.set()
        self._changed.set()
        if self._thread.ident is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            self._changed.wait()
            if self._halt.is_set():
                return
            wait = self._due - self._clock()
            if wait > 0 and self._halt.wait(wait):
                return
            self._changed.clear()  # what changes from now on needs the next build
            self._due = self._build()

    def _build(self) -> float:
        """Publish once; when the next build may start."""
        started = self._clock()
        try:
            self._publish()
        except Exception:  # the run's last build reports it; until then searches go on
            log.warning("index generation could not be published during the run", exc_info=True)
            return started + FAILED_RETRY_S
        took = self._clock() - started
        self.builds.append(took)
        return started + max(self._min_interval_s, self._factor * took)
