"""NSSO's remarks and error codes in words, each once, with what to do."""

from __future__ import annotations

from controller import nsso_texts
from registry import xsd

NOT_BUILDER = "COMPANY IS NOT KNOWN  AS BUILDER OR  SUBCONTRACTOR IN THIS DUC"


def test_every_remark_of_the_schema_has_words_and_an_action() -> None:
    assert set(xsd.remarks()) == set(nsso_texts.REMARKS)
    for remark in xsd.remarks():
        found = nsso_texts.advice(remark)
        assert found is not None and found.meaning and found.action


def test_a_remark_is_told_in_words_with_what_to_do() -> None:
    [line] = nsso_texts.explain([NOT_BUILDER])
    assert "not declared on this site" in line and "declaration of works" in line
    assert "SUBCONTRACTOR" not in line


def test_an_error_code_in_remarks_and_last_error_is_shown_once() -> None:
    lines = nsso_texts.explain(
        ["LIMOSA_ID_INACTIVE"], "LIMOSA_ID_INACTIVE: LimosaId is not active at this date"
    )
    assert lines == [str(nsso_texts.ERROR_CODES["LIMOSA_ID_INACTIVE"])]
    assert "Limosa declaration" in lines[0] and "L1" in lines[0]


def test_an_unknown_code_or_error_is_shown_as_it_came() -> None:
    assert nsso_texts.explain(["XYZ_NEW"], "http_503: registry answered HTTP 503") == [
        "XYZ_NEW",
        "http_503: registry answered HTTP 503",
    ]


def test_several_errors_in_one_last_error_each_get_their_words() -> None:
    lines = nsso_texts.explain([], "INSS_INVALID: bad; WORKPLACE_UNKNOWN: no such works")
    assert len(lines) == 2 and "national number" in lines[0] and "workplace_id" in lines[1]


def test_a_remark_repeated_in_the_last_error_is_shown_once() -> None:
    assert len(nsso_texts.explain([NOT_BUILDER], f"FAILED: {NOT_BUILDER}")) == 1
