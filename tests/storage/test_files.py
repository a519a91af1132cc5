"""The one atomic file writer: whole or not at all, its mode from the first byte, no temporary file left behind."""

from __future__ import annotations

import os
import pathlib
import stat

import pytest

from reconcile.storage.files import write_atomically


def _leftovers(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_new_file_gets_the_text_and_the_owner_only_mode_whatever_the_umask(tmp_path: pathlib.Path) -> None:
    old = os.umask(0)
    try:
        write_atomically(tmp_path / "f.json", '{"a": "é"}')
    finally:
        os.umask(old)
    assert (tmp_path / "f.json").read_text(encoding="utf-8") == '{"a": "é"}'
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == 0o600
    assert _leftovers(tmp_path) == []


def test_an_existing_file_is_replaced_whole_and_takes_the_given_mode(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_text("old")
    path.chmod(0o600)
    write_atomically(str(path), "new", 0o644)
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, "half \udc80 written")  # a lone surrogate fails mid-write
    assert path.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_a_missing_folder_is_an_os_error_naming_it(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError) as e:
        write_atomically(tmp_path / "missing" / "f", "x")
    assert "missing" in str(e.value)
