"""Where MovieLens files come from: a local path, the dataset cache, GroupLens, or the RecBole wheel.

``movielens_locate("ml-100k", cache_dir=...)`` returns a local zip or folder for ``ml.datasets``:

1. an existing path is used as it is;
2. a release name (``ml-100k``, ``ml-25m``, ...) is looked up in the cache;
3. otherwise it is downloaded from GroupLens and verified (md5: the checksums GroupLens publishes
   beside each zip, pinned here for the frozen releases and fetched from ``<zip>.md5`` for the ones
   that change, like ml-latest); only a verified file is ever moved into the cache;
4. ml-100k only: when GroupLens cannot be reached, the copy RecBole ships in its PyPI wheel
   (``recbole==1.2.1``, hash-pinned, so pip verifies it) is used instead. That is how the demo gets real
   data on machines that can reach PyPI but not GroupLens.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import requests

from .writer import progress_bar

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/{name}.zip"
RELEASES: tuple[str, ...] = (
    "ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest", "ml-latest-small",
)  # fmt: skip
# md5 of the frozen releases, as published in GroupLens' <name>.zip.md5 files. ml-latest and
# ml-latest-small are re-issued from time to time, and ml-32m is not pinned yet: their .md5 is fetched.
KNOWN_MD5: dict[str, str] = {
    "ml-100k": "0e33842e24a9c977be4e0107933c0723",
    "ml-1m": "c4d9eecfca2ab87c1945afe126590906",
    "ml-10m": "ce571fd55effeba0271552578f2648bd",
    "ml-20m": "cd245b17a1ae2cc31bb14903e1204af3",
    "ml-25m": "6b51fb2759a8657d3bfcbfc42b592ada",
}
# Short connect timeout: an unreachable GroupLens should fall back to the wheel within seconds.
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 60.0

RECBOLE_REQUIREMENT = "recbole==1.2.1"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
RECBOLE_ML100K = "recbole/dataset_example/ml-100k/"
RECBOLE_ML100K_FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")
PIP_TIMEOUT = 300


class DatasetUnavailable(Exception):
    """The named dataset is neither local, cached, nor obtainable (or its download failed verification)."""


class GroupLensUnreachable(DatasetUnavailable):
    """No connection to GroupLens at all (DNS, refused, timeout): the wheel fallback may apply."""


Log = Callable[[str], None]


def _quiet(message: str) -> None:
    return None


def movielens_locate(
    *, name_or_path: str, cache_dir: Path, progress: bool = False, log: Log = _quiet
) -> Path:
    """A local zip or folder holding ``name_or_path``: the path itself, or a cached or downloaded release."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    if name_or_path not in RELEASES:
        raise DatasetUnavailable(
            f"{name_or_path}: no such file or folder, and not a MovieLens release name ({', '.join(RELEASES)})"
        )
    name = name_or_path
    cached = cache_dir / "grouplens" / f"{name}.zip"
    if cached.is_file():
        return cached
    recbole = cache_dir / "recbole-1.2.1" / "ml-100k"
    if name == "ml-100k" and all((recbole / f).is_file() for f in RECBOLE_ML100K_FILES):
        return recbole
    try:
        return grouplens_download(name=name, cache_dir=cache_dir, progress=progress, log=log)
    except GroupLensUnreachable:
        if name != "ml-100k":
            raise
        log(
            f"{GROUPLENS_URL.format(name=name)}: unreachable; using the ml-100k in the {RECBOLE_REQUIREMENT} wheel"
        )
        return recbole_ml100k_fetch(cache_dir=cache_dir, log=log)


def grouplens_download(*, name: str, cache_dir: Path, progress: bool = False, log: Log = _quiet) -> Path:
    """Download ``<name>.zip`` from GroupLens into the cache, verifying its md5 before it lands there."""
    url = GROUPLENS_URL.format(name=name)
    expected = KNOWN_MD5.get(name) or _published_md5(url)
    target_dir = cache_dir / "grouplens"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{name}.zip"
    log(f"downloading {url}")
    response = _get(url, stream=True)
    md5 = hashlib.md5(usedforsecurity=False)
    fd, partial = tempfile.mkstemp(dir=target_dir, prefix=f".{name}-", suffix=".part")
    try:
        total = int(response.headers.get("Content-Length") or 0) or None
        with (
            os.fdopen(fd, "wb") as out,
            progress_bar(total=total, desc=name, unit="B", enabled=progress) as bar,
        ):
            for chunk in response.iter_content(chunk_size=1 << 20):
                out.write(chunk)
                md5.update(chunk)
                bar.update(len(chunk))
        if md5.hexdigest() != expected:
            raise DatasetUnavailable(
                f"{url}: md5 {md5.hexdigest()} does not match the published {expected}; nothing was cached"
            )
        os.replace(partial, target)
    except requests.RequestException as exc:
        raise DatasetUnavailable(f"{url}: the download failed ({exc}); nothing was cached") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
        response.close()
    return target


def _get(url: str, *, stream: bool = False) -> requests.Response:
    try:
        response = requests.get(url, stream=stream, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise GroupLensUnreachable(
            f"{url}: GroupLens is unreachable ({type(exc).__name__}); download it elsewhere and pass its path"
        ) from None
    if response.status_code != 200:
        response.close()
        raise DatasetUnavailable(f"{url}: HTTP {response.status_code}")
    return response


def _published_md5(url: str) -> str:
    """The md5 GroupLens publishes beside a zip (``<zip>.md5``), whatever text surrounds the digest."""
    response = _get(f"{url}.md5")
    try:
        match = re.search(r"\b[0-9a-fA-F]{32}\b", response.text)
    finally:
        response.close()
    if not match:
        raise DatasetUnavailable(f"{url}.md5 holds no md5 digest")
    return match[0].lower()


def recbole_ml100k_fetch(*, cache_dir: Path, log: Log = _quiet) -> Path:
    """ml-100k's RecBole atomic files, from the ``recbole`` wheel on PyPI, unpacked into the cache.

    pip (the interpreter's own, so the project's index settings apply) downloads the one wheel with
    ``--require-hashes``: a wheel whose sha256 differs is refused by pip and nothing is cached.
    """
    target = cache_dir / "recbole-1.2.1" / "ml-100k"
    if all((target / f).is_file() for f in RECBOLE_ML100K_FILES):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".recbole-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(f"{RECBOLE_REQUIREMENT} --hash=sha256:{RECBOLE_WHEEL_SHA256}\n")
        wheels = Path(tmp) / "wheels"
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
            "--quiet", "--dest", str(wheels), "-r", str(requirements),
        ]  # fmt: skip
        log(f"fetching {RECBOLE_REQUIREMENT} with pip")
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise DatasetUnavailable(
                f"pip download {RECBOLE_REQUIREMENT} timed out after {PIP_TIMEOUT} s"
            ) from None
        found = sorted(wheels.glob("recbole-*.whl")) if wheels.is_dir() else []
        if done.returncode != 0 or not found:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel was downloaded"]
            raise DatasetUnavailable(f"pip download {RECBOLE_REQUIREMENT} failed: {detail[0]}")
        unpacked = Path(tmp) / "ml-100k"
        unpacked.mkdir()
        try:
            with zipfile.ZipFile(found[0]) as wheel:
                for name in RECBOLE_ML100K_FILES:
                    with wheel.open(RECBOLE_ML100K + name) as src, open(unpacked / name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise DatasetUnavailable(f"{found[0].name} does not hold ml-100k ({exc})") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # an earlier, interrupted unpack
            shutil.rmtree(target)
        os.replace(unpacked, target)
    return target
