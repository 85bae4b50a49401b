"""The Redis backend: one limit per fleet, decided by one Lua script on Redis's clock.

Every node's workers send the same script (EVALSHA; loaded again after a NOSCRIPT, as
after a Redis restart) with the keys of one decision: the script reads Redis's TIME in
microseconds, runs GCRA over every window of every key (gcra.py, the same arithmetic)
and moves the TATs only when every window admits, so two nodes sharing a Redis admit
the limit together. Keys carry a hash tag (`{...}`), the same for every key of one
decision, so Redis Cluster keeps them in one slot; each key expires when its windows
are whole again.

Decisions made in one turn of the loop leave together, in one pipeline; those of them
on the same keys and windows (every request of one consumer on one route) are one call
of SCRIPT_MANY, which decides n arrivals as n calls of SCRIPT one after the other would
at its one `now`, and answers each: a hot key costs Redis one script run per batch.

A decision has a deadline (50 ms by default): a decision alone runs in the caller's
task under `asyncio.timeout`; the decisions of one batch share one timer, which fails
those still waiting when it fires (no Task per decision, as `asyncio.wait_for` made).
Replies are read by `ReplyReader` from the connection's bytes;
redis-py keeps the pool, the handshake and reconnecting. A failed or late decision marks
the backend down: until a backoff (0.1 s doubling to 5 s, jittered) has passed, decisions
fail at once, without a round trip, and the policy's `fail_mode` applies; then one
decision tries again. The log says so once per change of state, not once per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from typing import Any

from data_plane.config.defaults import RATE_LIMIT_DECISION_DEADLINE as DEADLINE

from .gcra import Window, WindowState, state
from .redis_replies import ErrorReply, Reply, ReplyReader, UnreadableReply

log = logging.getLogger("fleetgate.limits")

# Keys start with this prefix (default "fleetgate"): nodes of one fleet use the same one.
REDIS_PREFIX_VARIABLE = "FLEETGATE_REDIS_KEY_PREFIX"
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
POOL_SIZE = 64
PACKED_KEPT = 4096  # EVALSHA commands kept packed; forgotten all at once when full
READ_TIMEOUT = 1.0  # seconds a connection may take to answer a batch before it is dropped
READ_SIZE = 65_536
# A decision waiting to be sent: its keys, its arguments, where its reply goes, and its
# deadline (seconds from the batch's start)
Pending = tuple[list[str], list[int | str], "asyncio.Future[list[int]]", float]

# KEYS: one hash per key, then the monthly quota's counter when ARGV[1] > 0.
# ARGV: the quota (0: none), the quota counter's expiry (unix seconds), then per hash
# its window count and (slot, interval, capacity) per window.
# Returns: admitted (1; 0: a window refused; 2: the quota is used up), now, the quota
# used after the decision, then each window's TAT after the decision.
SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local quota = tonumber(ARGV[1])
local hashes = #KEYS
if quota > 0 then hashes = hashes - 1 end
local a = 3
local admitted = 1
local plan = {}
local ends = {}
for k = 1, hashes do
  local count = tonumber(ARGV[a]); a = a + 1
  local slots = {}
  for w = 1, count do
    slots[w] = ARGV[a]
    plan[#plan + 1] = {k, ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])}
    a = a + 3
  end
  local held = {}
  if count > 0 then held = redis.call('HMGET', KEYS[k], unpack(slots)) end
  for w = 1, count do
    local p = plan[#plan - count + w]
    local tat = tonumber(held[w]) or 0
    p[5] = tat
    if tat < now then tat = now end
    local new_tat = tat + p[3]
    if new_tat - now > p[4] then admitted = 0 else p[6] = new_tat end
  end
end
local used = 0
if quota > 0 then
  used = tonumber(redis.call('GET', KEYS[#KEYS]) or 0)
  if admitted == 1 then
    if used >= quota then
      admitted = 2
    else
      used = redis.call('INCR', KEYS[#KEYS])
      redis.call('EXPIREAT', KEYS[#KEYS], ARGV[2])
    end
  end
end
local out = {admitted, now, used}
for i, p in ipairs(plan) do
  local tat = p[5]
  if admitted == 1 then
    tat = p[6]
    redis.call('HSET', KEYS[p[1]], p[2], tat)
    if (ends[p[1]] or 0) < tat then ends[p[1]] = tat end
  end
  out[#out + 1] = tat
end
for k, e in pairs(ends) do
  redis.call('PEXPIRE', KEYS[k], math.floor((e - now) / 1000) + 1)
end
return out
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()

# The same decision for n arrivals at once, as n calls of SCRIPT one after the other at
# one `now` would make them: each admitted arrival moves the TATs (and counts against
# the quota) before the next is decided; the hashes and the quota are read once and
# written once. ARGV: n, then SCRIPT's arguments. Returns SCRIPT's reply for each
# arrival, one after the other (n * (3 + windows) integers).
SCRIPT_MANY = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local quota = tonumber(ARGV[2])
local hashes = #KEYS
if quota > 0 then hashes = hashes - 1 end
local a = 4
local plan = {}
for k = 1, hashes do
  local count = tonumber(ARGV[a]); a = a + 1
  local slots = {}
  for w = 1, count do
    slots[w] = ARGV[a]
    plan[#plan + 1] = {k, ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])}
    a = a + 3
  end
  local held = {}
  if count > 0 then held = redis.call('HMGET', KEYS[k], unpack(slots)) end
  for w = 1, count do
    plan[#plan - count + w][5] = tonumber(held[w]) or 0
  end
end
local used = 0
if quota > 0 then used = tonumber(redis.call('GET', KEYS[#KEYS]) or 0) end
local counted = 0
local moved = {}
local out = {}
for i = 1, n do
  local admitted = 1
  for j, p in ipairs(plan) do
    local tat = p[5]
    if tat < now then tat = now end
    local new_tat = tat + p[3]
    if new_tat - now > p[4] then admitted = 0 else moved[j] = new_tat end
  end
  if admitted == 1 and quota > 0 and used >= quota then admitted = 2 end
  if admitted == 1 then
    counted = counted + 1
    if quota > 0 then used = used + 1 end
    for j, p in ipairs(plan) do p[5] = moved[j] end
  end
  out[#out + 1] = admitted
  out[#out + 1] = now
  out[#out + 1] = used
  for j, p in ipairs(plan) do out[#out + 1] = p[5] end
end
if counted > 0 then
  if quota > 0 then
    redis.call('INCRBY', KEYS[#KEYS], counted)
    redis.call('EXPIREAT', KEYS[#KEYS], ARGV[3])
  end
  local ends = {}
  for j, p in ipairs(plan) do
    redis.call('HSET', KEYS[p[1]], p[2], p[5])
    if (ends[p[1]] or 0) < p[5] then ends[p[1]] = p[5] end
  end
  for k, e in pairs(ends) do
    redis.call('PEXPIRE', KEYS[k], math.floor((e - now) / 1000) + 1)
  end
end
return out
"""
SCRIPT_MANY_SHA = hashlib.sha1(SCRIPT_MANY.encode()).hexdigest()


