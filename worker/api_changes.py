"""Long polls on the change counter: ``GET /api/uploads?since=N&wait=S`` answers once it passes N.

The store calls :meth:`ChangeFeed.notify` after every commit that moved the counter (from
whichever thread committed); a waiting request is an asyncio future on the server's event loop,
so a long poll holds no thread while it waits, and ``add --wait`` or the window learn of a
change within a millisecond or two of its commit instead of at their next poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

MAX_WAIT = 60.0  # seconds a long poll may ask for; past it, the client asks again


class ChangeFeed:
    """Wakes long polls when the change counter moves.

    Args:
        current: returns the committed change counter (``Store.committed_seq``).
    """

    def __init__(self, current: Callable[[], int]) -> None:
        self.current = current
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Future[None]] = set()
        self.closed = False

    def notify(self, _seq: int = 0) -> None:
        """A commit moved the counter (any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the loop closed between the check and the call
                pass

    def close(self) -> None:
        """The server is stopping: every long poll answers now, and new ones do not wait."""
        self.closed = True
        self.notify()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def wait_past(self, since: int, timeout: float) -> bool:
        """Wait until the counter is above ``since``, at most ``timeout`` seconds.

        Returns:
            Whether it moved (False: the time ran out, or the server is stopping).
        """
        loop = asyncio.get_running_loop()
        self._loop = loop
        deadline = loop.time() + min(max(timeout, 0.0), MAX_WAIT)
        while self.current() <= since:
            remaining = deadline - loop.time()
            if remaining <= 0 or self.closed:
                return False
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.add(future)
            # Checked again after registering, on the loop's thread: a commit in between has
            # scheduled a _wake that will find this future.
            if self.current() > since:
                self._waiters.discard(future)
                break
            try:
                await asyncio.wait_for(future, remaining)
            except TimeoutError:
                return self.current() > since
            finally:
                self._waiters.discard(future)
        return True
