"""Where the text of `char_lm` and `word_lm` comes from: a local UTF-8 file or folder, or a TFDS dataset.

Both sources give three strings, train / validation / test:

- a local file, or every `.txt` file under a folder (sorted by path, hidden ones skipped), joined by
  newlines and cut 90/5/5 by characters, the cut TFDS uses for `tiny_shakespeare`;
- a TFDS text dataset by name and feature, loaded through TFDS itself (`tfds.builder`,
  `download_and_prepare`, `as_dataset`), its documents joined by newlines. Its own validation and
  test splits are used; a dataset without them gives up the end of its training split (5% each).

TFDS prepares a dataset once into its `data_dir` (default `~/tensorflow_datasets`) and reuses it, so
a second run starts in seconds. Offline, TFDS finds a copy of the raw files in its `manual_dir`
(default `<data_dir>/downloads/manual`): for `tiny_shakespeare` that is the file `input.txt`.

Failing fast offline: TFDS retries a failed download for more than 200 seconds before it gives up.
Before TFDS may download anything, `prepare_tfds` checks whether every file it would fetch is
already in `manual_dir` or in the download cache; if not, and `download=False` or a HEAD request
to the file's server gets no answer within 2 seconds, it raises a ValueError that names `manual_dir` and TFDS's default manual
folder. `tfds.list_builders()` (which reaches for the network) is never called; a name is checked
against the builders TFDS ships with.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import pathlib
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

TFDS_CATALOG = "https://www.tensorflow.org/datasets/catalog/overview"
PROBE_TIMEOUT_S = 2.0


@dataclasses.dataclass(frozen=True)
class Corpus:
    """The three splits of a text corpus and a few words saying where it came from."""

    train: str
    validation: str
    test: str
    source: str

    def split(self, name: str) -> str:
        return getattr(self, name)


def split_90_5_5(text: str) -> tuple[str, str, str]:
    """90% / 5% / 5% of the characters, in order (the arithmetic of TFDS's tiny_shakespeare)."""
    i = int(len(text) * 0.9)
    train, rest = text[:i], text[i:]
    j = int(len(rest) * 0.5)
    return train, rest[:j], rest[j:]


# ---------------------------------------------------------------------- local text
def read_local_corpus(path: str) -> Corpus:
    """A local UTF-8 text file, or the `.txt` files under a folder, split 90/5/5."""
    root = pathlib.Path(path).expanduser()
    if not root.exists():
        raise ValueError(
            f"corpus path {str(path)!r} does not exist; pass path= an existing UTF-8 text file or a folder of .txt files."
        )
    if root.is_file():
        files = [root]
    else:
        files = sorted(
            f
            for f in root.rglob("*.txt")
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(root).parts)
        )
        if not files:
            raise ValueError(
                f"folder {root} holds no .txt files; put UTF-8 text in files ending in .txt or pass path= one text file."
            )
    stamped = tuple((str(f.resolve()), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    text = _read_files(stamped)
    if not text.strip():
        where = f"corpus file {root}" if root.is_file() else f"every .txt file under {root}"
        raise ValueError(f"{where} is empty; give the text task a corpus with some text in it.")
    train, validation, test = split_90_5_5(text)
    return Corpus(train, validation, test, source=str(root))


@functools.lru_cache(maxsize=4)
def _read_files(stamped: tuple) -> str:
    """The files, decoded as UTF-8 and joined by newlines (cached per path, time and size)."""
    texts = []
    for name, _, _ in stamped:
        data = pathlib.Path(name).read_bytes()
        try:
            texts.append(data.decode("utf-8-sig"))
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            raise ValueError(
                f"{name} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start} (line {line}) "
                f"cannot be decoded; convert the file to UTF-8 (for example with iconv) or leave it out."
            ) from None
    return "\n".join(t for t in texts if t)


# ---------------------------------------------------------------------- TFDS
def _tfds():
    """TFDS, imported on first use (it takes a second or two), with its progress bars off."""
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    return tfds


def tfds_builder(name: str, data_dir: str | None = None):
    """`tfds.builder(name)`, after checking the name against the builders TFDS ships with."""
    tfds = _tfds()
    from tensorflow_datasets.core import registered

    parts = [part.split(":")[0] for part in name.split("/")]  # dataset[/config][:version]
    base = parts[0]
    if not re.fullmatch(r"[A-Za-z0-9_]+", base) or len(parts) > 2:
        raise ValueError(
            f"tfds_name must name a TFDS dataset such as 'tiny_shakespeare' or 'imdb_reviews/plain_text', got {name!r}."
        )
    try:
        builder_class = registered.imported_builder_cls(base)
    except registered.DatasetNotFoundError:
        raise ValueError(
            f"TFDS {tfds.__version__} has no dataset named {base!r}; check the name in the catalog at {TFDS_CATALOG}."
        ) from None
    configs = sorted(getattr(builder_class, "builder_configs", None) or {})
    if len(parts) > 1 and parts[1] not in configs:
        raise ValueError(
            f"TFDS dataset {base!r} has no config {parts[1]!r}; its configs are: {', '.join(configs) or 'none'}."
        )
    try:
        return tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # a version TFDS does not know, or the like
        message = str(error).strip().splitlines()[0].rstrip(":") if str(error).strip() else type(error).__name__
        raise ValueError(f"TFDS cannot make dataset {name!r} ({message}); check the version.") from None


def check_text_feature(builder, name: str, feature: str) -> None:
    """Raises a ValueError unless `feature` is a top-level string feature of the dataset."""
    import tensorflow as tf

    features = builder.info.features
    texts = sorted(k for k, f in features.items() if getattr(f, "tf_dtype", None) == tf.string)
    if feature not in features or feature not in texts:
        raise ValueError(
            f"TFDS dataset {name!r} has no text feature {feature!r}; its text features are: "
            f"{', '.join(texts) or 'none'}."
        )


def default_manual_dir(builder) -> pathlib.Path:
    """TFDS's default manual folder for `builder`: `<data_dir>/downloads/manual`."""
    return pathlib.Path(builder.data_dir_root) / "downloads" / "manual"


def is_prepared(builder) -> bool:
    return (pathlib.Path(builder.data_path) / "dataset_info.json").exists()


def _in_download_cache(download_dir: pathlib.Path, url: str, info) -> bool:
    """Whether TFDS's download cache already holds `url` (TFDS then needs no network)."""
    try:
        from tensorflow_datasets.core.download import resource as resource_lib

        path = download_dir / resource_lib.get_dl_fname(url, info.checksum)
        return bool(resource_lib.is_locally_cached(path))
    except Exception:  # a TFDS internal that moved: count the file as missing, the probe decides
        return False


def network_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the server of `url` answers an HTTP HEAD request within `timeout` seconds.

    Any HTTP answer (even an error status) counts as reachable; no answer, a refused connection or
    an unknown host does not. urllib honours the usual proxy variables. The request runs in a
    daemon thread so that a hanging DNS lookup cannot hold the caller longer than `timeout`.
    """
    result = []

    def attempt():
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout):
                result.append(True)
        except urllib.error.HTTPError:  # the server answered
            result.append(True)
        except (OSError, ValueError):  # URLError, timeouts, refused connections, bad URLs
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def check_manual_dir(builder, name: str, manual_dir) -> None:
    """Refuse a `manual_dir` that is not a folder or lacks a file TFDS's dataset is made of, naming the
    folder as resolved (a relative path is relative to the current folder)."""
    folder = pathlib.Path(manual_dir).expanduser()
    where = f"{manual_dir!r}" + (f" (= {folder.resolve()})" if not folder.is_absolute() else "")
    if not folder.is_dir():
        raise ValueError(
            f"manual_dir {where} is not a folder; pass the folder that holds the files of TFDS dataset {name!r}."
        )
    files = sorted({i.filename for i in (getattr(builder, "url_infos", None) or {}).values() if i.filename})
    absent = [f for f in files if not (folder / f).is_file()]
    if absent:
        raise ValueError(
            f"manual_dir {where} does not hold {', '.join(absent)}, the file{'s' if len(absent) > 1 else ''} of TFDS "
            f"dataset {name!r}; pass the folder that holds {'them' if len(absent) > 1 else 'it'}."
        )


def prepare_tfds(builder, name: str, manual_dir: str | None = None, download: bool = True) -> None:
    """`builder.download_and_prepare`, or a fast ValueError where TFDS would hang offline.

    Args:
        builder: a `tfds.core.DatasetBuilder`.
        name: the dataset name the user gave (for messages).
        manual_dir: folder holding a copy of the raw files (for tiny_shakespeare: `input.txt`);
            None uses TFDS's default `<data_dir>/downloads/manual`.
        download: False forbids any download: without a prepared dataset or a local copy of its
            files, fail at once.
    """
    if manual_dir is not None:
        check_manual_dir(builder, name, manual_dir)  # a wrong folder is refused even when TFDS has a copy
    if is_prepared(builder):
        return
    tfds = _tfds()
    default_manual = default_manual_dir(builder)
    manual = pathlib.Path(manual_dir).expanduser() if manual_dir is not None else default_manual
    download_dir = pathlib.Path(builder.data_dir_root) / "downloads"
    instructions = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
    if instructions and not (manual.is_dir() and any(manual.iterdir())):
        raise ValueError(
            f"TFDS dataset {name!r} must be downloaded by hand: follow its manual download instructions in the "
            f"TFDS catalog and pass the folder as manual_dir= (TFDS's default manual folder is {default_manual})."
        )
    url_infos = dict(getattr(builder, "url_infos", None) or {})
    missing = {
        url: info
        for url, info in url_infos.items()
        if not ((info.filename and (manual / info.filename).exists()) or _in_download_cache(download_dir, url, info))
    }
    if not instructions and (missing or not url_infos):
        urls = list(missing) or [builder.info.homepage or "https://storage.googleapis.com"]
        host = urllib.parse.urlparse(urls[0]).hostname or urls[0]
        reason = "download=False" if not download else None
        if reason is None and not network_reachable(urls[0]):
            reason = f"no network: {host} does not answer"
        if reason is not None:
            files = ", ".join(sorted({i.filename for i in missing.values() if i.filename})) or "its raw files"
            raise ValueError(
                f"TFDS dataset {name!r} is not prepared in {builder.data_dir_root} and cannot be downloaded "
                f"({reason}); put {files} in a folder and pass it as manual_dir=FOLDER, or copy it to TFDS's "
                f"default manual folder {default_manual}."
            )
    from tensorflow_datasets.core.download.download_manager import NonMatchingChecksumError

    config = tfds.download.DownloadConfig(manual_dir=str(manual), try_download_gcs=False)
    source = f"the copy in {manual}" if not missing and url_infos else "its download"
    print(f"Preparing TFDS dataset {name!r} from {source} into {builder.data_dir} (once: later runs read it "
          f"from there; data_dir= chooses another folder).", file=sys.stderr, flush=True)
    try:
        # TFDS's own two lines ("Downloading and preparing dataset Unknown size ... to", "... downloaded and
        # prepared to") go to stdout, into a table that `python -m datasets` is printing: the line above says it.
        with contextlib.redirect_stdout(io.StringIO()):
            builder.download_and_prepare(download_config=config)
    except NonMatchingChecksumError:
        raise ValueError(
            f"a file for TFDS dataset {name!r} in {manual} is not the one TFDS expects (its checksum differs); "
            f"replace it with the original download."
        ) from None


def _tfds_splits(available) -> dict[str, str]:
    """Our three splits as TFDS split strings, carving validation/test from train where missing."""
    has_validation, has_test = "validation" in available, "test" in available
    if has_validation and has_test:
        return {"train": "train", "validation": "validation", "test": "test"}
    if has_test:
        return {"train": "train[:95%]", "validation": "train[95%:]", "test": "test"}
    if has_validation:
        return {"train": "train[:95%]", "validation": "validation", "test": "train[95%:]"}
    return {"train": "train[:90%]", "validation": "train[90%:95%]", "test": "train[95%:]"}


@functools.lru_cache(maxsize=4)
def read_tfds_corpus(
    name: str = "tiny_shakespeare",
    feature: str = "text",
    data_dir: str | None = None,
    manual_dir: str | None = None,
    download: bool = True,
) -> Corpus:
    """A TFDS text dataset as three strings (documents joined by newlines); cached per arguments."""
    builder = tfds_builder(name, data_dir)
    check_text_feature(builder, name, feature)
    prepare_tfds(builder, name, manual_dir=manual_dir, download=download)
    available = set(builder.info.splits.keys())
    if "train" not in available:
        raise ValueError(f"TFDS dataset {name!r} has no train split; its splits are: {', '.join(sorted(available))}.")
    texts = {}
    for ours, theirs in _tfds_splits(available).items():
        ds = builder.as_dataset(split=theirs, shuffle_files=False).map(lambda ex: ex[feature])
        documents = [t.decode("utf-8") for batch in ds.batch(1024).as_numpy_iterator() for t in batch]
        texts[ours] = "\n".join(documents)
    return Corpus(texts["train"], texts["validation"], texts["test"], source=f"{name} (TFDS, feature {feature!r})")
