"""Revoked sessions written back to Redis after it lost them.

Every service refuses a revoked session by asking Redis, and Redis keeps nothing on disk: one that
restarts comes back empty, and every logged-out session would work again until its family
expired. The identity database is the record, so a worker here watches a marker that is present
only while Redis is whole; when it is gone, the worker writes every revoked family that has not
yet expired back, a page at a time. A revoked session is refused again at most
`revocation_restore_interval_s` after Redis returns, plus the time to write the pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline.core.auth import RevokedSessions
from ledgerline.identity import repository

RESTORE_PAGE_SIZE = 1_000
_log = logging.getLogger(__name__)


class RevocationRestorer:
    def __init__(
        self,
        engine: AsyncEngine,
        revoked: RevokedSessions,
        *,
        interval_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._engine = engine
        self._revoked = revoked
        self._interval_s = interval_s
        self._clock = clock

    async def run(self) -> None:
        while True:
            try:
                if not await self._revoked.whole():
                    restored = await self.restore()
                    # A fresh Redis at the platform's first start has nothing to miss: no warning.
                    level = logging.WARNING if restored else logging.INFO
                    _log.log(level, "Redis held no revoked sessions; wrote %d back from the database", restored)
            except (RedisError, SQLAlchemyError, OSError) as error:
                _log.warning("could not restore revoked sessions to Redis (%s); trying again", error)
            await asyncio.sleep(self._interval_s)

    async def restore(self) -> int:
        """Every revoked, unexpired family back in Redis; the count written."""
        # Marked first: should Redis lose its data again while the pages are written, the marker
        # goes with them and the next round starts over, never trusting a set written half.
        await self._revoked.mark_whole(True)
        try:
            return await self._write_pages()
        except BaseException:
            with contextlib.suppress(RedisError):
                await self._revoked.mark_whole(False)
            raise

    async def _write_pages(self) -> int:
        written = 0
        after: uuid.UUID | None = None
        now = self._clock()
        while True:
            async with self._engine.connect() as connection:
                page = await repository.revoked_families(connection, now=now, after=after, limit=RESTORE_PAGE_SIZE)
            await self._revoked.restore([(str(family_id), until) for family_id, until in page])
            written += len(page)
            if len(page) < RESTORE_PAGE_SIZE:
                return written
            after = page[-1][0]