ADMITTED, REFUSED, QUOTA_USED_UP = 1, 0, 2


class Quota:
    """A tenant's monthly quota as Redis counts it: one counter per tenant and month."""

    __slots__ = ("expires", "key", "limit")

    def __init__(self, key: str, limit: int, expires: int) -> None:
        self.key = key
        self.limit = limit
        self.expires = expires  # unix seconds: well after the month's end


def quota_key(prefix: str, tenant: str, month: str) -> str:
    """The Redis key counting `tenant`'s requests in `month` ("2026-12")."""
    return f"{prefix}:{{tenant|{tenant}}}:quota:{month}"


def arguments(
    keys: list[str], windows: list[tuple[Window, ...]], quota: Quota | None
) -> tuple[list[str], list[int | str]]:
    """The script's KEYS and ARGV for one decision."""
    args: list[int | str] = [0, 0]
    if quota is not None:
        keys = [*keys, quota.key]
        args = [quota.limit, quota.expires]
    for key_windows in windows:
        args.append(len(key_windows))
        for w in key_windows:
            args += (w.slot, w.interval, w.capacity)
    return keys, args


class BackendUnavailable(Exception):
    """The backend could not decide in time; the policy's fail mode applies."""


class RedisBackend:
    """A worker's connection pool to the Redis that every node of the fleet shares."""

    ticks_per_second = 1_000_000  # Redis's TIME, in microseconds

    def __init__(self, url: str, *, prefix: str = "fleetgate") -> None:
        # Imported here: a worker without a Redis URL never loads the client (some 12 MB).
        import redis.asyncio as aioredis
        from redis.exceptions import ConnectionError, NoScriptError, RedisError, ResponseError

        self.url = url
        self.prefix = prefix
        self._failures = (RedisError, OSError, TimeoutError, UnreadableReply)
        self._no_script = NoScriptError
        self._error_reply = ResponseError
        self._closed = ConnectionError
        self._broken = (ConnectionError, OSError)  # the connection, not Redis, failed
        self.client = aioredis.Redis.from_url(
            url,
            max_connections=POOL_SIZE,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
            retry_on_timeout=False,
        )
        # The wire bytes of each decision's EVALSHA, by its keys and arguments: a route's
        # key sends the same command every time, and packing it is most of the client's
        # CPU per decision
        self._packed: dict[tuple[int | str, ...], bytes] = {}
        # Decisions waiting for this turn of the loop to end, to leave in one pipeline,
        # and when the first of them was made (their deadlines count from there)
        self._batch: list[Pending] | None = None
        self._batch_started = 0.0
        self._sending: set[asyncio.Task[None]] = set()
        self._alone = False  # a decision is in flight on its own
        # Per-worker state
        self.up = True
        self.retry_at = 0.0  # monotonic time of the next try while down
        self.backoff = 0.0
        # Counters for /metrics
        self.decisions = 0
        self.errors = 0
        self.latency_sum = 0.0

    def key(self, tag: str, name: str) -> str:
        """A key of this backend: every key of one decision shares `tag` (one slot)."""
        return f"{self.prefix}:{{{tag}}}:{name}"

    async def decide(
        self,
        keys: list[str],
        windows: list[tuple[Window, ...]],
        deadline: float = DEADLINE,
        quota: Quota | None = None,
    ) -> tuple[int, list[list[WindowState]]]:
        """One decision over the windows of every key, and the monthly `quota` when
        given, within `deadline` seconds: ADMITTED, REFUSED (a window) or QUOTA_USED_UP.
        Raises BackendUnavailable."""
        if not self.up and time.monotonic() < self.retry_at:
            raise BackendUnavailable("the rate-limit backend is down")
        keys, args = arguments(keys, windows, quota)
        started = time.monotonic()
        try:
            reply = await self._run(keys, args, deadline)
        except self._failures as exc:
            self._failed(exc)
            raise BackendUnavailable(str(exc) or type(exc).__name__) from exc
        self.decisions += 1
        self.latency_sum += time.monotonic() - started
        self._recovered()
        outcome, now, _used, *tats = reply
        states: list[list[WindowState]] = []
        i = 0
        for key_windows in windows:
            states.append([state(w, tats[i + j], now) for j, w in enumerate(key_windows)])
            i += len(key_windows)
        return outcome, states

    async def _run(self, keys: list[str], args: list[int | str], deadline: float) -> list[int]:
        """The script's reply for one decision, within `deadline` seconds. Alone (nothing
        else waiting or in flight) it goes at once, in the caller's task; otherwise with
        the other decisions of the same turn of the event loop, in one pipeline, which
        costs a third of the CPU of as many separate commands."""
        if self._batch is None and not self._sending and not self._alone:
            self._alone = True
            try:
                async with asyncio.timeout(deadline):
                    return await self._run_alone(keys, args)
            finally:
                self._alone = False
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        batch = self._batch
        if batch is None:
            batch = self._batch = []
            self._batch_started = loop.time()
            loop.call_soon(self._flush)
        batch.append((keys, args, future, deadline))
        return await future

    async def _run_alone(self, keys: list[str], args: list[int | str]) -> list[int]:
        (reply,) = await self._evalsha([(keys, args, 1)])
        if isinstance(reply, self._no_script):
            # A restarted or flushed Redis: load it again, once, and go on.
            await self._load_scripts()
            (reply,) = await self._evalsha([(keys, args, 1)])
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def _flush(self) -> None:
        batch, self._batch = self._batch or [], None
        # Decisions given up on (their request went away) need no round trip.
        live = [pending for pending in batch if not pending[2].done()]
        if not live:
            return
        loop = asyncio.get_running_loop()
        # One timer per deadline the batch holds (a route's own or the default; mostly one)
        timers = [
            loop.call_at(
                self._batch_started + deadline,
                _expire,
                [future for _, _, future, given in live if given == deadline],
            )
            for deadline in {deadline for *_, deadline in live}
        ]
        task = loop.create_task(self._send(live, timers))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[Pending], timers: list[asyncio.TimerHandle]) -> None:
        try:
            replies = await self._pipeline(batch)
        except BaseException as exc:
            for _, _, future, _ in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            for timer in timers:
                timer.cancel()
        for (_, _, future, _), reply in zip(batch, replies, strict=True):
            if future.done():
                continue  # its deadline passed meanwhile
            if isinstance(reply, BaseException):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _pipeline(self, batch: list[Pending]) -> list[Any]:
        """The replies to the decisions of `batch` in one pipeline (one connection of
        the pool, one round trip): one EVALSHA per run of decisions on the same keys
        and windows (of SCRIPT_MANY for several, each answered as if decided alone, in
        batch order); after a NOSCRIPT (a restarted or flushed Redis) the scripts
        are loaded again, once, and those commands are sent again."""
        groups = _grouped(batch)
        commands = [(keys, args, len(members)) for keys, args, members in groups]
        replies = await self._evalsha(commands)
        unknown = [i for i, reply in enumerate(replies) if isinstance(reply, self._no_script)]
        if unknown:
            await self._load_scripts()
            again = await self._evalsha([commands[i] for i in unknown])
            for i, reply in zip(unknown, again, strict=True):
                replies[i] = reply
        answers: list[Any] = [None] * len(batch)
        for (_, _, members), reply in zip(groups, replies, strict=True):
            count = len(members)
            if count == 1 or isinstance(reply, BaseException):
                for i in members:
                    answers[i] = reply
                continue
            size = len(reply) // count
            if size < 3 or size * count != len(reply):
                unreadable = UnreadableReply(f"{len(reply)} integers for {count} decisions")
                for i in members:
                    answers[i] = unreadable
                continue
            for n, i in enumerate(members):
                answers[i] = reply[n * size : (n + 1) * size]
        return answers

    async def _load_scripts(self) -> None:
        """Load both scripts, as one: a batch that found one of them loaded and not the
        other would have its decisions made out of order (those sent again, last)."""
        await self.client.script_load(SCRIPT)
        await self.client.script_load(SCRIPT_MANY)

    async def _evalsha(self, commands: list[tuple[list[str], list[int | str], int]]) -> list[Any]:
        """The replies to an EVALSHA of each (keys, arguments, arrivals), sent in one
        write on one connection of the pool; an error reply is its exception, in its
        place. The commands are packed once per distinct decision and kept. A
        connection that failed (or whose caller gave up) midway is closed, never reused
        out of step; one found broken before any reply (Redis restarted, an idle
        connection dropped) is replaced once, as the client library's own retry would."""
        data = b"".join([self._command(keys, args, n) for keys, args, n in commands])
        pool = self.client.connection_pool
        replies: list[Any] = []
        for attempt in (1, 2):
            connection = await pool.get_connection()
            try:
                await self._exchange(connection, data, len(commands), replies)
                return replies
            except TimeoutError:
                # Late, not broken (though an OSError): Redis may have run the commands,
                # and sending them again would count them twice.
                await connection.disconnect()
                raise
            except self._broken:
                await connection.disconnect()
                if attempt == 2 or replies:
                    raise
                # Its idle siblings are as stale (a restart): reconnect rather than try them.
                await pool.disconnect(inuse_connections=False)
            except BaseException:
                await connection.disconnect()
                raise
            finally:
                await pool.release(connection)
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _exchange(self, connection: Any, data: bytes, count: int, replies: list[Any]) -> None:
        """Send `data` (`count` commands) on `connection` and read their replies into
        `replies`, each a list of integers or the exception of its error reply.

        On the streams redis-py opened, past its send and its parser: it waits on each
        write's drain through `asyncio.wait_for` (a Task each), and reads a reply a line
        at a time; here the replies are read in as few reads as they arrive in.
        """
        if not connection.is_connected:
            await connection.connect()
        writer: asyncio.StreamWriter = connection._writer
        reader: asyncio.StreamReader = connection._reader
        replies_of = ReplyReader()
        async with asyncio.timeout(READ_TIMEOUT):
            writer.write(data)
            await writer.drain()
            while len(replies) < count:
                data = await reader.read(READ_SIZE)
                if not data:
                    raise self._closed("Redis closed the connection")
                replies += [self._reply(reply) for reply in replies_of.feed(data)]
        if len(replies) > count:
            raise UnreadableReply(f"{len(replies)} replies to {count} commands")

    def _reply(self, reply: Reply) -> list[int] | Exception:
        """A script's reply as `decide` takes it: its integers, or the error it was."""
        if isinstance(reply, ErrorReply):
            code, _, message = reply.message.partition(" ")
            if code == "NOSCRIPT":
                return self._no_script(message)
            return self._error_reply(reply.message)
        if isinstance(reply, list):
            return reply  # type: ignore[return-value]  # the script answers integers only
        raise UnreadableReply(f"not a decision: {reply!r}"[:200])

    def _command(self, keys: list[str], args: list[int | str], arrivals: int = 1) -> bytes:
        """EVALSHA of the script with `keys` and `args`, as RESP bytes: of SCRIPT_MANY,
        `arrivals` first, when there are several."""
        known = (arrivals, *keys, len(keys), *args)
        packed = self._packed.get(known)
        if packed is None:
            if len(self._packed) >= PACKED_KEPT:
                self._packed.clear()
            if arrivals == 1:
                words = [b"EVALSHA", SCRIPT_SHA.encode(), b"%d" % len(keys)]
            else:
                words = [b"EVALSHA", SCRIPT_MANY_SHA.encode(), b"%d" % len(keys)]
                args = [arrivals, *args]
            words += [key.encode() for key in keys]
            words += [str(arg).encode() for arg in args]
            packed = self._packed[known] = b"*%d\r\n" % len(words) + b"".join(
                [b"$%d\r\n%s\r\n" % (len(word), word) for word in words]
            )
        return packed

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.up:
            self.up = False
            self.backoff = BACKOFF_FIRST
            log.warning(
                "rate limits: Redis at %s cannot decide (%s); policies follow their fail_mode",
                _redacted(self.url),
                str(exc) or type(exc).__name__,
            )
        else:
            self.backoff = min(BACKOFF_MAX, self.backoff * 2)
        self.retry_at = time.monotonic() + self.backoff * random.uniform(0.5, 1.0)

    def _recovered(self) -> None:
        if not self.up:
            self.up = True
            self.backoff = 0.0
            log.warning("rate limits: Redis at %s decides again", _redacted(self.url))

    async def close(self) -> None:
        await self.client.aclose()

    def __repr__(self) -> str:
        return f"<RedisBackend {_redacted(self.url)} up={self.up} errors={self.errors}>"


def _grouped(batch: list[Pending]) -> list[tuple[list[str], list[int | str], list[int]]]:
    """The decisions of `batch` as (keys, arguments, their places in the batch): those
    on the same keys and windows together, at the place of the first of them, unless a
    decision between them uses one of their keys (moving past it would change what
    either decides)."""
    groups: list[tuple[list[str], list[int | str], list[int]]] = []
    group_of: dict[tuple[int | str, ...], int] = {}
    last_group: dict[str, int] = {}  # by key: the last group that uses it
    for i, (keys, args, _, _) in enumerate(batch):
        known = (*keys, len(keys), *args)
        g = group_of.get(known)
        if g is not None and all(last_group[key] == g for key in keys):
            groups[g][2].append(i)
            continue
        group_of[known] = len(groups)
        for key in keys:
            last_group[key] = len(groups)
        groups.append((keys, args, [i]))
    return groups


def _expire(futures: list[asyncio.Future[list[int]]]) -> None:
    """A batch's deadline passed: its decisions still waiting get the fail mode."""
    for future in futures:
        if not future.done():
            future.set_exception(TimeoutError())


def _redacted(url: str) -> str:
    """`url` without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return scheme + sep + rest
