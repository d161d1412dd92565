"""Work on chunks of features in worker threads, a few chunks ahead of the thread writing them.

An import validates, repairs, measures and encodes its features; the database parses what
was written before. :class:`ChunkPipeline` runs the per-chunk work in threads while the
caller writes the chunks already done, in order: shapely and GEOS release the GIL, so on two
cores the checks of one chunk run beside the writing of the previous one (8,494 Jawa Timur
villages: 0.67 -> 0.45 s). Each chunk's findings reach the report when the caller takes the
chunk, so only the caller's thread touches the report.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Generic, TypeVar

from geo.ingest.report import ImportReport, Issue, Progress, quiet

T = TypeVar("T")

CHUNK_SIZE = 1024
"""Features per chunk: small enough that the first rows reach the database early and memory
stays flat, large enough that shapely's vectorised calls pay."""

WORKERS = min(4, os.cpu_count() or 1)
"""Threads working on chunks; GEOS releases the GIL, so each can use a core of its own."""


@contextmanager
def workers() -> Iterator[ThreadPoolExecutor]:
    """The pool of :data:`WORKERS` threads an import's pipeline and dissolves run in."""
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="petadesa-validate") as pool:
        yield pool


class ChunkPipeline(Generic[T]):
    """Runs ``work`` on chunks of ``items`` in the pool, in order, a few chunks ahead.

    Items are grouped by ``group`` (a level, say) in the order ``groups`` gives, and cut into
    chunks of :data:`CHUNK_SIZE` within a group. ``work(chunk)`` changes the items in place
    and returns its findings. Work starts when the pipeline is made.
    """

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        report: ImportReport,
        items: Sequence[T],
        work: Callable[[list[T]], list[Issue]],
        *,
        group: Callable[[T], Hashable],
        groups: Sequence[Hashable],
        what: str = "features",
    ) -> None:
        self.pool, self.report, self.work, self.group = pool, report, work, group
        self.ahead = WORKERS + 1  # chunks in flight: one more than the workers, so none idles
        by_group: dict[Hashable, list[T]] = {key: [] for key in groups}
        for item in items:
            by_group[group(item)].append(item)
        size = CHUNK_SIZE
        self._pending = deque(
            members[i : i + size]
            for members in by_group.values()
            for i in range(0, len(members), size)
        )
        self._window: deque[tuple[list[T], Future]] = deque()
        self._total, self._done, self.what = len(items), 0, what
        self.progress: Progress = quiet
        """Told how many items are done so far."""
        self._fill()

    def _fill(self) -> None:
        """Submit pending chunks to the pool until ``ahead`` chunks are in flight."""
        while self._pending and len(self._window) < self.ahead:
            chunk = self._pending.popleft()
            self._window.append((chunk, self.pool.submit(self.work, chunk)))

    def _take(self) -> list[T]:
        """The oldest chunk in flight, once done; its findings go to the report."""
        chunk, future = self._window.popleft()
        issues = future.result()
        self._fill()
        self.report.issues.extend(issues)
        self._done += len(chunk)
        self.progress(f"{self._done:,} of {self._total:,} {self.what} validated")
        return chunk

    def chunks(self, group: Hashable) -> Iterator[list[T]]:
        """The next chunks, done, as long as they are of ``group``."""
        while self._window and self.group(self._window[0][0][0]) == group:
            yield self._take()

    def drain(self) -> None:
        """Wait until every item is done."""
        while self._window:
            self._take()
