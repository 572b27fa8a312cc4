"""The TOML writer, read back by tomllib."""

from __future__ import annotations

import tomllib
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from provisioning import tomlgen

scalars = st.one_of(
    st.text(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(),
)
keys = st.text(min_size=1, max_size=12)


@given(st.dictionaries(keys, scalars), st.dictionaries(keys, st.dictionaries(keys, scalars)))
def test_round_trip(top: dict[str, object], tables: dict[str, dict[str, object]]) -> None:
    document = {**{k: v for k, v in top.items() if k not in tables}, **tables}

    assert tomllib.loads(tomlgen.dumps(document)) == document


@given(st.lists(st.dictionaries(keys, scalars, min_size=1), min_size=1))
def test_arrays_of_tables_round_trip(items: list[dict[str, object]]) -> None:
    assert tomllib.loads(tomlgen.dumps({"terminal": items})) == {"terminal": items}


def test_lists_of_strings_and_dates() -> None:
    document = {"site": {"hosts": ["a", "b\x7f"], "start": date(2017, 5, 2)}}

    assert tomllib.loads(tomlgen.dumps(document)) == document
