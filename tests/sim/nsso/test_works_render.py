from datetime import date
from pathlib import Path

from sim.nsso.works import declared_site, load_works, render_works


def test_a_rendered_declaration_loads_back_as_itself(tmp_path: Path) -> None:
    site = declared_site("1Y102M7NZF7PZ", ["0403170701"],
                         date(2026, 1, 5), date(2026, 12, 18), ["24912345678901234"])  # fmt: skip
    path = tmp_path / "works.toml"
    path.write_text(render_works(site))
    assert load_works(path) == site
