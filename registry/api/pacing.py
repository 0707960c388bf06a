"""What keeps one caller from flooding the audit log or starving the others.

``DenialLog``: every refusal is an ``access_denied`` audit event, but identical ones are
aggregated. The first denial with a key (who: the token, or the client address when no valid
token was shown; the error code; the entity; the field) is written at once with ``count: 1``.
Repeats within ``window`` seconds only count; when the window closes (checked on the next
denial, by the server's periodic flush and on shutdown) one more event carries how many repeats
there were, with ``first`` and ``last`` times (in its ``after`` JSON). So a steady flood writes at
most two events per key per window. One caller's distinct keys are capped (``per_actor``) per
window: beyond it, its denials are counted under one overflow key (entity ``api:*``), so varying
the entity does not flood either. The events go through ``audit.append_events``, like any other.

``Budget``: a token bucket of cost units per token (``Limits.budget`` per minute, refilled
continuously). ``InFlight``: how many requests (all of them, or the heavy ones) each token has
running. ``Strikes``: a caller whose requests keep being refused for what they ask (too costly,
too deep, too many aliases, over budget, past the time budget) is cooled down: for a while every
request it sends is refused at the door, before its body is read, parsed or its token looked up,
and the refusal is held back (``Limits.tarpit``) so that a client sending back to back is slowed
to about one request a second instead of being answered a thousand times a second. ``Deadline``:
a graphql-core middleware that stops resolving fields once the request's time budget is spent.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from registry.api.errors import ApiError, ErrorCode
from registry.store import audit
from registry.store.db import Store
from registry.store.schema import api_tokens
from registry.store.tokens import PREFIX, hash_token


@dataclass(frozen=True, slots=True)
class Denial:
    """One refusal: who (``actor``, and the key it is aggregated under), what and why."""

    who: str  # aggregation identity: token:<id> or addr:<client address>
    actor: str  # as written in the audit log
    code: str  # the ErrorCode (or REFUSED for a mutation the rules refused)
    entity_kind: str
    entity_code: str
    field: str
    reason: str
    details: tuple[tuple[str, str], ...] = ()
    variant: str = ""  # set where the reason itself tells denials apart (a mutation's rule findings)

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        return (self.who, self.code, self.entity_kind, self.entity_code, self.field, self.variant)


@dataclass
class _Open:
    opened: float
    first: str
    last: str
    denial: Denial
    repeats: int = 0


@dataclass
class DenialLog:
    store: Store
    window: float = 60.0
    per_actor: int = 50
    max_keys: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _open: dict[tuple[str, ...], _Open] = field(default_factory=dict)
    _per_who: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, denials: list[Denial]) -> int:
        """Audit these denials (aggregated); returns how many events were written."""
        now, stamp = self.clock(), audit.now()
        out: list[tuple[Denial, int, str, str, bool]] = []
        with self._lock:
            out += self._close(now, everything=False)
            for d in denials:
                key: tuple[str, ...] = d.key
                if key not in self._open:
                    crowded = (
                        self._per_who.get(d.who, 0) >= self.per_actor or len(self._open) >= self.max_keys
                    )
                    if crowded:
                        d = Denial(
                            d.who, d.actor, d.code, "api", "*", "*", "many distinct denials", d.details
                        )
                        key = d.key
                opened = self._open.get(key)
                if opened is None:
                    self._open[key] = _Open(now, stamp, stamp, d)
                    self._per_who[d.who] = self._per_who.get(d.who, 0) + 1
                    out.append((d, 1, stamp, stamp, False))
                else:
                    opened.repeats += 1
                    opened.last = stamp
        return self._write(out)

    def flush(self, everything: bool = False) -> int:
        """Write the counts of the windows that have closed (all of them when ``everything``)."""
        with self._lock:
            out = self._close(self.clock(), everything)
        return self._write(out)

    def _close(self, now: float, everything: bool) -> list[tuple[Denial, int, str, str, bool]]:
        out = []
        for key, opened in list(self._open.items()):
            if everything or now - opened.opened >= self.window:
                del self._open[key]
                who = opened.denial.who
                self._per_who[who] -= 1
                if not self._per_who[who]:
                    del self._per_who[who]
                if opened.repeats:
                    out.append((opened.denial, opened.repeats, opened.first, opened.last, True))
        return out

    def _write(self, out: list[tuple[Denial, int, str, str, bool]]) -> int:
        if not out:
            return 0
        groups: dict[tuple[str, str], list[audit.NewEvent]] = {}
        for d, count, first, last, repeats in out:
            after = {
                "code": d.code,
                "field": d.field,
                **dict(d.details),
                "count": count,
                "first": first,
                "last": last,
            }
            if repeats:
                after["repeats_of_window"] = True
            event = audit.NewEvent(
                "access_denied",
                d.entity_kind[:32],
                d.entity_code[:128],
                None,
                json.dumps(after, ensure_ascii=False),
            )
            reason = d.reason if not repeats else f"{count} more like this: {d.reason}"
            groups.setdefault((d.actor[:400], reason[:2000]), []).append(event)
        written = 0
        with self.store.write() as conn:
            for (actor, reason), events in groups.items():
                written += audit.append_events(conn, events, actor=actor, reason=reason, change_id=None)
        return written


def presented(conn: Connection, plain: str, address: str) -> tuple[str, str, str]:
    """(who, actor, why) for a token that did not verify: a revoked token is named by its id; an
    unknown one only by a hash prefix (never the token), and is aggregated per client address."""
    if plain and plain.startswith(PREFIX) and len(plain) <= 200:
        row = conn.execute(
            select(
                api_tokens.c.id, api_tokens.c.department, api_tokens.c.role, api_tokens.c.revoked_at
            ).where(api_tokens.c.token_hash == hash_token(plain))
        ).first()
        if row is not None and row.revoked_at is not None:
            return (
                f"token:{row.id}",
                f"token:{row.id}:{row.department}:{row.role}",
                f"revoked token {row.id} (revoked at {row.revoked_at})",
            )
    shown = "sha256:" + hashlib.sha256(plain.encode("utf-8")).hexdigest()[:12] if plain else "none"
    return f"addr:{address}", f"anonymous@{address}", f"unknown bearer token ({shown})"


class Budget:
    """A token bucket of cost units per key: ``capacity`` at most, refilled at ``capacity`` a minute."""

    def __init__(self, capacity: int, clock: Callable[[], float] = time.monotonic):
        self.capacity = capacity
        self.rate = capacity / 60.0
        self.clock = clock
        self._left: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, cost: int) -> float:
        """Spend ``cost``; 0 if done, else the seconds until it could be (nothing is spent)."""
        now = self.clock()
        with self._lock:
            left, at = self._left.get(key, (float(self.capacity), now))
            left = min(float(self.capacity), left + (now - at) * self.rate)
            if cost > left:
                self._left[key] = (left, now)
                return (min(cost, self.capacity) - left) / self.rate if self.rate else float("inf")
            self._left[key] = (left - cost, now)
            return 0.0


class InFlight:
    """Requests running per key, at most ``limit`` at once."""

    def __init__(self, limit: int):
        self.limit = limit
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, key: str) -> bool:
        with self._lock:
            running = self._running.get(key, 0)
            if running >= self.limit:
                return False
            self._running[key] = running + 1
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            running = self._running.get(key, 0) - 1
            if running > 0:
                self._running[key] = running
            else:
                self._running.pop(key, None)


@dataclass
class _Record:
    who: str
    actor: str
    times: deque[float] = field(default_factory=deque)
    level: int = 0  # cool-downs started while the strikes stayed within the window
    until: float = 0.0
    last: float = 0.0


class Strikes:
    """Refused requests per caller (keyed by a hash of the bearer it presents). ``threshold``
    strikes within ``window`` seconds start a cool-down of ``first`` seconds; each further strike
    once that has ended, while the earlier ones are still within the window, starts one twice as
    long (up to ``longest``). A caller that stops being refused for ``window`` seconds starts
    afresh. Requests refused *because* their caller is cooling down are not strikes, so the
    cool-down ends. ``threshold`` 0 turns cool-downs off. At most ``max_keys`` callers are
    remembered (the stalest forgotten first)."""

    def __init__(
        self,
        threshold: int,
        window: float,
        first: float,
        longest: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.threshold, self.window, self.first, self.longest = threshold, window, first, longest
        self.max_keys, self.clock = max_keys, clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def strike(self, key: str, who: str, actor: str) -> float:
        """Count one refused request; the seconds of cool-down this strike started (0 if none)."""
        if self.threshold <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            record = self._records.get(key)
            if record is None or now - record.last > self.window:
                if record is None and len(self._records) >= self.max_keys:
                    self._forget(now)
                record = self._records[key] = _Record(who, actor)
            if not who.startswith("addr:"):  # a verified token names the caller from now on
                record.who, record.actor = who, actor
            record.last = now
            record.times.append(now)
            while record.times and now - record.times[0] > self.window:
                record.times.popleft()
            if len(record.times) < self.threshold or now < record.until:
                return 0.0
            seconds = min(self.longest, self.first * 2**record.level)
            record.level += 1
            record.until = now + seconds
            return seconds

    def cooling(self, key: str) -> tuple[float, str, str, int] | None:
        """(seconds left, who, actor, strikes in the window) while ``key`` is cooling down."""
        if self.threshold <= 0:
            return None
        now = self.clock()
        with self._lock:
            record = self._records.get(key)
            if record is None or now >= record.until:
                return None
            return record.until - now, record.who, record.actor, len(record.times)

    def _forget(self, now: float) -> None:
        stale = [k for k, r in self._records.items() if now - r.last > self.window and now >= r.until]
        for k in stale:
            del self._records[k]
        if len(self._records) >= self.max_keys:  # still full: the longest quiet goes
            del self._records[min(self._records, key=lambda k: self._records[k].last)]


class Deadline:
    """graphql-core middleware: once ``seconds`` have passed, every field still to resolve fails
    with TIME_LIMIT (so the executor stops descending); ``hit`` tells the caller to drop the data."""

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds
        self.seconds = seconds
        self.hit = False

    def resolve(self, next_: Any, root: Any, info: Any, **args: Any) -> Any:
        if self.hit or time.monotonic() > self.at:
            self.hit = True
            raise ApiError(
                ErrorCode.TIME_LIMIT, f"the request ran past its time budget of {self.seconds:g} s"
            )
        return next_(root, info, **args)
