"""Keys from a JWKS URL, fetched by the worker in the background, never on a request's way.

One `JwksKeys` per URL per worker, shared by every route naming the URL and kept
across config swaps (`jwks_keys`). It starts on the first request that needs it: a
background task fetches the document at once, then again when its `Cache-Control:
max-age` says (bounded to `MIN_REFRESH`..`MAX_REFRESH`, `DEFAULT_REFRESH` without one),
and after a failure with a doubling backoff, keeping the last good keys meanwhile.

A token whose `kid` is not among the keys makes the worker fetch the document once more
(a provider rotated its keys): one fetch at a time, awaited by every request that needs
it, and at most one such fetch per `KID_COOLDOWN`, so a flood of made-up kids costs
nothing but 401s. Requests whose keys are known never wait, whatever the URL does.

A document is refused whole (and logged) when it is over `MAX_DOCUMENT` bytes, not
answered within `FETCH_TIMEOUT`, not 200, not JSON, or holds more than `MAX_KEYS` keys;
a key of a type or curve no algorithm here uses, or a private one, is skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
from collections.abc import Awaitable
from urllib.parse import urlsplit

import httptools

from data_plane.config.jwt_keys import Jwk, PublicKey, load_jwk

log = logging.getLogger("fleetgate.jwks")

FETCH_TIMEOUT = 5.0  # seconds for connecting, sending and reading the whole answer
MAX_DOCUMENT = 128 * 1024  # bytes of body; a provider's JWKS is a few KiB
MAX_HEAD = 16 * 1024
MAX_KEYS = 64
DEFAULT_REFRESH = 300.0
MIN_REFRESH = 30.0
MAX_REFRESH = 3600.0
RETRY_FIRST = 5.0  # after a failed fetch, doubling up to MAX_RETRY
MAX_RETRY = 300.0
KID_COOLDOWN = 30.0  # between fetches made because of an unknown kid
IDLE_STOP = 3600.0  # a URL no request asked about for this long stops being fetched

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?([0-9]{1,10})\"?\s*(?:,|$)", re.IGNORECASE)


class JwksRefused(Exception):
    """Why a fetched JWKS document is not used."""


# ---------------------------------------------------------------- the document


def parse_jwks(body: bytes) -> list[Jwk]:
    """The usable keys of a JWKS document; raises JwksRefused for a document not used."""
    if len(body) > MAX_DOCUMENT:
        raise JwksRefused(f"the document is over {MAX_DOCUMENT} bytes")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise JwksRefused("the document is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksRefused('the document is not an object with a "keys" list')
    entries = document["keys"]
    if len(entries) > MAX_KEYS:
        raise JwksRefused(f"the document holds {len(entries)} keys; at most {MAX_KEYS}")
    keys = []
    for i, entry in enumerate(entries):
        try:
            keys.append(load_jwk(entry))
        except ValueError as exc:
            log.warning("JWKS key %d skipped: %s", i, exc)
    return keys


def refresh_after(cache_control: str | None) -> float:
    """Seconds until the next fetch, from the answer's Cache-Control, bounded."""
    if cache_control:
        found = _MAX_AGE.search(cache_control)
        if found:
            return min(max(float(found.group(1)), MIN_REFRESH), MAX_REFRESH)
    return DEFAULT_REFRESH


# ---------------------------------------------------------------- fetching


class _Answer:
    """httptools callbacks collecting one bounded response."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.body = bytearray()
        self.cache_control: str | None = None
        self.framed = False  # Content-Length or chunked: the end is known
        self.headers_done = False
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"cache-control":
            self.cache_control = value.decode("latin-1")
        elif lowered in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body += body
        if len(self.body) > MAX_DOCUMENT:
            raise JwksRefused(f"the document is over {MAX_DOCUMENT} bytes")

    def on_message_complete(self) -> None:
        self.complete = True


async def fetch_document(url: str) -> tuple[bytes, str | None]:
    """The body of the 200 answer at `url`, and its Cache-Control; raises JwksRefused."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise JwksRefused(f"not an http(s) URL: {url[:128]!r}")
    try:
        port = parts.port or (443 if https else 80)
    except ValueError:
        raise JwksRefused(f"not a port: {url[:128]!r}") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authority = parts.netloc.rpartition("@")[2]
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\n"
        "User-Agent: fleetgate\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    answer = _Answer()
    try:
        async with asyncio.timeout(FETCH_TIMEOUT):
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=ssl.create_default_context() if https else None,
                server_hostname=host if https else None,
            )
            try:
                writer.write(request)
                received = 0
                while not answer.complete:
                    data = await reader.read(65536)
                    if not data:
                        if answer.headers_done and not answer.framed:
                            answer.complete = True  # the body ends with the connection
                        break
                    received += len(data)
                    if received > MAX_DOCUMENT + MAX_HEAD:
                        raise JwksRefused(f"the answer is over {MAX_DOCUMENT} bytes")
                    answer.parser.feed_data(data)
            finally:
                writer.close()
    except TimeoutError:
        raise JwksRefused(f"no whole answer within {FETCH_TIMEOUT} s") from None
    except (OSError, ssl.SSLError) as exc:
        raise JwksRefused(f"cannot fetch: {exc}") from None
    except httptools.HttpParserError as exc:
        raise JwksRefused(f"not an HTTP answer: {exc}") from None
    if not answer.complete:
        raise JwksRefused("the answer was cut short")
    status = answer.parser.get_status_code()
    if status != 200:
        raise JwksRefused(f"answered {status}, not 200")
    return bytes(answer.body), answer.cache_control


