"""Write the API's OpenAPI document: ``python -m linkage.api.openapi tests/data/openapi.json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of an app with default settings (no database is touched)."""
    from linkage.api.app import create_app
    from linkage.api.settings import Settings

    return create_app(Settings(database_url="sqlite://"), run_migrations=False).openapi()


def openapi_text() -> str:
    return json.dumps(openapi_document(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = openapi_text()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
