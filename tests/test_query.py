"""The keyword query language: unit tests and property-based tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picfind.errors import QuerySyntaxError, UnknownConceptError
from picfind.query import ConceptQuery, Term, parse_query, tokenize
from picfind.resolve import Resolver
from picfind.vocabulary import Vocabulary

VOCAB = Vocabulary.load()
SETTINGS = settings(max_examples=200, deadline=None)


def texts(query: ConceptQuery) -> list[list[str]]:
    return [[t.text for t in c.terms] for c in query.clauses]


# --- unit tests ----------------------------------------------------------------


def test_single_word() -> None:
    q = parse_query("dog", VOCAB)
    assert texts(q) == [["dog"]]
    (clause,) = q.positive
    assert q.negative == ()
    assert np.array_equal(clause.classes, np.arange(151, 269))
    assert clause.terms[0].concepts == ("n02084071",)
    assert isinstance(clause.terms[0].classes, np.ndarray)


def test_default_vocabulary() -> None:
    assert parse_query("dog") == parse_query("dog", VOCAB)


def test_stop_words_and_multi_word_lemmas() -> None:
    q = parse_query("sports car on a seashore", VOCAB)
    assert texts(q) == [["sports car"], ["seashore"]]
    assert q.positive[0].class_indices == (VOCAB.index_of("n04285008"),)


def test_argv_words_group_like_a_string() -> None:
    assert parse_query(["sports", "car"], VOCAB) == parse_query("sports car", VOCAB)
    assert parse_query(["golden retriever", "-cat"], VOCAB) == parse_query(
        "golden retriever -cat", VOCAB
    )


def test_hyphenated_and_quoted_phrases() -> None:
    q = parse_query('Sports-Car "golden retriever"', VOCAB)
    assert texts(q) == [["sports car"], ["golden retriever"]]


def test_or_binds_tighter_than_and() -> None:
    q = parse_query("dog lakeside OR seashore", VOCAB)
    assert texts(q) == [["dog"], ["lakeside", "seashore"]]
    assert str(q) == "dog (lakeside OR seashore)"
    variants = ("dog lakeside or seashore", "dog lakeside | seashore", "dog (lakeside|seashore)")
    for variant in variants:
        assert parse_query(variant, VOCAB) == q


def test_and_is_ignored() -> None:
    assert parse_query("dog AND cat", VOCAB) == parse_query("dog cat", VOCAB)
    assert parse_query("dog and cat", VOCAB) == parse_query("dog cat", VOCAB)


def test_and_inside_lemma() -> None:
    q = parse_query("black and tan coonhound", VOCAB)
    assert texts(q) == [["black and tan coonhound"]]


def test_negation() -> None:
    q = parse_query("dog -cat NOT (lion OR tiger)", VOCAB)
    assert [c.negated for c in q.clauses] == [False, True, True]
    assert texts(ConceptQuery(q.negative)) == [["cat"], ["lion", "tiger"]]
    assert str(q) == "dog -cat -(lion OR tiger)"
    assert parse_query("dog not cat", VOCAB) == parse_query("dog -cat", VOCAB)


def test_union_of_classes_in_clause() -> None:
    (clause,) = parse_query("lion OR tiger OR lion", VOCAB).clauses
    assert len(clause.terms) == 2  # duplicates dropped
    assert len(clause.class_indices) == 2
    assert list(clause.classes) == sorted(clause.class_indices)


def test_plurals_fold() -> None:
    dogs = parse_query("Dogs geese", VOCAB)
    assert dogs.clauses[0].class_indices == parse_query("dog", VOCAB).clauses[0].class_indices
    assert dogs.clauses[1].terms[0].concepts == ("n01855672",)


def test_canonical_text_quotes_words_that_would_regroup() -> None:
    q = parse_query('hound "dog"', VOCAB)
    assert texts(q) == [["hound"], ["dog"]]
    assert str(q) == 'hound "dog"'
    assert parse_query(str(q), VOCAB) == q
    assert texts(parse_query("hound dog", VOCAB)) == [["hound dog"]]


@pytest.mark.parametrize(
    "text",
    ["", "   ", "the a of", "-dog", "NOT dog -cat", "dog OR", "OR dog", "dog OR OR cat",
     'dog "cat', "(dog", "dog)", "(dog cat)", "dog OR -cat", "--dog cat", "()", "dog -", '""'],
)  # fmt: skip
def test_syntax_errors(text: str) -> None:
    with pytest.raises(QuerySyntaxError):
        parse_query(text, VOCAB)


def test_unknown_word_suggests() -> None:
    with pytest.raises(UnknownConceptError) as info:
        parse_query("dog brid", VOCAB)  # bird? bride? neither is clearly best
    assert info.value.term == "brid"
    assert info.value.suggestions[:2] == ["bird", "bride"]
    with pytest.raises(UnknownConceptError) as info:
        parse_query('"sports bar"', VOCAB)  # quoted: taken as typed, never corrected
    assert "sports car" in info.value.suggestions


def test_clear_misspelling_is_corrected_and_says_so() -> None:
    q = parse_query("dog dgo", VOCAB)
    assert q == parse_query("dog", VOCAB)  # the same clause twice is one clause
    (correction,) = q.corrections
    assert (correction.typed, correction.corrected, correction.distance) == ("dgo", "dog", 1)
    assert str(q) == "dog"


def test_tokenize() -> None:
    assert tokenize('a -"b c" (d|e)') == [
        ("WORD", "a"), ("NOT", "-"), ("PHRASE", "b c"), ("(", "("),
        ("WORD", "d"), ("OR", "|"), ("WORD", "e"), (")", ")"),
    ]  # fmt: skip


def test_terms_are_hashable_values() -> None:
    a = parse_query("dog", VOCAB).clauses[0].terms[0]
    b = Term(a.text, a.concepts, a.class_indices)
    assert a == b and hash(a) == hash(b)


# --- property-based tests ------------------------------------------------------

# Every searchable key of the core vocabulary ("entity", "object"... are too general).
SEARCHABLE = [k for k in VOCAB.keys if Resolver.load().lookup(k) is not None]
SINGLE = sorted(k for k in SEARCHABLE if " " not in k)
MULTI = sorted(k for k in SEARCHABLE if " " in k)
keys = st.one_of(st.sampled_from(SINGLE), st.sampled_from(MULTI))


def render_term(key: str, quote_all: bool = False) -> str:
    return f'"{key}"' if quote_all or " " in key else key


@st.composite
def clause_texts(draw: st.DrawFn, quote_all: bool = False) -> tuple[str, bool]:
    terms = draw(st.lists(keys, min_size=1, max_size=3))
    body = " OR ".join(render_term(k, quote_all) for k in terms)
    if len(terms) > 1 or draw(st.booleans()):
        body = f"({body})"
    negated = draw(st.booleans())
    if negated:
        body = draw(st.sampled_from(["-", "NOT ", "not "])) + body
    return body, negated


@st.composite
def query_clauses(draw: st.DrawFn, quote_all: bool = False) -> list[str]:
    clauses = draw(st.lists(clause_texts(quote_all), min_size=1, max_size=4))
    positive = draw(st.lists(keys, min_size=1, max_size=1))[0]
    return [render_term(positive, quote_all), *(c for c, _ in clauses)]


words = st.sampled_from(
    ["dog", "cat", "sports", "car", "OR", "or", "|", "NOT", "-", "and", "the", "(", ")", '"',
     "-dog", "golden", "retriever", "dgo", "geese", "!!", "x", "sea shore", "é"]
)  # fmt: skip


@SETTINGS
@given(st.one_of(st.text(max_size=40), st.lists(words, max_size=8).map(" ".join)))
def test_any_text_parses_or_raises_a_query_error(text: str) -> None:
    try:
        q = parse_query(text, VOCAB)
    except (QuerySyntaxError, UnknownConceptError):
        return
    assert isinstance(q, ConceptQuery)
    assert q.positive
    assert parse_query(str(q), VOCAB) == q


@SETTINGS
@given(query_clauses())
def test_canonical_text_round_trips(parts: list[str]) -> None:
    q = parse_query(" ".join(parts), VOCAB)
    canonical = str(q)
    again = parse_query(canonical, VOCAB)
    assert again == q
    assert str(again) == canonical


@SETTINGS
@given(query_clauses(), st.sampled_from([str.upper, str.lower, str.title]), st.data())
def test_case_and_whitespace_do_not_matter(
    parts: list[str], case: object, data: st.DataObject
) -> None:
    text = " ".join(parts)
    q = parse_query(text, VOCAB)
    assert parse_query(case(text), VOCAB) == q  # type: ignore[operator]
    gaps = data.draw(st.sampled_from(["  ", "\t", " \n ", "   "]))
    assert parse_query(f"  {text.replace(' ', gaps)} ", VOCAB) == q


@SETTINGS
@given(query_clauses(quote_all=True), st.randoms(use_true_random=False))
def test_and_order_does_not_change_the_clauses(parts: list[str], rnd: object) -> None:
    shuffled = list(parts)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a = parse_query(" ".join(parts), VOCAB)
    b = parse_query(" AND ".join(shuffled), VOCAB)
    assert set(a.clauses) == set(b.clauses)


# --- words people type ------------------------------------------------------------------


def test_photo_words_wordnet_nouns_and_stop_words() -> None:
    q = parse_query("photos of my living room -dog", VOCAB)
    assert texts(q) == [["living room"], ["dog"]]
    term = q.positive[0].terms[0]
    assert term.resolution is not None and term.resolution.route == "photo"
    puppy = parse_query("puppies", VOCAB).terms[0]
    assert puppy.text == "puppy" and puppy.class_indices == tuple(range(151, 269))
    assert puppy.resolution is not None and puppy.resolution.route == "hypernym"


def test_phrase_is_spelt_before_its_words() -> None:
    q = parse_query("golden retreiver dog", VOCAB)
    assert texts(q) == [["golden retriever"], ["dog"]]
    (correction,) = q.corrections
    assert (correction.typed, correction.corrected) == ("golden retreiver", "golden retriever")
    assert str(q) == '"golden retriever" dog'
    assert parse_query(str(q), VOCAB) == q and parse_query(str(q), VOCAB).corrections == ()


def test_unweighted_classes_are_the_typical_ones_and_weights_are_kept() -> None:
    (clause,) = parse_query("restaurant", VOCAB).positive
    (term,) = clause.terms
    assert term.resolution is not None
    weights = dict(term.weighted)
    assert set(term.class_indices) == {i for i, w in weights.items() if w >= 0.7}
    assert set(term.class_indices) < set(weights)  # plate 0.5 is kept for a weighted store
    vector = clause.weight_vector()
    assert vector.shape == (1000,) and vector[VOCAB.index_of("n07579787")] == 0.5
    (tree,) = parse_query("tree", VOCAB).positive  # no class of "tree" is typical: the heaviest
    heaviest = dict(tree.terms[0].weighted)
    assert max(heaviest.values()) == 0.5
    assert set(tree.class_indices) == {i for i, w in heaviest.items() if w == 0.5}


def test_weight_vector_of_an_or_clause_takes_the_heaviest() -> None:
    (clause,) = parse_query("beach OR seashore", VOCAB).positive
    vector = clause.weight_vector()
    seashore = VOCAB.index_of("n09428293")
    sunscreen = VOCAB.index_of("n04357314")
    assert vector[seashore] == 1.0 and vector[sunscreen] == 0.5
    assert set(np.flatnonzero(vector)) >= set(clause.class_indices)


@SETTINGS
@given(st.lists(st.sampled_from(["puppy", "harbour", "kitchn", "living room", "beach", "-dog",
                                 "OR", "bathroom", "retreiver", "my", "photos", "of"]),
                min_size=1, max_size=6).map(" ".join))  # fmt: skip
def test_every_term_explains_itself(text: str) -> None:
    try:
        q = parse_query(text, VOCAB)
    except (QuerySyntaxError, UnknownConceptError):
        return
    for term in q.terms:
        res = term.resolution
        assert res is not None and res.key == term.text
        assert term.class_indices and set(term.class_indices) <= set(res.classes)
        assert res.concepts == term.concepts
    assert len(q.corrections) <= len(text.split())
    assert parse_query(str(q), VOCAB) == q
