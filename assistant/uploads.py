"""Save an uploaded article into the corpus folder, safely.

An upload is refused (``UploadError``, naming the file and the reason) when its name is not
a plain file name (a path such as ``../../x.txt``, an absolute path, a NUL byte, a hidden
name), when its type is not one the corpus reads, when it is empty or over the size limit,
or when it cannot be parsed as an article. Accepted names are sanitised (characters other
than letters, digits, ``.``, ``-`` and ``_`` become ``_``; the extension is lower-cased).

The file is written to a hidden temporary file inside the target folder, parsed there, and
only then renamed into place (atomic), so a refused or interrupted upload leaves neither a
half-written article nor any change to the index. Indexing is a separate step.

An upload never silently replaces a different file: the same name with other content is
saved under a free name (``ferry-2.txt``) unless ``replace=True``; the same content again
is kept once. The folder has a quota (``max_files`` files, ``max_total_bytes`` bytes).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .corpus import DEFAULT_LIMITS, EXTENSIONS, LoadReport, parse_file
from .errors import ArticleError, UploadError
from .parseworker import ParseLimits

MAX_NAME_CHARS = 150
MAX_NAME_BYTES = 200  # UTF-8 bytes; file systems allow 255, and a "-NN" suffix may be added
UPLOAD_SUBDIR = "uploads"  # where the web app puts uploads, inside the corpus folder

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_RE = re.compile(r"[^\w.\-]+")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


@dataclass
class SavedUpload:
    name: str  # the sanitised file name
    path: Path  # where it was saved
    replaced: bool  # a file of that name was there before (only with replace=True)
    size: int
    articles: int  # articles the file holds
    renamed: bool = False  # saved under another name: a different file has the name asked for
    unchanged: bool = False  # the same content was already there under this name


def _shown(name: object) -> str:
    """The name as it appears in messages (control characters visible, length capped)."""
    text = repr(name) if isinstance(name, str) else repr(str(name))
    return text if len(text) <= 90 else text[:87] + "…'"


def check_name(filename: object) -> str:
    """The sanitised file name to save under; UploadError when the name is refused."""
    if not isinstance(filename, str):
        raise UploadError(f"upload refused: the file name must be text, got {type(filename).__name__}")
    shown = _shown(filename)
    if "\x00" in filename:
        raise UploadError(f"upload refused: {shown}: the file name contains a NUL byte")
    name = unicodedata.normalize("NFC", filename).strip()
    if not name:
        raise UploadError("upload refused: the file name is empty")
    if _CONTROL_RE.search(name):
        raise UploadError(f"upload refused: {shown}: the file name contains control characters")
    if name.startswith(("/", "\\")) or _DRIVE_RE.match(name):
        raise UploadError(f"upload refused: {shown}: absolute paths are not allowed; "
                          "give a plain file name")
    if "/" in name or "\\" in name:
        raise UploadError(f"upload refused: {shown}: the name is a path; folders are not "
                          "allowed, give a plain file name")
    if set(name) == {"."}:
        raise UploadError(f"upload refused: {shown}: not a file name")
    if name.startswith("."):
        raise UploadError(f"upload refused: {shown}: hidden file names (starting with '.') "
                          "are not indexed")
    if len(name) > MAX_NAME_CHARS:
        raise UploadError(f"upload refused: {shown}: the file name is {len(name)} characters "
                          f"long; the limit is {MAX_NAME_CHARS}")
    stem, dot, ext = name.rpartition(".")
    suffix = f".{ext.lower()}" if dot else ""
    if not dot or not stem or suffix not in EXTENSIONS:
        raise UploadError(f"upload refused: {shown}: unsupported file type "
                          f"{suffix or '(none)'!r}; allowed: {', '.join(EXTENSIONS)}")
    stem = _UNSAFE_RE.sub("_", stem).strip("._-") or "upload"
    if len((stem + suffix).encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise UploadError(f"upload refused: {shown}: the file name is "
                          f"{len((stem + suffix).encode('utf-8', 'surrogatepass')):,} bytes long "
                          f"in UTF-8; the limit is {MAX_NAME_BYTES}")
    return stem + suffix


def _usage(folder: Path) -> tuple[int, int]:
    """(files, bytes) of the visible regular files in folder."""
    files = total = 0
    if folder.is_dir():
        for entry in os.scandir(folder):
            if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                files += 1
                total += entry.stat(follow_symlinks=False).st_size
    return files, total


def _same_content(path: Path, tmp: Path) -> bool:
    if path.stat().st_size != tmp.stat().st_size:
        return False
    with open(path, "rb") as a, open(tmp, "rb") as b:
        while True:
            x, y = a.read(1 << 20), b.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def save_upload(corpus_dir: str | Path, filename: str, data_or_path: bytes | str | Path,
                max_bytes: int, *, max_files: int | None = None,
                max_total_bytes: int | None = None, replace: bool = False,
                limits: ParseLimits | None = DEFAULT_LIMITS) -> SavedUpload:
    """Check an uploaded file and save it as corpus_dir/<sanitised name>.

    ``data_or_path`` is the file's bytes, or the path of a temporary file holding them (as
    a web framework hands uploads over). Raises UploadError naming the file when refused;
    nothing is written then. ``limits`` bounds the parse check (see corpus.load_articles).
    """
    name = check_name(filename)
    shown = _shown(filename)
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        data: bytes | None = bytes(data_or_path)
        source = None
        size = len(data)
    else:
        data = None
        source = Path(data_or_path)
        if not source.is_file():
            raise UploadError(f"upload refused: {shown}: the uploaded file is missing")
        size = source.stat().st_size
    if size == 0:
        raise UploadError(f"upload refused: {shown}: the file is empty")
    if size > max_bytes:
        raise UploadError(f"upload refused: {shown}: the file is {size:,} bytes, over the "
                          f"{max_bytes:,}-byte upload limit")

    folder = Path(corpus_dir)
    files, total = _usage(folder)
    if max_files is not None and files >= max_files:
        raise UploadError(f"upload refused: {shown}: the uploads folder holds {files:,} files, "
                          f"its limit (ASSISTANT_MAX_UPLOADS={max_files:,})")
    if max_total_bytes is not None and total + size > max_total_bytes:
        raise UploadError(f"upload refused: {shown}: the uploads folder would hold "
                          f"{total + size:,} bytes, over its {max_total_bytes:,}-byte quota "
                          "(ASSISTANT_MAX_UPLOAD_TOTAL_BYTES)")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.resolve().parent != folder.resolve():  # belt and braces: never outside
        raise UploadError(f"upload refused: {shown}: the name leads outside the corpus folder")
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise UploadError(f"upload refused: {shown}: {name} exists in the corpus and is not "
                          "a regular file")

    fd, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=Path(name).suffix, dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            if data is not None:
                out.write(data)
            else:
                with open(source, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        report = LoadReport()
        try:
            articles = parse_file(tmp, name, report, limits=limits)
        except ArticleError as exc:
            raise UploadError(f"upload refused: {shown}: {exc.reason}") from None
        if not articles:
            reasons = "; ".join(p.reason for p in report.skipped[:3])
            raise UploadError(f"upload refused: {shown}: no readable article"
                              + (f" ({reasons})" if reasons else ""))
        replaced = renamed = False
        if target.exists() and not replace:
            if _same_content(target, tmp):
                return SavedUpload(name, target, False, size, len(articles), unchanged=True)
            stem, suffix = target.stem, target.suffix
            n = 2
            while (folder / f"{stem}-{n}{suffix}").exists():
                n += 1
            target, renamed = folder / f"{stem}-{n}{suffix}", True
        else:
            replaced = target.exists()
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return SavedUpload(target.name, target, replaced, size, len(articles), renamed=renamed)
