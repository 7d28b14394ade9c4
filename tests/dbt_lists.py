"""The dbt project's own lists of models, read from its macros, so tests expect what the project declares instead of
a count (a council adding a feed adds it to these lists, and the tests follow)."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT

MACROS = REPO_ROOT / "dbt_project" / "macros"


def macro_list(file_name: str, macro: str) -> list[str]:
    """The quoted names a list-returning macro returns: macro_list("staging.sql", "person_models")."""
    text = (MACROS / file_name).read_text(encoding="utf-8")
    body = text[text.index(f"macro {macro}("):]
    names = re.findall(r"'(\w+)'", body[: body.index("endmacro")])
    assert names, f"{macro}() in macros/{file_name} lists nothing"
    return names


def person_models() -> list[str]:
    return macro_list("staging.sql", "person_models")


def event_models() -> list[str]:
    return macro_list("marts.sql", "event_models")
