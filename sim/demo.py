"""``sitegate-demo``: the whole site on one machine."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="sitegate-demo", description=__doc__).parse_args(argv)
    print("sitegate-demo: the demo site is not built yet (issue #8)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
