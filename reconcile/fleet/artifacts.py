"""Component artifacts: tar.gz files holding ``component.json`` and files, built, checked, stored and unpacked.

An artifact is named by the sha256 of its bytes. The control plane keeps them
in a content-addressed directory (``ArtifactStore``); a cell's agent keeps the
ones it downloaded in one too, and unpacks them only after checking the digest.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import pathlib
import tarfile
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import attrs

from .errors import ArtifactError, DigestMismatchError, InvalidInputError, NotFoundError
from .model import check_digest, check_name, check_version

MANIFEST = "component.json"
_MAX_MANIFEST = 64 * 1024


@attrs.frozen
class Manifest:
    """What ``component.json`` in an artifact says.

    Attributes:
        name: the component's name.
        version: its version.
        command: the argv to start it; ``{python}``, ``{port}`` and ``{dir}`` are substituted.
        health: the HTTP path answering 200 once the component is ready.
    """

    name: str
    version: str
    command: tuple[str, ...]
    health: str = "/healthz"

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """Parse an untrusted ``component.json``; raise ``ArtifactError`` naming the bad field."""
        if not isinstance(data, dict):
            raise ArtifactError(f"{MANIFEST}: expected an object")
        try:
            name = check_name(data.get("name"), f"{MANIFEST}.name")
            version = check_version(data.get("version"), f"{MANIFEST}.version")
        except InvalidInputError as exc:
            raise ArtifactError(str(exc)) from None
        command = data.get("command")
        if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
            raise ArtifactError(f"{MANIFEST}.command: expected a non-empty list of strings")
        health = data.get("health", "/healthz")
        if not isinstance(health, str) or not health.startswith("/"):
            raise ArtifactError(f"{MANIFEST}.health: expected a path starting with '/'")
        return cls(name, version, tuple(command), health)


def sha256_file(path: pathlib.Path) -> str:
    """The sha256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def build_artifact(source: pathlib.Path, dest: pathlib.Path, *, version: str | None = None) -> Manifest:
    """Pack the directory ``source`` (which holds ``component.json``) into the tar.gz ``dest``.

    The archive is reproducible (sorted names, fixed times and owners), so the
    same sources give the same digest.

    Args:
        source: the component's directory.
        dest: the tar.gz to write.
        version: if given, written into the packed ``component.json`` instead of its own.

    Returns:
        the packed manifest.
    """
    manifest_path = source / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(f"{source}: no {MANIFEST}")
    data = json.loads(manifest_path.read_text())
    if version is not None:
        data["version"] = version
    manifest = Manifest.from_json(data)
    # No name and mtime=0 in the gzip header too, so equal sources give equal bytes wherever they are written.
    with (
        open(dest, "wb") as out,
        gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        blob = json.dumps(data, indent=2, sort_keys=True).encode()
        _add(tar, MANIFEST, blob, 0o644)
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source).as_posix()
            if rel == MANIFEST or "__pycache__" in rel or not path.is_file():
                continue
            _add(tar, rel, path.read_bytes(), 0o755 if os.access(path, os.X_OK) else 0o644)
    return manifest


def _add(tar: tarfile.TarFile, name: str, blob: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uid, info.gid = len(blob), mode, 0, 0, 0
    tar.addfile(info, io.BytesIO(blob))


def read_manifest(path: pathlib.Path) -> Manifest:
    """The manifest inside the artifact at ``path``.

    Raises:
        ArtifactError: not a tar.gz, or no valid ``component.json`` in it.
    """
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.getmember(MANIFEST)
            if not member.isfile() or member.size > _MAX_MANIFEST:
                raise ArtifactError(f"{MANIFEST} in the artifact is not a small file")
            f = tar.extractfile(member)
            assert f is not None
            data = json.loads(f.read())
    except ArtifactError:
        raise
    except KeyError:
        raise ArtifactError(f"the artifact holds no {MANIFEST}") from None
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise ArtifactError(f"the artifact is not a readable tar.gz with a JSON {MANIFEST}: {exc}") from None
    return Manifest.from_json(data)


def unpack(path: pathlib.Path, dest: pathlib.Path) -> Manifest:
    """Unpack the artifact at ``path`` into the new directory ``dest``, refusing unsafe members.

    Only regular files and directories below ``dest`` are allowed (no links,
    devices, absolute paths or ``..``); the unpack goes to a temporary sibling
    first and is renamed into place, so ``dest`` is complete or absent.
    """
    manifest = read_manifest(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                parts = pathlib.PurePosixPath(member.name).parts
                if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
                    raise ArtifactError(f"the artifact holds an unsafe member {member.name!r}")
            tar.extractall(tmp, filter="data")
        if dest.exists():
            _rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        _rmtree(tmp)
        raise
    return manifest


def _rmtree(path: pathlib.Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


class ArtifactStore:
    """A content-addressed directory of artifacts: ``<root>/<sha256>``, each written atomically.

    Args:
        root: the directory (created if missing).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> pathlib.Path:
        """Where the artifact ``digest`` is (or would be) stored."""
        return self.root / check_digest(digest, "artifact digest")

    def has(self, digest: str) -> bool:
        """Whether the artifact ``digest`` is stored."""
        return self.path(digest).is_file()

    def open(self, digest: str) -> IO[bytes]:
        """The stored artifact, opened for reading.

        Raises:
            NotFoundError: no artifact with that digest.
        """
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"no artifact {digest}") from None

    @contextlib.contextmanager
    def writer(self, expected: str | None = None) -> Iterator[IO[bytes]]:
        """A file to write an artifact into; on success it is checked and moved into place atomically.

        Args:
            expected: the digest the bytes must have; ``None`` to accept any.

        Raises:
            DigestMismatchError: the bytes do not hash to ``expected`` (nothing is stored).
        """
        fd, name = tempfile.mkstemp(prefix=".upload.", dir=self.root)
        tmp = pathlib.Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            digest = sha256_file(tmp)
            if expected is not None and digest != expected:
                raise DigestMismatchError(expected, digest)
            os.replace(tmp, self.root / digest)
            self.last_digest = digest
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, source: pathlib.Path) -> str:
        """Store a copy of ``source``; return its digest."""
        with self.writer() as out, source.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                out.write(chunk)
        return self.last_digest

    def verify(self, digest: str) -> pathlib.Path:
        """The path of the stored artifact ``digest`` after checking its bytes still hash to it.

        Raises:
            NotFoundError: no artifact with that digest.
            DigestMismatchError: the stored bytes changed; the file is removed.
        """
        path = self.path(digest)
        if not path.is_file():
            raise NotFoundError(f"no artifact {digest}")
        actual = sha256_file(path)
        if actual != digest:
            path.unlink(missing_ok=True)
            raise DigestMismatchError(digest, actual)
        return path
