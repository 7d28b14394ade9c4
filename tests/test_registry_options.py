"""Feed options that are registry (feeds.yml) settings, not code: `historic: true` and `identifier:` on a column,
`person_keyed: false` on a feed. A council adding a feed sets them in feeds.yml; a bad value fails the load.

The raw gate tests land real files with the real landing asset and run the real gate (helpers from
tests/test_gates.py); the registry is swapped for one holding the feed under test, as if feeds.yml declared it.
Assertions name expectations and count rows; no test prints a value from a row.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from expectations.identifiers import DESCRIPTIONS, identifier_kind, is_historic, is_valid
from linkage.cluster import LIST_RULES, cluster, event_keyed_systems
from orchestration.defs.landing.assets import build_landing_asset
from orchestration.defs.quality.checks import build_raw_gate_check
from orchestration.lib import feeds
from orchestration.lib.feeds import IDENTIFIER_KINDS, REGISTRY_PATH, Feed, RegistryError, _parse_feed, load_registry
from orchestration.lib.resources import build_resources
from orchestration.lib.settings import Settings
from tests.test_gates import PERSONS, failed, nhs_number, person, persons_downstream, query

REAL_REGISTRY = feeds.registry()


@pytest.fixture
def use_registry(monkeypatch):
    """Swap the project registry for one with the given feeds added or replaced (what feeds.yml would say)."""
    def use(*changed: Feed) -> None:
        swapped = {**REAL_REGISTRY, **{f.name: f for f in changed}}
        monkeypatch.setattr(feeds, "registry", lambda: swapped)
    return use


def with_column(feed: Feed, raw_name: str, **changes) -> Feed:
    return replace(feed, columns=tuple(replace(c, **changes) if c.raw_name == raw_name else c for c in feed.columns))


def gate_run(settings: Settings, feed: Feed, rows: list[list[str]]):
    """Land one csv file of `feed` (its own header) and run its raw gate, then the stand-in downstream asset."""
    path = settings.landing_dir / feed.name / f"{feed.name}_2026-01-31.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([",".join(feed.header)] + [",".join(r) for r in rows]) + "\n", encoding="utf-8")
    result = dg.materialize([build_landing_asset(feed), build_raw_gate_check(feed), persons_downstream],
                            resources=build_resources(settings), raise_on_error=False)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "raw_gate"]
    return evaluation, {e.asset_key for e in result.get_asset_materialization_events()}


# --- historic: true ---------------------------------------------------------------------------------------


def test_a_historic_date_column_passes_the_raw_gate_with_dates_before_2000_and_keeps_its_upper_bound(
        tmp_path, use_registry):
    # RECORD_UPDATED stands in for a tenancy start: every value 1995, and one after the delivery
    rows = [person(i, updated="01/01/1995") for i in range(300)] + [person(300, updated="01/01/2099")]
    plain, plain_materialised = gate_run(Settings(data_dir=tmp_path / "plain"), PERSONS, rows)
    # the same delivery without the key: an event date before 2000 blocks it (what a new feed hit)
    assert "event_date_in_window(record_updated)" in failed(plain, "errors")
    assert persons_downstream.key not in plain_materialised

    historic = with_column(PERSONS, "record_updated", historic=True)
    use_registry(historic)
    settings = Settings(data_dir=tmp_path / "historic")
    evaluation, materialised = gate_run(settings, historic, rows)
    assert failed(evaluation, "errors") == set()
    # 1 of 301 after the delivery: the not-after-delivery bound still holds (a warning under the 1% error share)
    assert failed(evaluation, "warnings") == {"event_date_in_window(record_updated)"}
    assert persons_downstream.key in materialised
    thresholds = {t for (t,) in query(settings, """select threshold from quality.validation_results
                                                  where expectation = 'event_date_in_window'
                                                  and "column" = 'record_updated'""")}
    assert thresholds and all("not before 1900-01-01" in t for t in thresholds)


def test_historic_comes_from_the_registry():
    relationships = REAL_REGISTRY["csc_relationships"]
    assert [c.raw_name for c in relationships.columns if is_historic(c)] == ["start_date"]
    assert [(f.name, c.raw_name) for f in REAL_REGISTRY.values() for c in f.columns if is_historic(c)] == [
        ("csc_relationships", "start_date")]


# --- identifier: ------------------------------------------------------------------------------------------


def renamed_nhs_number(**identifier) -> Feed:
    """csc_persons with NHS_NUMBER delivered as NHS_NO, a spelling the name-based defaults do not know."""
    return with_column(PERSONS, "nhs_number", name="NHS_NO", **identifier)


def test_an_identifier_key_has_a_differently_named_column_checked_as_that_identifier(tmp_path, use_registry):
    # most values malformed: the column holds something else, an error
    rows = [person(i)[:10] + ["12345" if i % 3 else nhs_number(i)] + person(i)[11:] for i in range(100)]
    plain = renamed_nhs_number()
    use_registry(plain)
    unchecked, _ = gate_run(Settings(data_dir=tmp_path / "plain"), plain, rows)
    # without the key nhs_no is no identifier: nothing checks it (what a new feed hit)
    assert unchecked.passed and not any(e.startswith("nhs_number_valid") for e in failed(unchecked, "warnings"))

    declared = renamed_nhs_number(identifier="nhs_number")
    use_registry(declared)
    evaluation, materialised = gate_run(Settings(data_dir=tmp_path / "declared"), declared, rows)
    assert failed(evaluation, "errors") == {"nhs_number_valid(nhs_no)"}
    assert persons_downstream.key not in materialised


def test_identifier_kinds_by_key_and_by_name(use_registry):
    declared = renamed_nhs_number(identifier="nhs_number")
    [column] = [c for c in declared.columns if c.name == "NHS_NO"]
    assert identifier_kind(column) == "nhs_number"
    assert identifier_kind(replace(column, identifier=None)) is None
    # the name-based defaults need no key: every identifier the project's feeds hold is found without one
    assert not any(c.identifier for f in REAL_REGISTRY.values() for c in f.columns)
    found = {(f.name, c.raw_name): identifier_kind(c) for f in REAL_REGISTRY.values() for c in f.columns
             if identifier_kind(c)}
    assert {k: v for k, v in found.items() if v != "postcode"} == {
        ("csc_persons", "nhs_number"): "nhs_number", ("health_services", "nhs_number"): "nhs_number",
        ("dwp_benefits", "nino"): "ni_number", ("housing_events", "ni_number"): "ni_number",
        ("school_roll", "upn"): "upn", ("school_attendance", "upn"): "upn", ("school_exclusions", "upn"): "upn"}
    assert {feed for (feed, _), v in found.items() if v == "postcode"} == {
        "csc_persons", "early_help_episodes", "school_roll", "police_incidents", "yjs_outcomes", "dwp_benefits",
        "health_services", "housing_events", "programme_cases"}
    # by raw name alone: the name-based defaults only (a declaration belongs to its feed's column)
    assert identifier_kind("nhs_no") is None and identifier_kind("nino") == "ni_number"


def test_every_identifier_kind_the_registry_accepts_has_a_check():
    assert set(IDENTIFIER_KINDS) == set(DESCRIPTIONS)
    for kind in IDENTIFIER_KINDS:
        assert is_valid(kind, "x") is False  # a kind with no check would raise


# --- bad values fail the load, naming the feed and column -------------------------------------------------


def _spec(**column) -> dict:
    return {"system": "test", "record_key": ["ID"], "file_pattern": "t_*.csv", "format": "csv",
            "columns": [{"name": "ID", "type": "string", "required": True},
                        {"name": "Tenancy Start", "type": "date", "format": "%Y-%m-%d"},
                        {"name": "Ref No", "type": "string"}, {"name": "Balance", "type": "decimal"}, column]}


@pytest.mark.parametrize(("column", "message"), [
    ({"name": "NHS No", "type": "string", "identifier": "nhs"},
     "feed arrears: column 'NHS No' has identifier: 'nhs', not one of ['nhs_number', 'ni_number', 'upn', 'postcode']"),
    ({"name": "NHS No", "type": "integer", "identifier": "nhs_number"},
     "feed arrears: column 'NHS No' has identifier: nhs_number but type integer"),
    ({"name": "Landlord", "type": "string", "historic": True},
     "feed arrears: column 'Landlord' has historic: true but type string"),
    ({"name": "Moved In", "type": "date", "format": "%Y-%m-%d", "historic": "yes"},
     "feed arrears: column 'Moved In' has historic: 'yes', not true or false"),
])
def test_a_bad_column_option_is_a_clear_load_error(column, message):
    with pytest.raises(RegistryError) as error:
        _parse_feed("arrears", _spec(**column))
    assert message in str(error.value)


def test_good_options_load():
    feed = _parse_feed("arrears", {**_spec(name="NHS No", type="string", identifier="nhs_number"),
                                   "person_keyed": False})
    assert not feed.person_keyed and feed.columns[-1].identifier == "nhs_number"
    assert _parse_feed("arrears", _spec(name="Since", type="timestamp", format="%Y-%m-%d %H:%M",
                                        historic=True)).columns[-1].historic


def _registry_file(tmp_path: Path, old: str, new: str) -> Path:
    """The project's feeds.yml with one line changed, as a council engineer would edit it."""
    text = REGISTRY_PATH.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path = tmp_path / "feeds.yml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_a_bad_value_in_feeds_yml_fails_the_registry_load(tmp_path):
    with pytest.raises(RegistryError, match="feed csc_relationships: column 'RELATIONSHIP' has historic: true"):
        load_registry(_registry_file(tmp_path, "{name: RELATIONSHIP, type: string,",
                                     "{name: RELATIONSHIP, type: string, historic: true,"))
    with pytest.raises(RegistryError, match="feed housing_events: person_keyed: 'no', not true or false"):
        load_registry(_registry_file(tmp_path, "person_keyed: false", "person_keyed: 'no'"))
    with pytest.raises(RegistryError, match="feed health_services: column 'NHS Number' has identifier: 'NHS'"):
        load_registry(_registry_file(tmp_path, "{name: NHS Number, type: string}",
                                     "{name: NHS Number, type: string, identifier: NHS}"))


