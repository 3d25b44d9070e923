"""The one part sender: numbered parts of an object sent in the background, at most `in_flight` at once."""
from __future__ import annotations

import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, Callable, Optional


class PartSender:
    """Sends parts first_number, first_number + 1, ... through `send(number, data)`; the caller's memory stays at
    the part it fills plus `in_flight` parts out. A failed part is raised by the next submit() or by results()."""

    def __init__(self, send: Callable[[int, Any], Any], in_flight: int, *, first_number: int = 1,
                 executor: Optional[Executor] = None):
        self._send, self.first_number = send, first_number
        self._slots = threading.BoundedSemaphore(in_flight)
        self._executor, self._own = executor, None
        self._in_flight = in_flight
        self._futures: list[Future] = []
        self._reserved = False

    def __len__(self) -> int:
        return len(self._futures)

    def reserve(self) -> None:
        """Take a slot before filling the next part, so the part being filled counts among those `in_flight`
        (memory then holds at most `in_flight` parts); submit() then uses it instead of waiting again."""
        if not self._reserved:
            self._slots.acquire()
            self._reserved = True

    def submit(self, data: Any) -> None:
        """Send the next part, once one of the `in_flight` slots is free; the first failure so far is raised."""
        if self._reserved:
            self._reserved = False
        else:
            self._slots.acquire()
        try:
            self._raise_failed()
            future = self._pool().submit(self._send, self.first_number + len(self._futures), data)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def results(self) -> list[Any]:
        """What send() returned for each part, in order, once all are done (the first failure is raised)."""
        return [future.result() for future in self._futures]

    def cancel(self) -> None:
        """Stop what has not started and wait for the rest, whatever became of them (the parts are thrown away)."""
        for future in self._futures:
            future.cancel()
        for future in self._futures:
            try:
                future.result()
            except BaseException:  # noqa: BLE001 - the parts are being thrown away anyway
                pass

    def close(self) -> None:
        """Let a pool of its own go (a shared executor stays)."""
        if self._own is not None:
            self._own.shutdown(wait=True)
            self._own = None

    def _pool(self) -> Executor:
        if self._executor is not None:
            return self._executor
        if self._own is None:
            self._own = ThreadPoolExecutor(self._in_flight, thread_name_prefix="parts")
        return self._own

    def _raise_failed(self) -> None:
        for future in self._futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()
