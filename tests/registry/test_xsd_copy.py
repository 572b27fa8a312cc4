"""The NSSO schemas we ship are exactly the team's reference copy."""

from pathlib import Path

from registry.xsd import PACKAGED_XSD_DIR
from tests.support.ci import skip_or_fail

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "nsso"


def test_shipped_schemas_equal_the_reference() -> None:
    if not REFERENCE.is_dir():
        skip_or_fail(f"no reference copy at {REFERENCE} (CI lays shared/ beside the clone)")
    shipped = {p.relative_to(PACKAGED_XSD_DIR): p.read_bytes()
               for p in PACKAGED_XSD_DIR.rglob("*") if p.is_file()}  # fmt: skip
    reference = {p.relative_to(REFERENCE): p.read_bytes()
                 for p in REFERENCE.rglob("*") if p.is_file()}  # fmt: skip
    assert shipped == reference
