"""The bounded parse worker: parse untrusted article files in a child process with a time
and a memory bound.

Parsing is where hostile files hurt: trafilatura takes minutes on some HTML well under the
size cap, and a JSON file expands to many times its size in objects. ``corpus.py`` hands
each expensive step (HTML/Markdown extraction, JSON records) to one long-lived child
process, one file per request, so a file that runs past ``Settings.parse_timeout`` seconds
or allocates more than ``Settings.parse_memory_mb`` MB fails alone, with a clear message,
and the rest of the corpus loads. A worker that times out is killed and the next file gets a
fresh one; one that ran out of memory is replaced too.

Design choices, and why:

- One child for the whole process (not a pool, not a process per file): it starts once
  (about a second: Python, the package, trafilatura) and then costs well under a
  millisecond per file. Calls from several threads take turns (a lock); on the 2-core
  machines this runs on, a second worker would mostly compete with embedding.
- The child is started with ``subprocess`` running a fresh interpreter, not forked: a fork
  of the serving process would inherit its threads, locks and gigabytes of address space
  (the model), and ``RLIMIT_AS`` counts address space.
- The memory bound is ``RLIMIT_AS`` set in the child to its size after start-up plus the
  bound, so "more than N MB" means N MB used by the parse itself.
- Requests and replies are JSON, never pickles: a parser bug exploited by a hostile file
  cannot make the app run code by sending it a crafted pickle.
- The child exits when the app does (end of its input, or a parent-watching thread), so no
  orphan keeps parsing after a crash.

Left out: parallel parsing (one worker; a slow file holds up an upload's check until its
bound), Windows (``select`` on pipes and ``resource`` are POSIX), and bounding the cheap
in-process steps (reading, decoding, plain .txt parsing, which are linear in the file size).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import selectors
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ParseLimits", "ParseLimitError", "run", "shutdown"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">Q")  # each message: 8-byte big-endian length, then UTF-8 JSON
# The child imports only the parsing modules, not the package's __init__ (the answering
# stack, numpy): an empty package module stands in for it. Start-up is then Python plus
# trafilatura.
_CHILD = """import sys, types
pkg = types.ModuleType("assistant")
pkg.__path__ = [sys.argv[1] + "/assistant"]
sys.modules["assistant"] = pkg
from assistant.parseworker import _child_main
_child_main()
"""


@dataclass(frozen=True)
class ParseLimits:
    """The bounds of one parse step: wall-clock seconds and memory in MB."""

    timeout: float = 30.0
    memory_mb: int = 2048

    @classmethod
    def from_settings(cls, settings) -> "ParseLimits":
        return cls(timeout=settings.parse_timeout, memory_mb=settings.parse_memory_mb)


class ParseLimitError(Exception):
    """A parse step ran past a bound (or its worker died); ``reason`` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Worker:
    """One child process and the pipes to it."""

    def __init__(self, memory_mb: int):
        self.memory_mb = memory_mb
        self.ready = False
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, package_root, str(memory_mb), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)
        log.debug("parse worker started (pid %d, memory bound %d MB)", self.proc.pid, memory_mb)

    def wait_ready(self, timeout: float) -> None:
        """Wait for the child's hello (sent once its imports are done)."""
        deadline = time.monotonic() + timeout
        (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
        self._read(size, deadline)
        self.ready = True

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process SIGKILL cannot stop
            log.warning("parse worker %d did not exit after SIGKILL", self.proc.pid)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError as exc:
                log.debug("closing a parse worker pipe: %s", exc)

    def call(self, request: dict, timeout: float) -> dict:
        """The child's reply; TimeoutError past ``timeout`` s, EOFError when it died."""
        body = _dump(request)
        deadline = time.monotonic() + timeout
        self.proc.stdin.write(_HEADER.pack(len(body)))
        self.proc.stdin.write(body)
        self.proc.stdin.flush()
        header = self._read(_HEADER.size, deadline)
        (size,) = _HEADER.unpack(header)
        return json.loads(self._read(size, deadline).decode("utf-8", "surrogatepass"))

    def _read(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        chunks, got = [], 0
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while got < n:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise TimeoutError
                chunk = os.read(fd, min(n - got, 1 << 20))
                if not chunk:
                    raise EOFError
                chunks.append(chunk)
                got += len(chunk)
        return b"".join(chunks)


def _dump(message: dict) -> bytes:
    # ensure_ascii=False: much faster for article text; surrogatepass keeps a lone
    # surrogate (from a UTF-16 file) intact both ways.
    return json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")


_lock = threading.Lock()
_worker: _Worker | None = None


def run(request: dict, limits: ParseLimits, *, what: str) -> dict:
    """Run one parse step (``corpus.run_step(request)``) in the worker under ``limits``.

    ``what`` names the file in log lines. Raises ParseLimitError when the step took longer
    than the time bound, used more than the memory bound, or killed its worker; the
    worker is replaced then, so the next call starts clean.
    """
    global _worker
    with _lock:
        if _worker is not None and (not _worker.alive() or _worker.memory_mb != limits.memory_mb):
            _worker.kill()
            _worker = None
        if _worker is None:
            _worker = _Worker(limits.memory_mb)
        worker = _worker
        if not worker.ready:  # start-up (about a second; more on a busy machine) is not the file's
            try:
                worker.wait_ready(_STARTUP_SECONDS)
            except (TimeoutError, EOFError, OSError) as exc:
                worker.kill()
                _worker = None
                log.error("the parse worker did not start (%s)", type(exc).__name__)
                raise ParseLimitError("cannot parse it: the parse worker did not start (see the "
                                      "log)") from None
        try:
            reply = worker.call(request, limits.timeout)
        except TimeoutError:
            log.warning("%s: parse took longer than %g s; worker %d killed", what,
                        limits.timeout, worker.proc.pid)
            worker.kill()
            _worker = None
            raise ParseLimitError(f"took longer than {limits.timeout:g} s to parse (the limit "
                                  "is ASSISTANT_PARSE_TIMEOUT); not indexed") from None
        except (EOFError, BrokenPipeError, OSError) as exc:
            try:
                code = worker.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:  # closed its pipe but lives on: killed below
                code = None
            worker.kill()
            _worker = None
            log.warning("%s: the parse worker died (exit code %s, %s)", what, code, type(exc).__name__)
            raise ParseLimitError(
                f"the parser died while reading it (exit code {code}); it probably used more "
                f"than {limits.memory_mb:,} MB (the limit is ASSISTANT_PARSE_MEMORY_MB); not "
                "indexed") from None
        if reply.get("memory"):
            log.warning("%s: parse used more than %d MB; worker %d replaced", what,
                        limits.memory_mb, worker.proc.pid)
            worker.kill()  # after a MemoryError the child's heap may be fragmented: start anew
            _worker = None
            raise ParseLimitError(f"used more than {limits.memory_mb:,} MB to parse (the limit "
                                  "is ASSISTANT_PARSE_MEMORY_MB); not indexed")
        if "crash" in reply:
            log.warning("%s: unexpected error in the parse worker:\n%s", what, reply["trace"])
            raise ParseLimitError(f"cannot read it ({reply['crash']})"[:300])
        return reply


_STARTUP_SECONDS = 120.0  # a fresh worker imports Python, the package and trafilatura


def shutdown() -> None:
    """Stop the worker (at exit; tests may call it)."""
    global _worker
    with _lock:
        if _worker is not None:
            _worker.kill()
            _worker = None


atexit.register(shutdown)


# -- the child ----------------------------------------------------------------------------
def _child_main() -> None:  # pragma: no cover - runs in the child process
    memory_mb, parent = int(sys.argv[2]), int(sys.argv[3])
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print() in a library must not corrupt the replies
    inp = sys.stdin.buffer
    from . import corpus

    # trafilatura's first call loads more modules and data (a second or more): do it now,
    # before the bounds, so the first file is not charged for it.
    corpus.run_step({"step": "markup", "rel": "warm-up.html", "suffix": ".html",
                     "text": "<html><body><article><p>Warm up the parser.</p></article></body></html>"})
    _limit_memory(memory_mb)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    out.write(_HEADER.pack(2) + b"{}")  # ready
    out.flush()
    while True:
        header = inp.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return  # the app closed the pipe: it exited
        (size,) = _HEADER.unpack(header)
        try:
            request = json.loads(inp.read(size).decode("utf-8", "surrogatepass"))
            reply = corpus.run_step(request)
        except MemoryError:
            reply = {"memory": True}
        except Exception as exc:  # RecursionError, a parser bug: reported for this file only
            import traceback

            reply = {"crash": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        try:
            body = _dump(reply)
        except MemoryError:
            body = b'{"memory": true}'
        out.write(_HEADER.pack(len(body)))
        out.write(body)
        out.flush()


def _limit_memory(memory_mb: int) -> None:  # pragma: no cover - runs in the child process
    try:
        import resource
    except ImportError:
        return  # no RLIMIT_AS on this platform: the time bound still applies
    base = 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    base = int(line.split()[1]) * 1024
    except OSError:
        base = 0
    limit = base + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _watch_parent(parent: int) -> None:  # pragma: no cover - runs in the child process
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)  # the app died while this parse ran: stop now
