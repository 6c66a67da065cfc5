"""Bounded, SSRF-safe HTTP(S) fetching for feeds and article pages.

Every request: only ``http``/``https``; the host name is resolved once and every address it
resolves to must be public (not private, loopback, link-local, multicast, reserved or
unspecified) unless the policy allows private addresses; the connection goes to the checked
address (no second lookup a DNS rebinding could change); redirects are followed by hand, at
most ``max_redirects``, and each hop is checked the same way. Bodies are streamed and
reading stops at ``max_bytes`` (the page is refused, nothing is kept); the whole exchange
must finish within ``timeout`` seconds. ``Accept-Encoding: identity``: no compressed bodies
(a small gzip can inflate to gigabytes). Conditional GET with ETag / Last-Modified; a polite
delay between two requests to the same host.

Left out: cookies, authentication, proxies, HTTP/2, robots.txt.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

from .errors import FetchError

__all__ = ["FetchPolicy", "Response", "Fetcher", "check_url", "canonical_url"]

log = logging.getLogger(__name__)

USER_AGENT = "news-assistant/0.1 (+offline news archive; polite fetcher)"
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of one fetcher. ``allow_hosts`` names ``host:port`` origins that may be private
    (an intranet feed server) while every other private address stays refused."""

    timeout: float = 20.0  # seconds for the whole exchange (connect, headers, body)
    max_bytes: int = 5_000_000  # a page or feed larger than this is refused
    max_redirects: int = 5
    host_delay: float = 1.0  # seconds between two requests to the same host
    allow_private: bool = False
    allow_hosts: frozenset[str] = frozenset()
    user_agent: str = USER_AGENT


@dataclass
class Response:
    url: str  # the final URL, after redirects
    status: int  # 200, or 304 when the conditional GET says "not modified"
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                return value.strip("\"' ")
        return None

    def text(self) -> str:
        for enc in (self.charset, "utf-8"):
            if enc:
                try:
                    return self.body.decode(enc)
                except (LookupError, UnicodeDecodeError):
                    continue
        return self.body.decode("cp1252", errors="replace")


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; FetchError for anything else."""
    if not isinstance(url, str) or not url.strip():
        raise FetchError(url, "empty URL")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchError(url, f"malformed URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(url, f"scheme {scheme + ':' if scheme else '(none)'} is not http(s)")
    if not parts.hostname:
        raise FetchError(url, "no host name")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


_TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid")


def canonical_url(url: str) -> str:
    """The URL an article is known by: lower-case scheme and host, no default port, no
    fragment, no tracking parameters (utm_*, fbclid, …), no trailing slash on the path."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, 80 if scheme == "http" else 443) else f"{host}:{port}"
    query = "&".join(q for q in parts.query.split("&")
                     if q and not q.lower().startswith(_TRACKING))
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((scheme, netloc, path, query, ""))


def _address_problem(ip: ipaddress._BaseAddress) -> str | None:
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    for attr, what in (("is_loopback", "loopback"), ("is_link_local", "link-local"),
                       ("is_private", "private-network"), ("is_multicast", "multicast"),
                       ("is_reserved", "reserved"), ("is_unspecified", "unspecified")):
        if getattr(ip, attr):
            return what
    return None


class Fetcher:
    """Fetch URLs under one policy; safe to share between threads."""

    def __init__(self, policy: FetchPolicy | None = None):
        self.policy = policy or FetchPolicy()
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self.requests = 0  # requests sent (redirect hops included)

    def resolve(self, url: str) -> tuple[str, str, int, str]:
        """(scheme, host, port, address) after DNS; FetchError when the address is refused."""
        scheme, host, port = check_url(url)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise FetchError(url, f"cannot resolve host {host}: {exc.strerror or exc}") from exc
        addresses = [info[4][0] for info in infos]
        if not addresses:
            raise FetchError(url, f"host {host} has no address")
        trusted = self.policy.allow_private or f"{host}:{port}" in self.policy.allow_hosts
        if not trusted:
            # Every address must be public: the connection may go to any of them.
            for address in addresses:
                problem = _address_problem(ipaddress.ip_address(address.split("%")[0]))
                if problem:
                    raise FetchError(url, f"host {host} resolves to {problem} address {address}; "
                                          "refused (use --allow-private for local servers)")
        return scheme, host, port, addresses[0]

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
            accept: str = "*/*") -> Response:
        """GET url (following checked redirects); 304 responses come back with no body.
        FetchError for every refusal or failure, with a one-line reason."""
        deadline = time.monotonic() + self.policy.timeout
        current = url
        for _hop in range(self.policy.max_redirects + 1):
            scheme, host, port, address = self.resolve(current)
            self._wait_turn(f"{host}:{port}")
            headers = {"User-Agent": self.policy.user_agent, "Accept": accept,
                       "Accept-Encoding": "identity", "Connection": "close"}
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            status, resp_headers, body = self._exchange(current, scheme, host, port, address,
                                                         headers, deadline)
            if status in (301, 302, 303, 307, 308):
                location = resp_headers.get("location")
                if not location:
                    raise FetchError(current, f"HTTP {status} redirect without a Location")
                nxt = urljoin(current, location.strip())
                log.info("redirect %s -> %s", current, nxt)
                current = nxt
                continue
            if status == 304 and (etag or last_modified):
                return Response(current, 304, resp_headers, b"")
            if status != 200:
                raise FetchError(current, f"HTTP {status}")
            return Response(current, 200, resp_headers, body)
        raise FetchError(url, f"more than {self.policy.max_redirects} redirects")

    def _wait_turn(self, origin: str) -> None:
        delay = self.policy.host_delay
        with self._lock:
            now = time.monotonic()
            start = max(now, self._last.get(origin, -1e9) + delay)
            self._last[origin] = start
            self.requests += 1
        if start > now:
            time.sleep(start - now)

    def _exchange(self, url, scheme, host, port, address, headers, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(url, f"timed out after {self.policy.timeout:g} s")
        conn = (_PinnedHTTPS if scheme == "https" else _PinnedHTTP)(host, port, address, remaining)
        try:
            path = urlunsplit(("", "", urlsplit(url).path or "/", urlsplit(url).query, ""))
            conn.request("GET", path, headers=headers)
            sock = conn.sock  # http.client drops conn.sock on "Connection: close"
            resp = conn.getresponse()
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
            if resp.status != 200:
                return resp.status, resp_headers, b""
            declared = resp_headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.policy.max_bytes:
                raise FetchError(url, f"response is {int(declared):,} bytes, over the "
                                      f"{self.policy.max_bytes:,}-byte limit")
            parts, size = [], 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FetchError(url, f"timed out after {self.policy.timeout:g} s")
                sock.settimeout(left)
                piece = resp.read1(_CHUNK) if hasattr(resp, "read1") else resp.read(_CHUNK)
                if not piece:
                    break
                size += len(piece)
                if size > self.policy.max_bytes:
                    raise FetchError(url, f"response is over the {self.policy.max_bytes:,}-byte "
                                          "limit (stopped reading)")
                parts.append(piece)
            return resp.status, resp_headers, b"".join(parts)
        except FetchError:
            raise
        except (socket.timeout, TimeoutError) as exc:
            raise FetchError(url, f"timed out after {self.policy.timeout:g} s") from exc
        except ssl.SSLError as exc:
            raise FetchError(url, f"TLS error: {exc.reason or exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(url, f"connection failed: {exc.__class__.__name__}: {exc}") from exc
        finally:
            conn.close()


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the already-checked address, sends the real host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
