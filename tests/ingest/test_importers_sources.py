"""Where datasets come from: cache, GroupLens download with checksum, RecBole wheel via pip.

The network is mocked at the edge only: ``requests.get`` (GroupLens) and ``subprocess.run`` (pip).
"""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

from ingest.sources import (
    KNOWN_MD5,
    RECBOLE_WHEEL_SHA256,
    DatasetUnavailable,
    movielens_locate,
)
from ratings.models import Rating
from tests.ml.test_datasets import as_zip, write_latest, write_ml100k, write_recbole

URL = "https://files.grouplens.org/datasets/movielens/{}.zip"


class FakeResponse:
    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.body, self.status_code = body, status_code
        self.headers = {"Content-Length": str(len(body))}
        self.text = body.decode("latin-1")

    def iter_content(self, chunk_size: int = 1) -> list[bytes]:
        return [self.body[i : i + chunk_size] for i in range(0, len(self.body), chunk_size)]

    def close(self) -> None:
        pass


class FakeGroupLens:
    """Stands in for ``requests.get``: serves ``files`` by URL and records what was asked."""

    def __init__(self, files: dict[str, bytes] | None = None, *, reachable: bool = True) -> None:
        self.files, self.reachable, self.calls = files or {}, reachable, []

    def __call__(self, url: str, **kwargs: object) -> FakeResponse:
        self.calls.append(url)
        if not self.reachable:
            raise requests.ConnectionError("Name or service not known")
        if url not in self.files:
            return FakeResponse(b"not found", status_code=404)
        return FakeResponse(self.files[url])


def cache_files(cache: Path) -> list[str]:
    return (
        sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())
        if cache.exists()
        else []
    )


def test_an_existing_path_is_used_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests, "get", FakeGroupLens(reachable=False))
    folder = write_ml100k(tmp_path)

    assert movielens_locate(name_or_path=str(folder), cache_dir=tmp_path / "cache") == folder


def test_download_is_verified_against_the_published_md5_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = as_zip(write_latest(tmp_path / "src")).read_bytes()
    md5 = hashlib.md5(archive).hexdigest()
    fake = FakeGroupLens(
        {
            URL.format("ml-latest-small"): archive,
            URL.format("ml-latest-small") + ".md5": f"MD5 (ml-latest-small.zip) = {md5}\n".encode(),
        }
    )
    monkeypatch.setattr(requests, "get", fake)
    cache = tmp_path / "cache"

    path = movielens_locate(name_or_path="ml-latest-small", cache_dir=cache)

    assert path == cache / "grouplens" / "ml-latest-small.zip"
    assert path.read_bytes() == archive
    assert fake.calls == [URL.format("ml-latest-small") + ".md5", URL.format("ml-latest-small")]

    monkeypatch.setattr(requests, "get", FakeGroupLens(reachable=False))  # the cache needs no network
    assert movielens_locate(name_or_path="ml-latest-small", cache_dir=cache) == path


def test_a_download_with_the_wrong_checksum_is_rejected_and_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = as_zip(write_latest(tmp_path / "src")).read_bytes()
    fake = FakeGroupLens(
        {URL.format("ml-latest-small"): archive, URL.format("ml-latest-small") + ".md5": b"0" * 32 + b"\n"}
    )
    monkeypatch.setattr(requests, "get", fake)
    cache = tmp_path / "cache"

    with pytest.raises(DatasetUnavailable) as caught:
        movielens_locate(name_or_path="ml-latest-small", cache_dir=cache)

    assert str(caught.value) == (
        f"{URL.format('ml-latest-small')}: md5 {hashlib.md5(archive).hexdigest()} does not match the published"
        f" {'0' * 32}; nothing was cached"
    )
    assert cache_files(cache) == []


def test_a_pinned_release_is_checked_against_its_pinned_md5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ml-100k's md5 is pinned: a different file is refused without consulting the .md5 file."""
    archive = as_zip(write_ml100k(tmp_path / "src")).read_bytes()
    fake = FakeGroupLens({URL.format("ml-100k"): archive})
    monkeypatch.setattr(requests, "get", fake)
    cache = tmp_path / "cache"

    with pytest.raises(DatasetUnavailable, match=f"does not match the published {KNOWN_MD5['ml-100k']}"):
        movielens_locate(name_or_path="ml-100k", cache_dir=cache)

    assert fake.calls == [URL.format("ml-100k")]
    assert cache_files(cache) == []


