"""The term-readings hook: readers, the parser's longest span, OR of readings, spelling
only when nothing reads a word; and the concept case of "why"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest

from picfind.errors import UnknownConceptError
from picfind.matchers import ConceptMatch
from picfind.query import Term, parse_query
from picfind.readings import (
    ConceptReader,
    Reading,
    TermReader,
    default_readers,
    read_all,
)
from picfind.records import Features, SparseClasses, StoredFile, Why
from picfind.resolve import Resolver
from picfind.search import keyword_query
from picfind.vocabulary import Vocabulary
from picfind.why import WHY_CLASSES, explain, explain_readings

VOCAB = Vocabulary.load()
RESOLVER = Resolver.load()
CONCEPT = ConceptReader(RESOLVER)


@dataclass(frozen=True)
class PhraseReader:
    """A reader of fixed phrases for another signal (a stand-in for places or dates):
    each phrase reads as a concept matcher over the given classes."""

    phrases: dict[tuple[str, ...], tuple[int, ...]]
    signal: str = "place"

    def read(self, words: Sequence[str]) -> list[Reading]:
        found = []
        for phrase, classes in self.phrases.items():
            if tuple(words[: len(phrase)]) == phrase:
                match = ConceptMatch(classes)
                found.append(Reading(self.signal, len(phrase), (match,), " ".join(phrase)))
        return found


def readers(*extra: TermReader) -> tuple[TermReader, ...]:
    return (CONCEPT, *extra)


def test_concept_reader_reads_the_longest_phrase_then_a_word() -> None:
    [reading] = CONCEPT.read(["golden", "retriever", "puppy"])
    assert (reading.signal, reading.words, reading.label) == ("concept", 2, "golden retriever")
    [single] = CONCEPT.read(["puppy", "golden"])
    assert single.words == 1 and single.detail["route"] == "hypernym"
    assert CONCEPT.read(["kitchn"]) == [] and CONCEPT.read([]) == []


def test_default_readers_start_with_concepts() -> None:
    found = default_readers(RESOLVER)
    assert isinstance(found[0], ConceptReader) and found[0].resolver is RESOLVER


def test_concept_answers_are_todays() -> None:
    """With only the concept reader, a clause is one concept matcher over its classes."""
    for text in ("dog", "golden retriever OR beagle -poodle", "sports car on a seashore"):
        q = parse_query(text)
        for clause, store in zip(q.clauses, keyword_query(q).clauses, strict=True):
            assert store.matchers == (ConceptMatch(clause.class_indices),)
            assert store.negated == clause.negated


def test_the_longest_span_of_any_reader_wins() -> None:
    hot_dog = VOCAB.index_of("n07697537")  # the hot dog class
    stand = PhraseReader({("hot", "dog", "stand"): (1, 2)})
    q = parse_query("hot dog stand", readers=readers(stand))
    [term] = q.terms
    assert term.text == "hot dog stand" and term.class_indices == ()
    assert [r.signal for r in term.readings] == ["place"]
    assert keyword_query(q).clauses[0].matchers == (ConceptMatch((1, 2)),)
    # Without it, "hot dog" is the class and "stand" another word.
    plain = parse_query("hot dog stand")
    assert plain.terms[0].class_indices == (hot_dog,) and len(plain.terms) == 2


def test_a_clause_is_the_or_of_every_reading_of_its_span() -> None:
    paris = PhraseReader({("dog",): (7,)})
    q = parse_query("dog", readers=readers(paris))
    [term] = q.terms
    assert [r.signal for r in term.readings] == ["concept", "place"]
    dog = parse_query("dog").terms[0]
    assert term.class_indices == dog.class_indices and term != dog
    assert keyword_query(q).clauses[0].matchers == (
        ConceptMatch(dog.class_indices),
        ConceptMatch((7,)),
    )
    assert parse_query(str(q), readers=readers(paris)) == q


def test_read_all_keeps_only_the_longest_readings() -> None:
    both = readers(PhraseReader({("golden",): (3,), ("golden", "retriever", "dog"): (4,)}))
    found = read_all(both, ["golden", "retriever", "dog"])
    assert [(r.signal, r.words) for r in found] == [("place", 3)]
    assert read_all(both, ["kitchn"]) == []


def test_spelling_only_when_no_reader_reads_the_word() -> None:
    corrected = parse_query("kitchn")
    assert corrected.terms[0].text == "kitchen" and corrected.corrections
    read = parse_query("kitchn", readers=readers(PhraseReader({("kitchn",): (5,)})))
    assert read.corrections == () and read.terms[0].text == "kitchn"
    assert [r.signal for r in read.terms[0].readings] == ["place"]


def test_a_phrase_is_not_spelt_when_a_reader_reads_its_next_word() -> None:
    assert parse_query("golden retreiver").terms[0].text == "golden retriever"
    other = readers(PhraseReader({("retreiver",): (6,)}))
    q = parse_query("golden retreiver", readers=other)
    assert q.terms[-1].text == "retreiver" and q.terms[-1].readings[0].signal == "place"
    assert all(c.typed != "retreiver" for c in q.corrections)  # "golden" alone is spelt


def test_quoted_phrases_and_stop_words_go_through_the_readers() -> None:
    q = parse_query(
        '"hot dog stand" photos', readers=readers(PhraseReader({("hot", "dog", "stand"): (1,)}))
    )
    assert [t.text for t in q.terms] == ["hot dog stand"]
    with pytest.raises(UnknownConceptError):
        parse_query('"hot dog stand"')
    # A stop word alone is ignored even when a reader reads it; in a longer span it counts.
    of = readers(PhraseReader({("of",): (8,), ("of", "the", "sea"): (9,)}))
    assert [t.text for t in parse_query("dog of", readers=of).terms] == ["dog"]
    assert [t.text for t in parse_query("of the sea", readers=of).terms] == ["of the sea"]


def test_terms_without_other_readings_compare_as_before() -> None:
    a = parse_query("dog").terms[0]
    assert a == Term(a.text, a.concepts, a.class_indices)
    assert a.readings[0].matchers == (ConceptMatch(a.class_indices),)


# --- why: the concept case --------------------------------------------------------------


def stored(pairs: Sequence[tuple[str, float]]) -> StoredFile:
    """A stored row whose top classes are the given (wnid, probability) pairs."""
    ids = np.array([VOCAB.index_of(w) for w, _ in pairs], dtype=np.uint16)
    probs = np.array([p for _, p in pairs], dtype=np.float32)
    features = Features(SparseClasses(ids, probs), np.zeros(4, dtype=np.float32))
    return StoredFile("0" * 16, "/p/x.jpg", 1, 1, "h", features=features)


BOXER, BULL_MASTIFF, TABBY = "n02108089", "n02108422", "n02123045"


def test_explain_a_concept_through_its_classes() -> None:
    row = stored([(BOXER, 0.95), (BULL_MASTIFF, 0.03), (TABBY, 0.005)])
    dog = ConceptMatch(parse_query("dog").terms[0].class_indices)
    cat = ConceptMatch(parse_query("cat").terms[0].class_indices)
    assert explain(row, dog, "dog") == [
        Why("concept", "dog", "boxer", pytest.approx(0.95)),  # type: ignore[arg-type]
        Why("concept", "dog", "bull mastiff", pytest.approx(0.03)),  # type: ignore[arg-type]
    ]
    assert explain(row, cat, "cat") == []  # 0.005 of tabby is no match
    assert str(explain(row, dog, "dog")[0]) == "dog ← boxer 0.95"
    assert explain(row, dog, "dog")[0].to_json() == {
        "signal": "concept", "term": "dog", "via": "boxer", "score": 0.95,
    }  # fmt: skip


def test_explain_a_concept_matched_by_its_sum_and_at_most_a_few_classes() -> None:
    dogs = [w for w in ("n02085620", "n02085782", "n02085936", "n02086079")]  # toy breeds
    spread = stored([(w, 0.004) for w in dogs])
    dog = ConceptMatch(parse_query("dog").terms[0].class_indices)
    [only] = explain(spread, dog, "dog")  # each < 0.01, together 0.016
    assert only.via == VOCAB.class_name(VOCAB.index_of(dogs[0]))  # type: ignore[arg-type]
    many = stored([(w, 0.2) for w in dogs])
    assert len(explain(many, dog, "dog")) == WHY_CLASSES
    assert explain(StoredFile("1" * 16, "/p", 1, 1, "h"), dog, "dog") == []  # no features


def test_explain_readings_orders_by_term_then_score() -> None:
    row = stored([(TABBY, 0.6), (BOXER, 0.3)])
    q = parse_query("dog cat")
    whys = explain_readings(row, [(t.text, t.readings) for t in q.terms])
    assert [(w.term, w.via) for w in whys] == [("dog", "boxer"), ("cat", "tabby")]
