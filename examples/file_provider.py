"""A provider that keeps each disk as a JSON file in a directory, checked with ``reconcile.testing``.

Run it to check it: ``python examples/file_provider.py`` (needs the ``testing`` extra).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import reconcile as rc


@rc.resource(kind="disk")
class Disk:
    name: str = rc.identity()
    size_gb: int = rc.spec()
    zone: str = rc.spec(replace_on_change=True)
    labels: dict[str, str] = rc.spec(factory=dict)
    disk_id: str | None = rc.computed()


class DiskFiles:
    """Disks stored one per file, ``<hash of the name>.json``, in ``directory``.

    Names may hold any character, so file names are hashes; the name is kept in
    the file. Writes go to a temporary file first and are renamed into place, so
    a crash never leaves half a file. Every method returns what it reads back
    from disk, so what ``create`` and ``update`` return is exactly what ``read``
    and ``list`` will.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.directory / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".json")

    def _load(self, path: Path) -> Disk:
        record = json.loads(path.read_text(encoding="utf-8"))
        return Disk(record["name"], record["size_gb"], record["zone"], record["labels"], disk_id=record["disk_id"])

    def _store(self, disk: Disk) -> Disk:
        record = {
            "name": disk.name,
            "size_gb": disk.size_gb,
            "zone": disk.zone,
            "labels": disk.labels,
            "disk_id": disk.disk_id,
        }
        path = self._path(disk.name)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, path)
        return self._load(path)

    def list(self) -> Iterator[Disk]:
        for path in sorted(self.directory.glob("*.json")):
            yield self._load(path)

    def read(self, address: rc.Address) -> Disk | None:
        path = self._path(address.key[0])
        return self._load(path) if path.exists() else None

    def create(self, desired: Disk, ctx: rc.Context) -> Disk:
        if self._path(desired.name).exists():
            raise FileExistsError(f"disk {desired.name!r} already exists")
        return self._store(Disk(desired.name, desired.size_gb, desired.zone, desired.labels, disk_id=uuid.uuid4().hex))

    def update(self, actual: Disk, desired: Disk, ctx: rc.Context) -> Disk:
        current = self.read(ctx.address)
        if current is None:
            raise FileNotFoundError(f"disk {desired.name!r} does not exist")
        # The id belongs to the disk, not to the desired spec: keep the stored one.
        return self._store(Disk(desired.name, desired.size_gb, desired.zone, desired.labels, disk_id=current.disk_id))

    def delete(self, actual: Disk, ctx: rc.Context) -> None:
        self._path(actual.name).unlink()


def main() -> None:
    from hypothesis import strategies as st

    from reconcile.testing import check_provider, resources

    with tempfile.TemporaryDirectory() as root:
        worlds = itertools.count()
        check_provider(
            lambda: DiskFiles(Path(root) / str(next(worlds))),
            resources(Disk, size_gb=st.integers(1, 16_384)),
        )
    print("DiskFiles passes every contract of check_provider")


if __name__ == "__main__":
    main()
