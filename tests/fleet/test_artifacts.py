"""Artifacts: reproducible builds, strict manifests, safe unpacking, a content-addressed store that checks digests."""

from __future__ import annotations

import io
import json
import pathlib
import tarfile

import pytest

from reconcile.fleet import (
    ArtifactError,
    ArtifactStore,
    DigestMismatchError,
    NotFoundError,
    build_artifact,
    read_manifest,
)
from reconcile.fleet.artifacts import sha256_file, unpack
from tests.support.fleet import COMPONENTS


def tar_gz(path: pathlib.Path, members: dict[str, bytes], link: str | None = None) -> pathlib.Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        if link is not None:
            info = tarfile.TarInfo("evil-link")
            info.type, info.linkname = tarfile.SYMTYPE, link
            tar.addfile(info)
    return path


MANIFEST = json.dumps({"name": "tiny", "version": "1", "command": ["{python}", "x.py"]}).encode()


def test_the_same_sources_give_the_same_digest(tmp_path: pathlib.Path) -> None:
    a = build_artifact(COMPONENTS / "proxy", tmp_path / "a.tar.gz", version="3.1.4")
    build_artifact(COMPONENTS / "proxy", tmp_path / "b.tar.gz", version="3.1.4")
    assert sha256_file(tmp_path / "a.tar.gz") == sha256_file(tmp_path / "b.tar.gz")
    assert (
        (a.name, a.version)
        == ("proxy", "3.1.4")
        == (lambda m: (m.name, m.version))(read_manifest(tmp_path / "a.tar.gz"))
    )


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"x.py": b""}, "holds no component.json"),
        ({"component.json": b"not json"}, "not a readable tar.gz"),
        (
            {"component.json": json.dumps({"name": "Tiny!", "version": "1", "command": ["x"]}).encode()},
            "component.json.name",
        ),
        (
            {"component.json": json.dumps({"name": "tiny", "version": "1", "command": []}).encode()},
            "component.json.command",
        ),
    ],
)
def test_a_bad_manifest_is_refused(tmp_path: pathlib.Path, members: dict[str, bytes], message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        read_manifest(tar_gz(tmp_path / "bad.tar.gz", members))


@pytest.mark.parametrize(
    ("members", "link"),
    [({"component.json": MANIFEST, "../escape.py": b""}, None), ({"component.json": MANIFEST}, "/etc/passwd")],
)
def test_unsafe_members_are_refused_and_nothing_is_unpacked(
    tmp_path: pathlib.Path, members: dict[str, bytes], link: str | None
) -> None:
    artifact = tar_gz(tmp_path / "evil.tar.gz", members, link)
    with pytest.raises(ArtifactError, match="unsafe member"):
        unpack(artifact, tmp_path / "out" / "tiny")
    assert not (tmp_path / "out" / "tiny").exists() and not (tmp_path / "escape.py").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_the_store_keeps_only_bytes_that_hash_to_their_name(tmp_path: pathlib.Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    source = tar_gz(tmp_path / "ok.tar.gz", {"component.json": MANIFEST})
    digest = store.put_file(source)
    assert digest == sha256_file(source) and store.verify(digest) == store.path(digest)
    with pytest.raises(DigestMismatchError), store.writer(expected="0" * 64) as out:
        out.write(b"something else")
    assert not store.has("0" * 64) and [p.name for p in store.root.iterdir()] == [digest]
    store.path(digest).write_bytes(b"tampered")
    with pytest.raises(DigestMismatchError):
        store.verify(digest)
    assert not store.has(digest)
    with pytest.raises(NotFoundError):
        store.open(digest)
