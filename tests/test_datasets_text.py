"""The text tasks: local corpora, tiny_shakespeare through TFDS offline, vocabularies, bad input.

Nothing here reaches the network: TFDS reads the shared copy of input.txt through `manual_dir`, its
cache goes to a temporary `data_dir`, and the network probe is replaced wherever it could run.
"""

import time

import numpy as np
import pytest

import datasets
from datasets import corpus as corpus_module
from datasets.corpus import split_90_5_5

WORDS = "the cat sat on the mat and the dog ran to the cat , then they slept ."


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any network probe fails the test: these tests must never reach the network."""

    def probe(url, **kwargs):
        raise AssertionError(f"a test tried to reach {url}")

    monkeypatch.setattr(corpus_module, "network_reachable", probe)


@pytest.fixture
def local_corpus(tmp_path):
    """A small corpus whose last 10% holds characters and words the first 90% never uses."""
    body = "\n".join(f"{WORDS} line {i % 7}" for i in range(200))
    tail = "\n" + "§ zebra quokka § " * 70  # starts after 90% of the text and before 95%
    text = body + tail
    train, validation, test = split_90_5_5(text)
    assert "§" not in train and "zebra" not in train and "§" in validation and "§" in test
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    return path, text


def windows(ds, count=None):
    inputs, targets = [], []
    for x, y in ds:
        inputs.append(x.numpy())
        targets.append(y.numpy())
        if count is not None and sum(len(a) for a in inputs) >= count:
            break
    return np.concatenate(inputs)[:count], np.concatenate(targets)[:count]


def test_char_lm_on_a_local_file(local_corpus):
    path, text = local_corpus
    train_text, validation_text, _ = split_90_5_5(text)
    ds, spec = datasets.load_task("char_lm", batch_size=8, seed=1, path=str(path), seq_len=20)
    assert spec.output == "per_step" and spec.causal and spec.language_model
    assert spec.num_classes == spec.vocabulary_size == len(set(train_text)) + 1
    assert spec.vocabulary[0] == "<unk>" and spec.unknown_token_id == 0 and "§" not in spec.vocabulary
    assert spec.metrics == ("loss", "accuracy", "bits_per_char")
    assert spec.epoch_size == (len(train_text) - 20) // 20 and spec.steps_per_epoch(8) == spec.epoch_size // 8
    inputs, targets = windows(ds, 64)
    assert inputs.shape == (64, 20) and inputs.dtype == np.int32 and targets.dtype == np.int32
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])  # targets are the inputs shifted by one
    for x, y in zip(inputs, targets):
        assert spec.decode(np.append(x, y[-1])) in train_text  # a window of the training split
    validation, _ = windows(datasets.load_task("char_lm", "validation", 8, path=str(path), seq_len=20)[0])
    assert len(validation) == (len(validation_text) - 1) // 20
    assert spec.decode(validation[0]) == validation_text[:20]
    assert (validation == 0).any()  # "§" never occurs in training: it is <unk> here
    assert spec.encode("the §") == [spec.vocabulary.index(c) for c in "the "] + [0]


def test_word_lm_on_a_local_folder_with_a_vocabulary_limit(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.txt").write_text("the cat the cat the dog .\n" * 400, encoding="utf-8")
    (tmp_path / "b" / "c.txt").write_text("don't stop , don't stop . " * 40, encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored words", encoding="utf-8")
    corpus = corpus_module.read_local_corpus(str(tmp_path))
    assert "don't stop" in corpus.test and "ignored" not in corpus.train + corpus.validation + corpus.test
    ds, spec = datasets.load_task("word_lm", batch_size=4, path=str(tmp_path), seq_len=6, max_vocabulary=3)
    assert spec.vocabulary == ("<unk>", "the", "cat")  # the most frequent training words
    assert spec.metrics == ("loss", "accuracy", "perplexity") and spec.token_separator == " "
    assert spec.encode("the cat don't stop.") == [1, 2, 0, 0, 0]  # "don't" is one word, "." another
    inputs, targets = windows(ds, 8)
    assert inputs.shape == (8, 6) and (inputs == 0).any()  # "dog" and "." fall beyond the limit
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
    full = datasets.get_spec("word_lm", path=str(tmp_path), seq_len=6)
    assert full.vocabulary == ("<unk>", "the", "cat", ".", "dog")  # "don't" and "stop" are never trained on
    test_inputs, _ = windows(datasets.load_task("word_lm", "test", 4, path=str(tmp_path), seq_len=6)[0])
    assert "<unk> <unk> <unk> <unk> ." in " ".join(full.decode(row) for row in test_inputs)


def test_text_windows_are_deterministic_and_reshuffled_each_pass(local_corpus):
    path, _ = local_corpus
    load = lambda seed: datasets.load_task("char_lm", batch_size=10, seed=seed, path=str(path), seq_len=30)  # noqa: E731
    a, spec = load(4)
    first, _ = windows(a, spec.epoch_size * 2)
    again, _ = windows(load(4)[0], spec.epoch_size * 2)
    other, _ = windows(load(5)[0], spec.epoch_size * 2)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    one, two = first[: spec.epoch_size], first[spec.epoch_size :]
    assert not np.array_equal(one, two)  # a new offset and order on the second pass


def test_text_chance_baseline_is_the_unigram_entropy_of_the_training_targets(local_corpus):
    path, _ = local_corpus
    ds, spec = datasets.load_task("char_lm", batch_size=16, path=str(path), seq_len=10)
    _, targets = windows(ds, spec.epoch_size)  # one pass: every training window once
    frequencies = np.bincount(targets.reshape(-1), minlength=spec.vocabulary_size) / targets.size
    nonzero = frequencies[frequencies > 0]
    assert float(-(nonzero * np.log(nonzero)).sum()) == pytest.approx(spec.chance_loss, abs=0.02)
    assert frequencies.max() == pytest.approx(spec.chance_accuracy, abs=0.01)
    assert spec.chance_loss < np.log(spec.vocabulary_size)  # better than uniform over the vocabulary


def test_vocabulary_is_saved_as_json_and_reused_on_another_corpus(local_corpus, tmp_path):
    path, _ = local_corpus
    vocabulary_path = tmp_path / "run" / "vocabulary.json"
    spec = datasets.get_spec("char_lm", path=str(path), seq_len=10, vocabulary_path=str(vocabulary_path))
    assert vocabulary_path.is_file()
    assert tuple(datasets.load_vocabulary(vocabulary_path, "char")) == spec.vocabulary
    other = tmp_path / "other.txt"
    other.write_text("QJK " * 500, encoding="utf-8")
    ds, reused = datasets.load_task("char_lm", "test", 4, path=str(other), seq_len=10, vocabulary_path=str(vocabulary_path))
    assert reused.vocabulary == spec.vocabulary  # decodes exactly as the first run did
    inputs, _ = windows(ds)
    assert set(np.unique(inputs)) <= {0, spec.vocabulary.index(" ")}  # Q, J, K were never seen in training
    with pytest.raises(ValueError, match="holds char tokens, but this task needs word tokens"):
        datasets.get_spec("word_lm", path=str(path), vocabulary_path=str(vocabulary_path))
    assert datasets.TaskSpec.from_dict(reused.to_dict()).decode([1, 2]) == reused.decode([1, 2])


@pytest.mark.parametrize("name", ["char_lm", "word_lm"])
def test_tiny_shakespeare_offline_from_the_shared_copy(name, tiny_shakespeare_dir, tmp_path, capfd):
    text = (tiny_shakespeare_dir / "input.txt").read_text(encoding="utf-8")
    train_text, validation_text, test_text = split_90_5_5(text)
    corpus_module.read_tfds_corpus.cache_clear()
    params = {"data_dir": str(tmp_path / "tfds"), "manual_dir": str(tiny_shakespeare_dir)}
    ds, spec = datasets.load_task(name, "validation", 32, **params)
    printed = capfd.readouterr()
    said = printed.err  # preparing says where it writes, once, on stderr
    assert "Downloading and preparing" not in printed.out + said and "Unknown size" not in printed.out + said
    assert f"Preparing TFDS dataset 'tiny_shakespeare' from the copy in {tiny_shakespeare_dir}" in said
    assert str(tmp_path / "tfds" / "tiny_shakespeare") in said
    assert "tiny_shakespeare (TFDS" in spec.description
    inputs, targets = windows(ds)
    if name == "char_lm":
        assert spec.vocabulary_size == 66  # 65 characters and <unk>
        assert spec.epoch_size == (len(train_text) - 100) // 100
        assert len(inputs) == (len(validation_text) - 1) // 100
        assert spec.decode(inputs[0]) == validation_text[:100]  # TFDS's own validation split
        assert 3.0 < spec.chance_loss < 3.5
    else:
        assert spec.vocabulary_size == 10_000 and spec.params["seq_len"] == 35
        known = spec.decode(inputs[0]).split(" <unk>")[0]  # the words before the first unknown one
        assert len(known) > 20 and "".join(validation_text.split()).startswith("".join(known.split()))
        assert 5.5 < spec.chance_loss < 7.5
    assert (tmp_path / "tfds" / "tiny_shakespeare" / "1.0.0" / "dataset_info.json").is_file()
    # a manual_dir that does not hold the corpus is refused, even now that TFDS has a prepared copy
    corpus_module.read_tfds_corpus.cache_clear()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"manual_dir .*empty.* does not hold input.txt, the file of TFDS dataset"):
        datasets.get_spec(name, data_dir=str(tmp_path / "tfds"), manual_dir=str(tmp_path / "empty"))
    # the second run reads TFDS's prepared cache: no copy, no download needed, and quick
    corpus_module.read_tfds_corpus.cache_clear()
    start = time.perf_counter()
    _, again = datasets.load_task(name, "test", 32, data_dir=str(tmp_path / "tfds"), download=False)
    assert time.perf_counter() - start < 10
    assert again.vocabulary == spec.vocabulary


def test_offline_without_a_copy_fails_fast_and_names_the_option(tmp_path, monkeypatch):
    probed = []
    monkeypatch.setattr(corpus_module, "network_reachable", lambda url, **kwargs: probed.append(url) or False)
    corpus_module.read_tfds_corpus.cache_clear()
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        datasets.load_task("char_lm", data_dir=str(tmp_path))
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert probed == ["https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"]
    assert "manual_dir=" in message and str(tmp_path / "downloads" / "manual") in message
    assert "input.txt" in message and "no network" in message
    assert not (tmp_path / "tiny_shakespeare" / "1.0.0").exists()


def test_train_offline_names_its_own_flag_for_a_copy(tmp_path, monkeypatch, capsys):
    """`training.train` passes datasets' sentence on with its own flag (`--task-param manual_dir=FOLDER`,
    not `python -m datasets`' bare `manual_dir=FOLDER`), exit 2, and no run folder made."""
    from training import train

    monkeypatch.setattr(corpus_module, "network_reachable", lambda url, **kwargs: False)
    corpus_module.read_tfds_corpus.cache_clear()
    root = tmp_path / "runs"
    argv = ["--model", "lstm", "--task", "char_lm", "--task-param", f"data_dir={tmp_path / 'tfds'}", "--units", "8",
            "--epochs", "1", "--steps-per-epoch", "1", "--saved-models", str(root)]
    assert train.main(argv) == 2
    err = capsys.readouterr().err
    assert "pass it as --task-param manual_dir=FOLDER" in err and "no network" in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not root.exists() or not any(root.iterdir())


