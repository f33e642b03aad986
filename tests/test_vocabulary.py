"""Facts about the packaged vocabulary (ImageNet-1k classes ↔ WordNet 3.0)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from picfind.vocabulary import Vocabulary, edit_distance, normalize

REPO = Path(__file__).resolve().parents[1]
WORDNET = Path("/usr/share/wordnet")
CLASSES_TSV = REPO.parent / "shared" / "imagenet1k_classes.tsv"


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.load()


def names(vocab: Vocabulary, term: str) -> set[str]:
    return {vocab.class_name(int(i)) for i in vocab.classes_for(term)}


def test_load_is_cached(vocab: Vocabulary) -> None:
    assert Vocabulary.load() is vocab


def test_classes_in_model_order(vocab: Vocabulary) -> None:
    assert len(vocab.classes) == 1000
    assert [c.index for c in vocab.classes] == list(range(1000))
    assert vocab.classes[0].wnid == "n01440764"
    assert vocab.class_name(0) == "tench"
    assert vocab.class_name(999) == "toilet tissue"
    assert all(c.wnid.startswith("n") and len(c.wnid) == 9 for c in vocab.classes)
    assert len({c.wnid for c in vocab.classes}) == 1000


def test_index_wnid_maps(vocab: Vocabulary) -> None:
    for c in vocab.classes:
        assert vocab.wnid_of(c.index) == c.wnid
        assert vocab.index_of(c.wnid) == c.index
    assert vocab.index_of("n02084071") is None  # dog.n.01 is a concept, not a class


def test_every_class_is_a_concept_covering_itself(vocab: Vocabulary) -> None:
    for c in vocab.classes:
        concept = vocab.concepts[c.wnid]
        assert concept.is_class and concept.class_index == c.index
        assert c.index in concept.classes
        assert c.name in [concept.name]


def test_root_covers_everything(vocab: Vocabulary) -> None:
    assert np.array_equal(vocab.concepts["n00001740"].classes, np.arange(1000))  # entity


def test_dog_is_the_118_breeds(vocab: Vocabulary) -> None:
    concepts = vocab.concepts_for("dog")
    assert [c.wnid for c in concepts] == ["n02084071"]
    # The 118 ImageNet dog classes are the contiguous indices 151..268.
    assert np.array_equal(concepts[0].classes, np.arange(151, 269))


def test_cat_covers_domestic_wild_and_big_cats(vocab: Vocabulary) -> None:
    # "cat" names cat.n.01 (domestic cats and wildcats: cougar, lynx) and
    # big_cat.n.01 (whose lemmas include "cat"): all 13 felines.
    assert [c.wnid for c in vocab.concepts_for("cat")] == ["n02121620", "n02127808"]
    domestic = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
    big = {"leopard", "snow leopard", "jaguar", "lion", "tiger", "cheetah"}
    assert names(vocab, "cat") == domestic | big | {"cougar", "lynx"}
    assert {vocab.class_name(int(i)) for i in vocab.concepts["n02121620"].classes} >= domestic


@pytest.mark.parametrize(
    ("term", "member", "low", "high"),
    [
        ("bird", "goldfinch", 50, 70),
        ("vehicle", "sports car", 50, 90),
        ("food", "espresso", 30, 60),
        ("animal", "tabby", 390, 410),
        ("fruit", "banana", 5, 30),
    ],
)
def test_broad_concepts(vocab: Vocabulary, term: str, member: str, low: int, high: int) -> None:
    classes = names(vocab, term)
    assert member in classes
    assert low <= len(classes) <= high


@pytest.mark.parametrize(
    ("term", "wnid"),
    [
        ("sports car", "n04285008"),
        ("Sports-Car", "n04285008"),
        ("SPORTS_CAR", "n04285008"),
        ("  sports \t car ", "n04285008"),
        ("golden retriever", "n02099601"),
        ("espresso", "n07920052"),
        ("geese", "n01855672"),
        ("mice", "n03793489"),
        ("judge's robe", "n02669723"),
        ("judges robe", "n02669723"),
    ],
)
def test_single_class_terms(vocab: Vocabulary, term: str, wnid: str) -> None:
    assert [c.wnid for c in vocab.concepts_for(term)] == [wnid]
    assert list(vocab.classes_for(term)) == [vocab.index_of(wnid)]


@pytest.mark.parametrize("term", ["dogs", "Dogs", "DOGS", "dog", " Dog "])
def test_plural_and_case_folding(vocab: Vocabulary, term: str) -> None:
    assert [c.wnid for c in vocab.concepts_for(term)] == ["n02084071"]


def test_morphy_suffix_rules(vocab: Vocabulary) -> None:
    assert vocab.classes_for("foxes").size > 0  # xes → x
    assert vocab.classes_for("sports cars").tolist() == vocab.classes_for("sports car").tolist()
    assert vocab.classes_for("butterflies").tolist() == vocab.classes_for("butterfly").tolist()
    assert vocab.classes_for("wolves").tolist() == vocab.classes_for("wolf").tolist()  # noun.exc


def test_folded_form_must_be_known(vocab: Vocabulary) -> None:
    assert vocab.concepts_for("dogz") == []
    assert vocab.concepts_for("") == []
    assert vocab.concepts_for("!!!") == []
    assert vocab.match("beach") is None  # a WordNet noun, but no class is under it


def test_synonyms(vocab: Vocabulary) -> None:
    assert [c.wnid for c in vocab.concepts_for("automobile")] == ["n02958343"]  # car.n.01
    assert "sports car" in names(vocab, "automobile")
    hound = vocab.concepts_for("hound")
    assert [c.wnid for c in hound] == ["n02087551"]
    assert "basset" in names(vocab, "hound") and len(hound[0].classes) == 19
    assert vocab.classes_for("hound dog").tolist() == vocab.classes_for("hound").tolist()


def test_polysemous_word_names_all_senses(vocab: Vocabulary) -> None:
    crane = vocab.concepts_for("crane")
    assert {c.wnid for c in crane} == {"n02012849", "n03126707"}  # bird and machine
    assert len(vocab.classes_for("crane")) == 2


def test_normalize() -> None:
    assert normalize("Sports-Car") == "sports car"
    assert normalize("jack-o'-lantern") == "jack o lantern"
    assert normalize(" a__b  c ") == "a b c"
    assert normalize("R.V.") == "rv"


def test_edit_distance() -> None:
    assert edit_distance("dog", "dgo", 2) == 1
    assert edit_distance("dog", "dog", 2) == 0
    assert edit_distance("kitten", "sitting", 5) == 3
    assert edit_distance("abc", "xyzuvw", 1) == 2


def test_suggest(vocab: Vocabulary) -> None:
    assert vocab.suggest("dgo")[0] == "dog"
    assert vocab.suggest("golden retreiver")[0] == "golden retriever"
    assert "espresso" in vocab.suggest("espreso")
    assert len(vocab.suggest("cta", n=3)) <= 3
    assert vocab.suggest("") == []


def test_complete(vocab: Vocabulary) -> None:
    got = vocab.complete("gol")
    assert {"golden retriever", "golf ball", "goldfish"} <= set(got[:6])
    assert len(got) == len(set(got)) <= 10
    assert vocab.complete("Golden R") == ["golden retriever"]
    assert vocab.complete("") == []
    assert vocab.complete("retr", n=1) == ["retriever"]
    # an exact name first, then class names, then broader concepts
    got = vocab.complete("dog")
    assert got[0] == "dog" and got[1] == "dog sled"


def test_phrase_helpers(vocab: Vocabulary) -> None:
    assert vocab.max_phrase_words >= 4
    assert vocab.is_phrase_prefix(["golden"])
    assert vocab.is_phrase_prefix(["Golden", "Retriever"])
    assert vocab.is_phrase_prefix(["sports-car"])
    assert not vocab.is_phrase_prefix(["retriever", "golden"])
    assert not vocab.is_phrase_prefix([])


def test_data_file_is_compact_and_licensed() -> None:
    data = resources.files("picfind").joinpath("data")
    blob = data.joinpath("vocabulary.json.gz").read_bytes()
    assert len(blob) < 1_000_000
    doc = json.loads(gzip.decompress(blob))
    assert doc["license"] == "WORDNET-LICENSE.txt"
    notice = data.joinpath(doc["license"]).read_text(encoding="utf-8")
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in notice
    wnids = [c["wnid"] for c in doc["concepts"]]
    assert wnids == sorted(wnids)


def test_generator_matches_committed_files(tmp_path: Path) -> None:
    """Regenerating from WordNet gives the committed data byte for byte (so it is
    deterministic, and nobody edited it by hand or forgot to rerun the script)."""
    if not (WORDNET / "data.noun").exists() or not CLASSES_TSV.exists():
        missing = "WordNet 3.0 (apt-get install wordnet-base) or ../shared/imagenet1k_classes.tsv"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"needs {missing}", pytrace=False)
        pytest.skip(f"needs {missing}")
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_vocabulary.py"), "--out-dir", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    data = resources.files("picfind").joinpath("data")
    for name in ("vocabulary.json.gz", "wordnet_nouns.tsv.gz", "WORDNET-LICENSE.txt"):
        made = (tmp_path / name).read_bytes()
        assert made == data.joinpath(name).read_bytes(), f"{name} is stale: run make vocabulary"
