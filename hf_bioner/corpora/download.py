"""Where each corpus comes from on the public internet, and fetching it with checksums.

A data folder has one sub-folder per corpus with the original file names, exactly as the
files are published (see each corpus's source below)::

    ncbi_disease/NCBItrainset_corpus.txt     bc5cdr/CDR_TrainingSet.PubTator.txt
    jnlpba/standoff/{train,test}/*.txt|ann   cmeee/chip2020/train_data_all.txt
    cmeee/cblue_v1/CMeEE_dev.json            cmeee/cblue_v2/CMeEE-V2_dev.json
    genia/GENIAcorpus3.02.xml

Every file (for JNLPBA: every folder) has a SHA-256 checksum, so a changed upstream file is
noticed instead of silently giving different numbers. Single files are downloaded as they
are; JNLPBA and GENIA come from archives, which are unpacked and then checked file by file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hf_bioner.schema import BioNerInputError

logger = logging.getLogger(__name__)

_GH = "https://raw.githubusercontent.com"
_NCBI = f"{_GH}/spyysalo/ncbi-disease/5a266c6fc76fb2b5184cfa397ff0a5ecdb133aec/original-data"
_CDR = (
    f"{_GH}/cambridgeltl/bmip-2018/0b66ee9245653b622cb6c36ba13d018b21b5b80e/BC5-CDR/original-data"
)
_CHIP = f"{_GH}/zhangzhiyi0108/CHIP2020_Entity/a332a86cdb70e6b9afa44c50707c649cd1cd466d/data"
_CBLUE1 = f"{_GH}/Z-MU-Z/cmeee/3ba030cadc8055152fabe414c7e1bc94bd74ceb2/data/CBLUEDatasets/CMeEE"
_CBLUE2 = f"{_GH}/hs3434/CMeEE-V2/a49056b59608ac5be8d55521aa3ea00f613f1725"
_JNLPBA_ARCHIVE = (
    "https://github.com/spyysalo/jnlpba/archive/4455122de861c6e448e2e8c7f19ef8f49dbc32b2.tar.gz"
)
_GENIA_ARCHIVE = (
    "https://github.com/frankTian92/Overview_NER/raw/2cd9b65a9ed462ffa40116f5df4231ae708952e8/"
    "GENIAcorpus3.02.tgz"
)


@dataclass(frozen=True)
class RemoteFile:
    """One file (or folder, for archives) of a corpus: local path, URL, SHA-256."""

    path: str
    url: str
    sha256: str
    member: str | None = None  # path inside the archive at ``url``, for archived data


REMOTE_FILES: dict[str, tuple[RemoteFile, ...]] = {
    "ncbi_disease": (
        RemoteFile(
            "ncbi_disease/NCBItrainset_corpus.txt",
            f"{_NCBI}/train/NCBItrainset_corpus.txt",
            "f311381b28a6d0f641f57f4a963bb83619c2bdec5cd9caabb1381f894d5db817",
        ),
        RemoteFile(
            "ncbi_disease/NCBIdevelopset_corpus.txt",
            f"{_NCBI}/devel/NCBIdevelopset_corpus.txt",
            "02db559974624ae9cbe6cd95d64d953e6926bb63afb6b25b63e53bd8b41a4b55",
        ),
        RemoteFile(
            "ncbi_disease/NCBItestset_corpus.txt",
            f"{_NCBI}/test/NCBItestset_corpus.txt",
            "61c8050bf6979ef7b943ec1158dfc03b651ea3367d4c37356f9de4841e85c9a3",
        ),
    ),
    "bc5cdr": (
        RemoteFile(
            "bc5cdr/CDR_TrainingSet.PubTator.txt",
            f"{_CDR}/CDR_TrainingSet.PubTator.txt",
            "7afcec134e3d4871e74b0398d92850d3c9ac94c0bdc780003f2d60184c012bd8",
        ),
        RemoteFile(
            "bc5cdr/CDR_DevelopmentSet.PubTator.txt",
            f"{_CDR}/CDR_DevelopmentSet.PubTator.txt",
            "9e18d8e700168887a7919e62f67ac2ce2357e3f409a48ee992906abdd80fe3e5",
        ),
        RemoteFile(
            "bc5cdr/CDR_TestSet.PubTator.txt",
            f"{_CDR}/CDR_TestSet.PubTator.txt",
            "a3c48d5f35bdfce20c2371778abedc9fd24d1da092207072e5181ad53c8d0e2f",
        ),
    ),
    "jnlpba": (
        RemoteFile(
            "jnlpba/standoff/train",
            _JNLPBA_ARCHIVE,
            "841e08c2e77d63dd32ca9acda707cb32f83dcb15fdd405285db41bb2882cc939",
            member="standoff/train",
        ),
        RemoteFile(
            "jnlpba/standoff/test",
            _JNLPBA_ARCHIVE,
            "c80564c01f82c97ba819d51748ef007524a73838604b3617c0300951c9374464",
            member="standoff/test",
        ),
    ),
    "cmeee": (
        RemoteFile(
            "cmeee/chip2020/train_data_all.txt",
            f"{_CHIP}/train_data_all.txt",
            "cce5f602134f291a0cc6b98eeec631344f33db2caa74a303825c7e9ef6d16d2a",
        ),
        RemoteFile(
            "cmeee/cblue_v1/CMeEE_dev.json",
            f"{_CBLUE1}/CMeEE_dev.json",
            "bbe6be016bdb1a418362507024902b70587b951a884cf4a96a6d1246822cd07c",
        ),
        RemoteFile(
            "cmeee/cblue_v1/CMeEE_test.json",
            f"{_CBLUE1}/CMeEE_test.json",
            "6614b545378694687e6f45ef8d5a3f7002bcfacf7e4f476e3644a90c3ee63f7b",
        ),
    ),
    "cmeee_v2": (
        RemoteFile(
            "cmeee/cblue_v2/CMeEE-V2_dev.json",
            f"{_CBLUE2}/CMeEE-V2_dev.json",
            "79352890edd0223ac42288bdf3e7c2862c8227d65b532e760457620ef5b23acc",
        ),
        RemoteFile(
            "cmeee/cblue_v2/CMeEE-V2_test.json",
            f"{_CBLUE2}/CMeEE-V2_test.json",
            "dca7d9b7cf820947bba68e14557908fdc63e9286add1b4bc34f78f245e0c7ecf",
        ),
    ),
    "genia": (
        RemoteFile(
            "genia/GENIAcorpus3.02.xml",
            _GENIA_ARCHIVE,
            "c6d6966ea48522e48aa4b268323934897d9336fab3942fb48134ac174d989c5e",
            member="GENIAcorpus3.02.xml",
        ),
    ),
}


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, or of a folder as the digest over its sorted (name, file digest)."""
    if path.is_dir():
        digest = hashlib.sha256()
        for child in sorted(path.iterdir()):
            digest.update(child.name.encode() + b"\0" + bytes.fromhex(sha256_of(child)))
        return digest.hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fetch_bytes(url: str) -> bytes:
    logger.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.read()
    except OSError as err:
        raise BioNerInputError(f"cannot download {url}: {err}") from None