def test_an_unreachable_grouplens_is_an_error_for_other_releases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(requests, "get", FakeGroupLens(reachable=False))

    with pytest.raises(DatasetUnavailable) as caught:
        movielens_locate(name_or_path="ml-1m", cache_dir=tmp_path)

    assert str(caught.value) == (
        f"{URL.format('ml-1m')}: GroupLens is unreachable (ConnectionError); download it elsewhere and pass its path"
    )


class FakePip:
    """Stands in for ``subprocess.run`` of ``pip download``: drops a RecBole-shaped wheel into --dest."""

    def __init__(self, tmp_path: Path, *, fails: bool = False) -> None:
        self.commands: list[list[str]] = []
        self.requirements: list[str] = []
        self.fails = fails
        self.source = write_recbole(tmp_path / "wheel-src", name="ml-100k")

    def __call__(self, command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        self.commands.append(command)
        self.requirements.append(Path(command[command.index("-r") + 1]).read_text())
        if self.fails:
            return subprocess.CompletedProcess(
                command, 1, "", "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES\n"
            )
        dest = Path(command[command.index("--dest") + 1])
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(dest / "recbole-1.2.1-py3-none-any.whl", "w") as wheel:
            wheel.writestr("recbole/__init__.py", "")
            for name in ("ml-100k.inter", "ml-100k.item"):
                wheel.write(self.source / name, f"recbole/dataset_example/ml-100k/{name}")
            wheel.writestr("recbole/dataset_example/ml-100k/ml-100k.user", "user_id:token\n")
        return subprocess.CompletedProcess(command, 0, "", "")


@pytest.mark.django_db
def test_ml100k_falls_back_to_the_recbole_wheel_when_grouplens_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(requests, "get", FakeGroupLens(reachable=False))
    pip = FakePip(tmp_path)
    monkeypatch.setattr(subprocess, "run", pip)
    cache = tmp_path / "cache"

    out = StringIO()
    call_command("load_movielens", "ml-100k", "--cache-dir", str(cache), stdout=out, stderr=StringIO())

    assert out.getvalue().startswith(
        "MovieLens (recbole): movies 5 created, 0 updated; users 3 created; ratings 5"
    )
    assert Rating.objects.count() == 5
    assert pip.commands[0][1:5] == ["-m", "pip", "download", "--no-deps"]
    assert "--require-hashes" in pip.commands[0]
    assert pip.requirements == [f"recbole==1.2.1 --hash=sha256:{RECBOLE_WHEEL_SHA256}\n"]
    assert cache_files(cache) == [
        "recbole-1.2.1/ml-100k/ml-100k.inter",
        "recbole-1.2.1/ml-100k/ml-100k.item",
        "recbole-1.2.1/ml-100k/ml-100k.user",
    ]

    # Cached: neither GroupLens nor pip is asked again.
    assert movielens_locate(name_or_path="ml-100k", cache_dir=cache) == cache / "recbole-1.2.1" / "ml-100k"
    assert len(pip.commands) == 1


@pytest.mark.django_db
def test_a_failed_pip_download_is_reported_and_nothing_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(requests, "get", FakeGroupLens(reachable=False))
    monkeypatch.setattr(subprocess, "run", FakePip(tmp_path, fails=True))
    cache = tmp_path / "cache"

    with pytest.raises(CommandError) as caught:
        call_command(
            "load_movielens", "ml-100k", "--cache-dir", str(cache), stdout=StringIO(), stderr=StringIO()
        )

    assert (
        str(caught.value)
        == "pip download recbole==1.2.1 failed: ERROR: THESE PACKAGES DO NOT MATCH THE HASHES"
    )
    assert cache_files(cache) == []
    assert Rating.objects.count() == 0


@pytest.mark.django_db
def test_if_empty_skips_a_database_that_has_ratings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    call_command("load_movielens", str(write_ml100k(tmp_path)), stdout=StringIO(), stderr=StringIO())
    monkeypatch.setattr(requests, "get", FakeGroupLens(reachable=False))
    monkeypatch.setattr(subprocess, "run", FakePip(tmp_path, fails=True))
    out = StringIO()

    call_command("load_movielens", "ml-100k", "--if-empty", "--cache-dir", str(tmp_path / "c"), stdout=out)

    assert out.getvalue().strip() == "The database already holds ratings: nothing imported (--if-empty)."
    assert Rating.objects.count() == 5
