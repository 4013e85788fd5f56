"""The registry snapshot a verification service checks seals against, kept fresh.

Reading the hospitals registry from the chain costs milliseconds to hundreds of them;
a seal check costs ~70 µs. So :class:`SnapshotKeeper` keeps one snapshot and:

- refreshes it in a background thread when it is older than ``SNAPSHOT_TTL`` s
  (requests keep using the previous one meanwhile);
- refreshes it synchronously, at most once every ``SNAPSHOT_MIN_AGE`` s, when a request
  meets a signer unknown to it: a hospital may have been registered a moment ago, but a
  stream of forged payloads must not make every request re-read the registry;
- reports, through ``on_lost_block``, that the block the previous snapshot was taken at
  is gone from the chain, so that whatever else was learnt from the chain is forgotten.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from verifier.registry import RegistrySnapshot

#: the registry snapshot is refreshed (in the background) when older than this
SNAPSHOT_TTL = 5.0
#: an unknown signer triggers a synchronous refresh when the snapshot is older than this
SNAPSHOT_MIN_AGE = 1.0

#: the snapshot at the chain's head from the previous one (None: none yet), and whether the
#: previous one's block is still on the chain
Advance = Callable[[RegistrySnapshot | None], tuple[RegistrySnapshot, bool]]


class SnapshotKeeper:
    """One registry snapshot, refreshed as the module docstring says.

    ``background`` False keeps every read on the caller's thread: an in-process EVM must
    not be read from a thread of the keeper's own while its owner uses it.
    """

    def __init__(self, advance: Advance, *, on_lost_block: Callable[[], None], background: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._advance = advance
        self._on_lost_block = on_lost_block
        self._background = background
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: RegistrySnapshot | None = None
        self._taken = 0.0
        self._refreshing = False

    def snapshot(self, *, fresh: bool = False) -> RegistrySnapshot:
        """The snapshot, read from the chain now if there is none or it is older than
        ``SNAPSHOT_TTL`` (``SNAPSHOT_MIN_AGE`` with ``fresh``). Blocking: thread pool only."""
        with self._lock:
            age = self._clock() - self._taken
            if self._snapshot is None or age > SNAPSHOT_TTL or (fresh and age > SNAPSHOT_MIN_AGE):
                snapshot, continuous = self._advance(self._snapshot)
                if not continuous:
                    self._on_lost_block()
                self._snapshot, self._taken = snapshot, self._clock()
            return self._snapshot

    def current(self) -> RegistrySnapshot | None:
        """The snapshot without waiting, starting a background refresh when it is stale; None
        when the caller must call :meth:`snapshot` (none yet, or a stale one the keeper may not
        refresh from a thread of its own)."""
        if self._snapshot is not None and self._clock() - self._taken > SNAPSHOT_TTL:
            if not self._background:
                return None
            if not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, name="registry-snapshot", daemon=True).start()
        return self._snapshot

    def is_recent(self) -> bool:
        """Whether the snapshot was read in the last ``SNAPSHOT_MIN_AGE`` s (a fresh read would not be)."""
        return self._clock() - self._taken <= SNAPSHOT_MIN_AGE

    def _refresh(self) -> None:
        try:
            self.snapshot()
        except Exception:  # the next refresh retries; the old snapshot stays in use meanwhile
            pass
        finally:
            self._refreshing = False