# ---------------------------------------------------------------- the keys of one URL


class JwksKeys:
    """The keys at one JWKS URL, as this worker last fetched them."""

    __slots__ = (
        "by_kid",
        "failures",
        "fetches",
        "fetching",
        "keys_list",
        "kid_fetch_after",
        "last_error",
        "last_used",
        "loaded",
        "task",
        "url",
    )

    def __init__(self, url: str) -> None:
        self.url = url
        self.loaded = False  # a document was fetched once
        self.by_kid: dict[str, list[Jwk]] = {}
        self.keys_list: list[Jwk] = []
        self.fetching: asyncio.Task[float | None] | None = None
        self.kid_fetch_after = 0.0  # loop time before which no kid makes a fetch
        self.task: asyncio.Task[None] | None = None
        self.last_used = 0.0
        self.failures = 0
        self.fetches = 0
        self.last_error: str | None = None

    def keys(self, family: str, alg: str, kid: str | None) -> list[PublicKey] | None:
        loop = asyncio.get_running_loop()
        self.last_used = loop.time()
        if self.task is None:
            self.task = loop.create_task(self._refresh_forever())
        if not self.loaded:
            return None
        candidates = self.keys_list if kid is None else self.by_kid.get(kid)
        if candidates is None:
            return None
        return [k.key for k in candidates if k.family == family and k.alg in (None, alg)]

    def refresh(self) -> Awaitable[object] | None:
        """One fetch shared by every request waiting on it; None in the cooldown."""
        if self.fetching is not None:
            return asyncio.shield(self.fetching)
        if not self.loaded and self.failures == 0:
            return asyncio.shield(self._fetch())  # the first fetch is not in yet
        now = asyncio.get_running_loop().time()
        if now < self.kid_fetch_after:
            return None
        self.kid_fetch_after = now + KID_COOLDOWN
        return asyncio.shield(self._fetch())

    def _fetch(self) -> asyncio.Task[float | None]:
        if self.fetching is None:
            self.fetching = asyncio.get_running_loop().create_task(self._fetch_once())
        return self.fetching

    async def _fetch_once(self) -> float | None:
        """Fetch and take the document; the seconds until the next fetch, None on failure."""
        self.fetches += 1
        try:
            body, cache_control = await fetch_document(self.url)
            keys = parse_jwks(body)
        except JwksRefused as exc:
            self.failures += 1
            self.last_error = str(exc)
            log.warning(
                "JWKS %s: %s; %s",
                self.url,
                exc,
                "keeping the last good keys" if self.loaded else "no keys yet",
            )
            return None
        finally:
            self.fetching = None
        by_kid: dict[str, list[Jwk]] = {}
        for key in keys:
            if key.kid is not None:
                by_kid.setdefault(key.kid, []).append(key)
        self.by_kid, self.keys_list = by_kid, keys
        self.loaded = True
        self.failures = 0
        self.last_error = None
        return refresh_after(cache_control)

    async def _refresh_forever(self) -> None:
        loop = asyncio.get_running_loop()
        retry = RETRY_FIRST
        while loop.time() - self.last_used < IDLE_STOP:
            next_in = await self._fetch()
            if next_in is None:
                next_in, retry = retry, min(retry * 2, MAX_RETRY)
            else:
                retry = RETRY_FIRST
            await asyncio.sleep(next_in)
        self.task = None  # idle: the next request that needs the keys starts it again

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "empty"
        return (
            f"<JwksKeys {self.url} {state} keys={len(self.keys_list)} fetches={self.fetches}"
            f" failures={self.failures}>"
        )


_BY_URL: dict[str, JwksKeys] = {}


def jwks_keys(url: str) -> JwksKeys:
    """This worker's keys of `url`, made on first use and kept across config swaps."""
    found = _BY_URL.get(url)
    if found is None:
        found = _BY_URL[url] = JwksKeys(url)
    return found