def _extract(archive: bytes, member: str, target: Path) -> None:
    """Copy ``member`` (a file or folder, found at any depth) out of a .tar.gz archive."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = [m for m in tar.getmembers() if m.name.endswith("/" + member) or m.name == member]
        if not names:
            raise BioNerInputError(f"{member} not found in the downloaded archive")
        prefix = names[0].name
        with tempfile.TemporaryDirectory() as tmp:
            wanted = [
                m for m in tar.getmembers() if m.name == prefix or m.name.startswith(prefix + "/")
            ]
            tar.extractall(tmp, members=wanted, filter="data")
            shutil.move(os.path.join(tmp, prefix), target)


def fetch(remote: RemoteFile, data_dir: Path) -> Path:
    """Make ``data_dir / remote.path`` exist with the right checksum, downloading if needed."""
    target = data_dir / remote.path
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = _fetch_bytes(remote.url)
        if remote.member:
            _extract(payload, remote.member, target)
        else:
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(payload)
            partial.replace(target)
    found = sha256_of(target)
    if found != remote.sha256:
        raise BioNerInputError(
            f"{target}: checksum {found[:12]}… does not match the published file "
            f"({remote.sha256[:12]}…); delete it to download again"
        )
    return target


def download_corpus(name: str, data_dir: str | Path) -> Path:
    """Download every file of corpus ``name`` into ``data_dir`` (skipping what is there)."""
    if name not in REMOTE_FILES:
        raise BioNerInputError(f"unknown corpus {name!r}; valid: {', '.join(REMOTE_FILES)}")
    data_dir = Path(data_dir)
    for remote in REMOTE_FILES[name]:
        fetch(remote, data_dir)
    return data_dir
