"""The one check of positive numbers used by every domain's settings."""

from __future__ import annotations

import math

import pytest

from proteindsm.core.validation import positive_number
from proteindsm.errors import InputError


def test_positive_number_accepts_and_converts():
    assert positive_number("x", 2) == 2.0 and positive_number("x", "0.5") == 0.5
    assert positive_number("x", None, allow_none=True) is None


@pytest.mark.parametrize("value", [0, -1.0, "abc", None, True, math.inf, math.nan, [1]])
def test_positive_number_rejects_with_one_message(value):
    with pytest.raises(InputError, match=r"^sigma must be a positive number of Å, got "):
        positive_number("sigma", value, unit="Å")


def test_positive_number_message_names_null_and_the_note():
    with pytest.raises(InputError, match=r"^sampler.rho must be a positive number or null \(null: geometric\), got -2"):
        positive_number("sampler.rho", -2, allow_none=True, note="null: geometric")
