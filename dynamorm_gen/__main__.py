"""The ``dynamorm-gen`` command (also ``python -m dynamorm_gen``): the CLI, or, when the
compiler's dependencies are not installed, how to install them.

A Lambda installs ``dynamorm-gen`` alone, which needs only the standard library; the compiler
and the CLI need the ``cli`` extra: ``pip install "dynamorm-gen[cli]"``.
"""

from __future__ import annotations

import importlib.util
import sys

# Import names of the compiler's dependencies (the ``cli`` extra).
CLI_REQUIREMENTS = ("click", "jinja2", "yaml", "jsonschema")


def main() -> None:
    missing = [n for n in CLI_REQUIREMENTS if importlib.util.find_spec(n) is None]
    if missing:
        sys.stderr.write(
            "dynamorm-gen: the compiler needs packages that are not installed"
            f" ({', '.join(missing)}); install them with: pip install"
            ' "dynamorm-gen[cli]"\n'
        )
        sys.exit(2)
    from dynamorm_gen.cli import run

    run()


if __name__ == "__main__":
    main()
