"""Fusion weighs the dense list by how sure it is (issue 18): its best cosine.

A question whose best cosine to any chunk is as low as off-topic questions reach is a
dense guess; its keyword hits (a rare word met exactly) must not sink under it. A dense
list as sure as the evaluation sets' questions are fuses exactly as before.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from projectqa.server.retrieval.rank import Candidate, RankWeights, dense_confidence, fuse

WEIGHTS = RankWeights()
PLAIN = dataclasses.replace(WEIGHTS, dense_unsure=0.0, dense_sure=0.0)  # no confidence

KEYWORD = [(10, 2.6), (11, 2.3), (12, 2.0)]  # a few keyword hits of a rare word


def guess(best: float) -> list[tuple[int, float]]:
    """A dense list of 8 rows whose best cosine is ``best``."""
    return [(row, best - 0.01 * row) for row in range(8)]


def ranked(candidates: dict[int, Candidate]) -> list[int]:
    return [c.row for c in sorted(candidates.values(), key=lambda c: -c.score)]


def test_confidence_is_full_when_sure_and_least_when_unsure() -> None:
    assert dense_confidence(WEIGHTS.dense_sure, WEIGHTS) == pytest.approx(1.0)
    assert dense_confidence(0.9, WEIGHTS) == pytest.approx(1.0)
    assert dense_confidence(WEIGHTS.dense_unsure, WEIGHTS) == pytest.approx(WEIGHTS.dense_least)
    assert dense_confidence(-0.2, WEIGHTS) == pytest.approx(WEIGHTS.dense_least)
    middle = (WEIGHTS.dense_unsure + WEIGHTS.dense_sure) / 2
    assert dense_confidence(middle, WEIGHTS) == pytest.approx((1 + WEIGHTS.dense_least) / 2)
    assert dense_confidence(0.0, PLAIN) == 1.0  # switched off


def test_keyword_hits_lead_over_a_dense_guess() -> None:
    weak = guess(0.27)  # below every best cosine of a question with an answer

    plain, weighed = ranked(fuse(weak, KEYWORD, PLAIN)), ranked(fuse(weak, KEYWORD, WEIGHTS))

    assert plain[:5] == [0, 1, 2, 3, 4]  # rank fusion alone: the guess buries them
    assert weighed[:3] == [10, 11, 12]


def test_a_sure_dense_list_fuses_as_before() -> None:
    sure = guess(0.62)
    before, after = fuse(sure, KEYWORD, PLAIN), fuse(sure, KEYWORD, WEIGHTS)
    assert {r: c.score for r, c in after.items()} == {r: c.score for r, c in before.items()}


def test_a_dense_list_alone_keeps_its_order_and_scale() -> None:
    weak = guess(0.05)
    assert ranked(fuse(weak, [], WEIGHTS)) == list(range(8))
    assert fuse(weak, [], WEIGHTS)[0].score == pytest.approx(1.0)


def test_first_in_both_still_scores_one() -> None:
    weak = [(10, 0.27), *guess(0.26)[1:]]
    assert fuse(weak, KEYWORD, WEIGHTS)[10].score == pytest.approx(1.0)


def test_a_row_without_a_vector_scores_what_keyword_search_scores_it() -> None:
    has_vector = np.array([True] * 10 + [False] * 3)
    fused = fuse(guess(0.27), KEYWORD, WEIGHTS, has_vector)
    keyword_only = fuse([], KEYWORD, WEIGHTS)
    for row in (10, 11, 12):
        assert fused[row].score == pytest.approx(keyword_only[row].score)
