"""bench/eval_localization.py --structure: the rankings it compares and how it scores them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from projectqa.server.retrieval.structure import NAMED_SHARE, StructureWeights

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import eval_localization


def test_each_signal_is_measured_alone_at_its_share_even_when_off_by_default() -> None:
    variants = eval_localization.structure_variants(StructureWeights())

    assert variants["history (no structure)"] is None
    shares = {
        name: (w.callee, w.caller, w.tested, w.named, w.traced)
        for name, w in variants.items()
        if w is not None
    }
    defaults = StructureWeights()
    assert shares["+ neighbours (a)"] == (defaults.callee, defaults.caller, 0.0, 0.0, 0.0)
    assert shares["+ tests->code (b)"] == (0.0, 0.0, defaults.tested, 0.0, 0.0)
    # (c) lends for every question, a stack trace or not.
    assert shares["+ named defs (c)"] == (0.0, 0.0, 0.0, NAMED_SHARE, NAMED_SHARE)
    assert shares["+ structure (a+b+c)"][3:] == (NAMED_SHARE, NAMED_SHARE)
    assert variants["+ structure (as given)"] == defaults


def test_weights_are_given_as_name_value_pairs() -> None:
    weights = eval_localization.structure_weights("callee=0.3 head=5")
    assert (weights.callee, weights.head, weights.tested) == (0.3, 5, StructureWeights().tested)
    with pytest.raises(AttributeError):
        eval_localization.structure_weights("nonsense=1")


def test_ablation_rows_score_first_ranks() -> None:
    rows = eval_localization.ablation_rows({"v": [1, 3, 0, 12]})
    assert rows["v"]["acc@1"] == 0.25 and rows["v"]["acc@5"] == 0.5
    assert rows["v"]["acc@10"] == 0.5 and rows["v"]["questions"] == 4
    assert rows["v"]["mrr@10"] == pytest.approx((1 + 1 / 3) / 4)
