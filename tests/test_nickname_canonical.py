"""A forename's canonical form is the END of its nickname chain, in both places that carry the SQL: the
warehouse's model (int_person_records_standardised, its `nicknames` CTE run here on its own, between its
marker comments) and `familyhub link` / `match` (linkage.standardise). Joe -> Joseph -> Yusuf gives Joe and
Joseph one form; an ambiguous nickname (Al -> Alan, Albert) must not make Alan and Albert one; a cycle ends.
Run on the committed seed and on small hand-made seeds, in memory."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import jinja2
import pandas as pd
import pytest

import linkage.standardise as standardise_module
from linkage.standardise import standardise

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_SQL = (REPO_ROOT / "dbt_project" / "models" / "intermediate" / "person_records"
             / "int_person_records_standardised.sql")
SEED_CSV = REPO_ROOT / "seeds" / "nicknames.csv"
BEGIN, END = "-- nickname forms: begin", "-- nickname forms: end"

SHARE_A_FORM = [("JOE", "JOSEPH"), ("JACK", "JOHN"), ("ANNE", "ANN"), ("NANCY", "ANNE"), ("STEVE", "STEPHEN"),
                ("BILL", "WILLIAM"), ("KATE", "KATHERINE"), ("CATHERINE", "KATHERINE")]
STAY_APART = [("JOHN", "JAMES"), ("MARY", "MARGARET"), ("ALAN", "ALBERT"), ("HENRY", "HAROLD"), ("JOSEPH", "JOHN"),
              ("EMMA", "EMILY"), ("THOMAS", "TIMOTHY"), ("MAHMOUD", "MOHAMMED"), ("MAHMOOD", "MUHAMMAD")]


def model_canonical_forms(seed_csv: Path) -> dict[str, str]:
    """name -> canonical form, by the model's own `nickname_pairs` and `nicknames` CTEs on seed_csv."""
    model = MODEL_SQL.read_text(encoding="utf-8")
    assert model.count(BEGIN) == 1 and model.count(END) == 1, "the model's nickname markers moved"
    ctes = model[model.index(BEGIN):model.index(END)].strip().rstrip(",")
    seed = f"read_csv('{seed_csv.as_posix()}', header = true, all_varchar = true)"
    sql = jinja2.Template(ctes).render(ref=lambda name: seed)
    with duckdb.connect(":memory:") as con:
        return dict(con.sql(f"with {sql} select name, canonical from nicknames").fetchall())


def list_canonical_forms(names, seed_csv: Path, monkeypatch) -> dict[str, str]:
    """first name -> first_name_canonical from linkage.standardise on a list of those names, with seed_csv
    as its nicknames seed."""
    monkeypatch.setattr(standardise_module, "NICKNAMES_CSV", seed_csv)
    names = sorted(set(names))
    raw = pd.DataFrame({"source": "s", "record_id": [str(i) for i in range(len(names))], "first_name": names})
    out = standardise(raw).to_pandas()
    return dict(zip(out["first_name"], out["first_name_canonical"]))


def form(mapping: dict[str, str], name: str) -> str:
    return mapping.get(name, name)  # a name the seed does not map is its own form, as the models join it


@pytest.fixture(scope="module")
def model_forms() -> dict[str, str]:
    return model_canonical_forms(SEED_CSV)


@pytest.fixture
def list_forms(model_forms, monkeypatch) -> dict[str, str]:
    return list_canonical_forms([*model_forms, *model_forms.values()], SEED_CSV, monkeypatch)


def test_model_maps_no_canonical_form_on_and_keeps_distinct_names_apart(model_forms):
    assert len(model_forms) > 1000  # the committed seed, not an empty read
    assert [name for name, canonical in model_forms.items() if form(model_forms, canonical) != canonical] == []
    for a, b in SHARE_A_FORM:
        assert form(model_forms, a) == form(model_forms, b), (a, b)
    for a, b in STAY_APART:
        assert form(model_forms, a) != form(model_forms, b), (a, b)


def test_list_standardisation_gives_the_models_forms(model_forms, list_forms):
    # every seed name and form the list cleaning keeps as it is (JOE-JOE loses its hyphen) gets the model's form
    kept = [name for name in model_forms if name in list_forms]
    assert len(kept) > 0.95 * len(model_forms)
    assert {name: list_forms[name] for name in kept} == {name: model_forms[name] for name in kept}
    assert [c for c in set(model_forms.values()) if c in list_forms and list_forms[c] != c] == []
    for a, b in SHARE_A_FORM:
        assert list_forms[a] == list_forms[b], (a, b)
    for a, b in STAY_APART:
        assert list_forms[a] != list_forms[b], (a, b)


# hand-made seed: a chain, an ambiguous nickname, a pair given as each other's form, a 3-cycle with a tail,
# (Ada leads into it and sorts before it: the cycle's first name wins), a name listed as its own form, a name
# with accents
TOY_SEED = [("Ozzy", "Oswin"), ("Oswin", "Oswald"),
            ("Al", "Alan"), ("Al", "Albert"), ("Bert", "Albert"),
            ("Catherine", "Katherine"), ("Katherine", "Catherine"), ("Kate", "Katherine"),
            ("Brin", "Cato"), ("Cato", "Dyfan"), ("Dyfan", "Brin"), ("Eppie", "Dyfan"), ("Ada", "Eppie"),
            ("Gwen", "Gwen"), ("Jose", "Joseph"), ("José", "Jose")]
TOY_FORMS = {"OZZY": "OSWALD", "OSWIN": "OSWALD", "OSWALD": "OSWALD",
             "AL": "ALAN", "ALAN": "ALAN", "ALBERT": "ALBERT", "BERT": "ALBERT",
             "CATHERINE": "CATHERINE", "KATHERINE": "CATHERINE", "KATE": "CATHERINE",
             "BRIN": "BRIN", "CATO": "BRIN", "DYFAN": "BRIN", "EPPIE": "BRIN", "ADA": "BRIN",
             "GWEN": "GWEN", "JOSE": "JOSEPH", "JOSEPH": "JOSEPH"}


@pytest.fixture
def toy_seed(tmp_path) -> Path:
    path = tmp_path / "nicknames.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "canonical", "kind"])
        writer.writerows((name, canonical, "nickname") for name, canonical in TOY_SEED)
    return path


def test_model_resolves_chains_cycles_and_ambiguity_on_a_hand_made_seed(toy_seed):
    forms = model_canonical_forms(toy_seed)
    assert {name: form(forms, name) for name in TOY_FORMS} == TOY_FORMS


def test_list_standardisation_resolves_them_alike(toy_seed, monkeypatch):
    assert list_canonical_forms(TOY_FORMS, toy_seed, monkeypatch) == TOY_FORMS
