"""The plain-data model: the one latent-size grammar, the configuration's checks, and
the settings stored in model files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from starlux.spec import LuxConfig, OutputSpec, latent_grid, parse_latent_size, resolve_latents
from starlux.transforms import LinearTransform


def test_latent_sizes_are_integers_or_multiples_of_the_label_count():
    assert resolve_latents("4x", 3) == 12
    assert resolve_latents(7, 3) == 7
    with pytest.raises(ValueError):
        resolve_latents(2, 3)


@pytest.mark.parametrize("text, m, p", [("8", 3, 8), (np.int64(5), 3, 5), ("1x+1", 3, 4),
                                        (" 2X + 3 ", 4, 11), ("1.5x", 3, 4), ("2.5x", 3, 8)])
def test_every_spelling_of_the_grammar_gives_its_latent_size(text, m, p):
    assert resolve_latents(text, m) == p


def test_a_size_outside_the_grammar_or_below_m_plus_one_is_refused_saying_why():
    with pytest.raises(ValueError, match=r"one plus an offset like '1x\+1'; got 'x4'"):
        resolve_latents("x4", 3)
    with pytest.raises(ValueError, match=r"P=3 is too small.*P >= M \+ 1 = 4 for M=3"):
        resolve_latents("1x", 3)


def test_the_default_grid_is_valid_for_any_label_count():
    for m in (1, 3, 12):
        grid = latent_grid(LuxConfig().latent_grid, m)
        assert grid[0] == ("1x+1", m + 1)
        assert all(p >= m + 1 for _, p in grid)


def test_a_grid_raises_small_sizes_caps_large_ones_and_drops_repeats():
    assert latent_grid("1x, 2x,,4x,8", 2) == [("1x", 3), ("2x", 4), ("4x", 8)]
    assert latent_grid(["1x+1", "8x", "16x"], 3, cap=10) == [("1x+1", 4), ("8x", 10)]
    with pytest.raises(ValueError, match="empty latent grid"):
        latent_grid(" , ", 3)


def test_the_command_line_parse_keeps_the_text_of_multiples():
    assert parse_latent_size("12") == 12 and parse_latent_size(" 1x+1 ") == "1x+1"
    for bad in ("0", "0x", "abc"):
        with pytest.raises(ValueError):
            parse_latent_size(bad)


@pytest.mark.parametrize("kw, words", [
    ({"reg": -0.5}, r"reg \(Omega\) must be a finite number >= 0, got -0.5"),
    ({"clip": float("nan")}, "clip must be None or a number > 0"),
    ({"fold_rounds": -2}, "fold_rounds must be None or >= 0"),
    ({"transforms": {"flux": "spline"}}, "transforms: unknown transform 'spline'"),
    ({"prior": "flat"}, "prior must be 'empirical', 'l2' or 'none'"),
])
def test_a_bad_configuration_is_refused_naming_the_setting(kw, words):
    with pytest.raises(ValueError, match=r"^Lux: " + words):
        LuxConfig(**kw)


def test_precision_takes_the_one_vocabulary_and_reads_mixed_as_auto():
    assert LuxConfig(precision="mixed").precision == "auto"
    assert LuxConfig(precision="float32").precision == "float32"


def test_transforms_are_kept_by_output_name_and_linear_is_the_default():
    cfg = LuxConfig(transforms={"flux": "linear"})
    assert cfg.transforms == (("flux", LinearTransform()),)
    assert cfg.transform_for("flux") == LinearTransform()
    assert cfg.transform_for("label") == LinearTransform()
    assert LuxConfig(transforms={}).transforms is None


def test_settings_are_plain_values_that_rebuild_the_same_configuration():
    cfg = LuxConfig(latents="2x", reg=3.0, transforms={"flux": "linear"}, scatter=("flux",))
    settings = cfg.settings()
    assert settings["transforms"] == {"flux": ["linear", {}]}
    text = json.dumps(settings)  # what a model file stores
    back = json.loads(text)
    assert back["latents"] == "2x" and back["reg"] == 3.0 and back["latent_grid"][0] == "1x+1"
    for key in ("scatter", "latent_grid", "reg_grid"):  # JSON has lists, not tuples
        back[key] = tuple(back[key])
    back["transforms"] = {k: v[0] for k, v in back["transforms"].items()}
    assert LuxConfig(**back) == cfg


def test_an_output_spec_knows_its_dimension():
    spec = OutputSpec(name="label", kind="label", names=("TEFF", "LOGG"), wavelength=None,
                      center=np.zeros(2), scale=np.ones(2))
    assert spec.dim == 2 and spec.transform == LinearTransform() and spec.limits is None