def test_download_false_fails_at_once_without_probing(tmp_path):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"cannot be downloaded \(download=False\); put input.txt in a folder"):
        datasets.get_spec("word_lm", data_dir=str(tmp_path), download=False)
    assert time.perf_counter() - start < 5


def test_tfds_names_and_features_are_checked_without_list_builders(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def forbidden(*args, **kwargs):
        raise AssertionError("tfds.list_builders() reaches for the network")

    monkeypatch.setattr(tfds, "list_builders", forbidden)
    from tensorflow_datasets.core import load as tfds_load

    monkeypatch.setattr(tfds_load, "list_builders", forbidden)
    with pytest.raises(ValueError, match="has no dataset named 'tiny_shakespear'"):
        datasets.get_spec("char_lm", tfds_name="tiny_shakespear", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="'imdb_reviews' has no text feature 'review'; its text features are: text"):
        datasets.get_spec("word_lm", tfds_name="imdb_reviews", feature="review", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="'imdb_reviews' has no config 'plain'; its configs are: plain_text"):
        datasets.get_spec("word_lm", tfds_name="imdb_reviews/plain", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="manual_dir '/no/such/folder' is not a folder"):
        datasets.get_spec("char_lm", data_dir=str(tmp_path), manual_dir="/no/such/folder")


def test_bad_corpora_are_one_clear_sentence(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    no_text = tmp_path / "no_text"
    no_text.mkdir()
    (no_text / "data.bin").write_bytes(b"\x00\x01")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\u00e9 au lait\n".encode("utf-8") * 3 + "na\u00efve\n".encode("latin-1"))
    short = tmp_path / "short.txt"
    short.write_text("to be or not to be " * 10)
    cases = [
        ({"path": str(tmp_path / "missing.txt")}, "corpus path '.*missing.txt' does not exist"),
        ({"path": str(empty)}, "corpus file .*empty.txt is empty"),
        ({"path": str(no_text)}, "folder .*no_text holds no .txt files"),
        ({"path": str(latin1)}, r"latin1.txt is not UTF-8 text: byte 0xef at offset 44 \(line 4\)"),
        ({"path": str(short), "seq_len": 100}, "too few for"),
        ({"path": str(short), "max_vocabulary": 1}, "max_vocabulary of task 'char_lm' must be at least 2"),
        ({"path": str(short), "seq_len": 0}, "seq_len of task 'char_lm' must be at least 1"),
    ]
    for params, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            datasets.get_spec("char_lm", **params)
        assert "\n" not in str(info.value) and str(info.value).endswith(".")


def test_a_folder_of_empty_text_files_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text("")
    (tmp_path / "b.txt").write_text("")
    with pytest.raises(ValueError, match="every .txt file under .* is empty"):
        datasets.get_spec("word_lm", path=str(tmp_path))