def test_a_system_whose_feeds_disagree_on_person_keyed_fails_the_load(tmp_path):
    # the one-record-per-system rule is per system: housing cannot be both
    path = _registry_file(tmp_path, "  programme_cases:\n    system: programme",
                          "  programme_cases:\n    system: housing")
    with pytest.raises(RegistryError, match=r"system housing: feeds \['housing_events'\] have person_keyed: false "
                                            r"but \['programme_cases'\] do not"):
        load_registry(path)


# --- person_keyed: false ----------------------------------------------------------------------------------


def _twins(system: str, nhs_number: str | None = "9434765919") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two records of one system, same surname, DOB, sex and NHS number, different forenames, joined by a strong
    edge: a person-keyed system registered two people (twins, one carrying the other's NHS number); an event-keyed
    one may hold one person's two events (the shared NHS number lets different forenames merge across systems)."""
    ids = [f"{i:032x}" for i in range(2)]
    records = pd.DataFrame({"person_record_id": ids, "source_system": system, "first_name_canonical": ["AMELIA", "AVA"],
                            "surname": "B", "nhs_number": nhs_number, "ni_number": None, "upn": None,
                            "dob": "20150101", "sex": "F"})
    edges = pd.DataFrame({"person_record_id_l": ids[:1], "person_record_id_r": ids[1:],
                          "match_weight": np.full(1, 20.0), "match_probability": 1.0})
    return records, edges


def clusters(records: pd.DataFrame, edges: pd.DataFrame, **kwargs) -> int:
    return cluster(records, edges, threshold=6.0, **kwargs).cluster_of["cluster_root"].nunique()


def test_event_keyed_systems_come_from_the_registry(use_registry):
    assert REAL_REGISTRY["housing_events"].person_keyed is False
    assert event_keyed_systems() == feeds.event_keyed_systems() == frozenset({"housing"})
    assert clusters(*_twins("housing")) == 1  # exempt: same-system forenames are no conflict
    assert clusters(*_twins("rent_arrears")) == 2  # a new system is held to one record per person...

    arrears = replace(PERSONS, name="rent_arrears", system="rent_arrears", person_keyed=False)
    use_registry(arrears)
    assert event_keyed_systems() == frozenset({"housing", "rent_arrears"})
    assert clusters(*_twins("rent_arrears")) == 1  # ...until its feed says person_keyed: false
    use_registry(replace(REAL_REGISTRY["housing_events"], person_keyed=True))
    assert clusters(*_twins("housing")) == 2


def test_linking_a_list_never_reads_the_registry(monkeypatch):
    # `familyhub link` clusters a list with the same-system rules off: it must not need the registry
    def unavailable():
        raise AssertionError("the registry was read")
    monkeypatch.setattr(feeds, "registry", unavailable)
    # the rules ran (twins stay apart: in a list a forename difference needs a shared identifier)
    assert clusters(*_twins("list", nhs_number=None), rules=LIST_RULES) == 2


def test_a_misspelt_key_fails_the_load_naming_it():
    """`identifer: nhs_number` would otherwise be ignored, and the column go unchecked."""
    with pytest.raises(RegistryError, match=r"feed t: column 'NHS' has unknown keys \['identifer'\]"):
        _parse_feed("t", _spec(name="NHS", type="string", identifer="nhs_number"))
    with pytest.raises(RegistryError, match=r"feed t: unknown keys \['person_keyd'\]"):
        _parse_feed("t", {**_spec(name="NHS", type="string"), "person_keyd": False})
