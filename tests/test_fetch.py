"""fetch.py against a real HTTP server on a loopback port."""

from __future__ import annotations

import time

import pytest

from assistant.errors import FetchError
from assistant.fetch import Fetcher, FetchPolicy, canonical_url, check_url
from tests.feed_server import FeedServer, Route


@pytest.fixture
def server():
    with FeedServer() as s:
        yield s


def fetcher(server=None, **kw) -> Fetcher:
    kw.setdefault("host_delay", 0.0)
    kw.setdefault("timeout", 5.0)
    if server is not None and not kw.get("allow_private"):
        kw.setdefault("allow_hosts", frozenset({f"127.0.0.1:{server.port}"}))
    return Fetcher(FetchPolicy(**kw))


@pytest.mark.parametrize("url, reason", [
    ("javascript:alert(1)", "scheme javascript: is not http(s)"),
    ("file:///etc/passwd", "scheme file: is not http(s)"),
    ("data:text/html,<p>x</p>", "scheme data: is not http(s)"),
    ("ftp://example.org/x", "scheme ftp: is not http(s)"),
    ("http://", "no host name"),
    ("", "empty URL"),
])
def test_check_url_non_http_refused(url, reason):
    with pytest.raises(FetchError) as err:
        check_url(url)
    assert reason in err.value.reason


def test_canonical_url_drops_tracking_fragment_and_default_port():
    assert canonical_url("HTTP://Example.ORG:80/news/story/?utm_source=x&id=3#top") == \
        "http://example.org/news/story?id=3"
    assert canonical_url("https://example.org:8443/a/") == "https://example.org:8443/a"


def test_get_loopback_without_allow_private_refused(server):
    server.routes["/a"] = Route(b"<p>hello</p>")
    with pytest.raises(FetchError) as err:
        fetcher().get(server.url("/a"))
    assert "loopback address 127.0.0.1" in err.value.reason
    assert server.hits["/a"] == 0  # refused before connecting


def test_get_metadata_address_refused_before_connecting():
    with pytest.raises(FetchError) as err:
        fetcher().get("http://169.254.169.254/latest/meta-data/")
    assert "link-local address 169.254.169.254" in err.value.reason


@pytest.mark.parametrize("target, what", [
    ("http://169.254.169.254/latest/meta-data/", "link-local address 169.254.169.254"),
    ("http://127.0.0.1:{other}/admin", "loopback address 127.0.0.1"),
    ("http://10.0.0.7/intranet", "private-network address 10.0.0.7"),
    ("javascript:alert(1)", "scheme javascript: is not http(s)"),
])
def test_get_redirect_to_private_refused(server, target, what):
    # The server itself is allowed (allow_hosts); where it redirects to is checked again.
    with FeedServer() as other:
        server.routes["/r"] = Route(status=302, headers={"Location": target.format(other=other.port)})
        with pytest.raises(FetchError) as err:
            fetcher(server).get(server.url("/r"))
        assert what in err.value.reason
        assert sum(other.hits.values()) == 0


def test_get_redirect_followed_and_final_url_reported(server):
    server.routes["/old"] = Route(status=301, headers={"Location": "/new"})
    server.routes["/new"] = Route(b"<p>moved</p>")
    resp = fetcher(server).get(server.url("/old"))
    assert resp.status == 200 and resp.body == b"<p>moved</p>" and resp.url == server.url("/new")


def test_get_redirect_loop_stops(server):
    server.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError) as err:
        fetcher(server, max_redirects=3).get(server.url("/loop"))
    assert "more than 3 redirects" in err.value.reason


def test_get_huge_streamed_body_stops_at_cap(server):
    server.routes["/huge"] = Route(stream_bytes=100_000_000)  # 100 MB, no Content-Length
    started = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetcher(server, max_bytes=1_000_000).get(server.url("/huge"))
    assert "over the 1,000,000-byte limit (stopped reading)" in err.value.reason
    assert time.monotonic() - started < 5
    time.sleep(0.2)
    assert server.streamed < 20_000_000  # the client hung up long before 100 MB


def test_get_declared_length_over_cap_refused(server):
    server.routes["/big"] = Route(b"x" * 2_000_000)
    with pytest.raises(FetchError) as err:
        fetcher(server, max_bytes=1_000_000).get(server.url("/big"))
    assert "response is 2,000,000 bytes, over the 1,000,000-byte limit" in err.value.reason


def test_get_slow_host_times_out(server):
    server.routes["/slow"] = Route(b"<p>late</p>", delay=3.0)
    started = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetcher(server, timeout=0.5).get(server.url("/slow"))
    assert "timed out after 0.5 s" in err.value.reason
    assert time.monotonic() - started < 2.0


def test_get_http_error_status_reported(server):
    with pytest.raises(FetchError) as err:
        fetcher(server).get(server.url("/missing"))
    assert err.value.reason == "HTTP 404"


def test_get_conditional_returns_304_without_body(server):
    server.routes["/feed"] = Route(b"<rss/>", content_type="application/rss+xml")
    f = fetcher(server)
    first = f.get(server.url("/feed"))
    again = f.get(server.url("/feed"), etag=first.headers["etag"])
    assert again.not_modified and again.body == b""
    assert server.bodies["/feed"] == 1 and server.hits["/feed"] == 2


def test_get_same_host_waits_polite_delay(server):
    server.routes["/a"] = Route(b"a")
    f = fetcher(server, host_delay=0.4)
    started = time.monotonic()
    for _ in range(3):
        f.get(server.url("/a"))
    assert time.monotonic() - started >= 0.8  # two waits between three requests
    assert f.requests == 3
