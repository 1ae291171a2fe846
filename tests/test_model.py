"""The configuration refuses settings that would train a wrong model silently."""

from __future__ import annotations

import math

import pytest

from starlux.model import Lux


@pytest.mark.parametrize("kw, words", [
    ({"reg": math.nan}, "reg"), ({"reg": -1.0}, "reg"), ({"n_iter": 0}, "n_iter"),
    ({"folds": 1}, "folds"), ({"chunk_size": 0}, "chunk_size"),
    ({"fold_rounds": -1}, "fold_rounds"), ({"precision": "half"}, "precision"),
    ({"prior": "flat"}, "prior"), ({"clip": 0.0}, "clip"), ({"latents": 0}, "latents"),
])
def test_a_bad_setting_is_refused_with_its_name(kw, words):
    with pytest.raises(ValueError, match=words):
        Lux(**kw)
