"""The fictional area: postcode area FH (FH1..FH12), wards, LSOAs with IMD deciles, streets, UPRNs.

The geography is fixed (its own constant seed), not drawn from the run's seed, so that
seeds/geography/postcode_lookup.csv is a committed dbt seed covering every postcode any run can use.
Regenerate the seeds with `python -m synthetic.geography`.

Addresses are slots: each postcode has SLOTS delivery points (house numbers along its street, or flats
in a block); address index = postcode index * SLOTS + slot; UPRN = UPRN_BASE + address index.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

GEOGRAPHY_SEED = 20190101
SLOTS = 60
POSTCODES_PER_OUTWARD = 1200
UPRN_BASE = 100090000000
LA_NAME = "Fernshire"
SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds" / "geography"

# outward code -> (town, two ward names); wards in the old town centre are the most deprived.
OUTWARDS = {
    "FH1": ("Fernhallow", ["Fernhallow Central", "Castle Quay"]),
    "FH2": ("Fernhallow", ["Northgate", "Millfields"]),
    "FH3": ("Fernhallow", ["St Anne's", "Brookside"]),
    "FH4": ("Fernhallow", ["Holloway Park", "Westmoor"]),
    "FH5": ("Hatherby", ["Hatherby North", "Hatherby South"]),
    "FH6": ("Hatherby", ["Canal Ward", "Ridgeway"]),
    "FH7": ("Oakbridge", ["Oakbridge East", "Oakbridge West"]),
    "FH8": ("Millbeck", ["Millbeck", "Long Ashton"]),
    "FH9": ("Ravensworth", ["Ravensworth Town", "Abbey Fields"]),
    "FH10": ("Ravensworth", ["Priory", "Kingsmead"]),
    "FH11": ("Stainby", ["Stainby and Wold", "Low Moor"]),
    "FH12": ("Ashcombe", ["Ashcombe", "Upper Vale"]),
}
# mean IMD decile per outward (1 = most deprived), so need and deprivation cluster geographically
_OUTWARD_IMD = {"FH1": 2, "FH2": 3, "FH3": 4, "FH4": 6, "FH5": 3, "FH6": 5, "FH7": 6, "FH8": 7,
                "FH9": 4, "FH10": 7, "FH11": 8, "FH12": 9}
LSOAS_PER_WARD = 6
_UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))  # letters used in the inward unit

_STREET_STEMS = (
    "Acacia Alder Ash Aspen Beech Birch Blackthorn Bramble Cedar Cherry Chestnut Elm Fir Hawthorn Hazel Holly "
    "Juniper Larch Laurel Lime Maple Oak Poplar Rowan Sycamore Willow Yew Abbey Albert Alexandra Balmoral Beaconsfield "
    "Bridge Brunswick Cambridge Canal Castle Chapel Church Clarence Coronation Cromwell Derwent Devonshire Dover "
    "Duke Edinburgh Gladstone Grange Granville Grosvenor Hanover Harcourt Highfield Hillside Jubilee Kingsway "
    "Lancaster Leopold Manor Marlborough Meadow Mill Milton Nelson Newport Norfolk Orchard Park Peel Primrose "
    "Princess Queens Railway Regent Richmond Riverside Rutland Sandringham School Shakespeare Somerset Spring "
    "Stanley Station Tennyson Trafalgar Victoria Warwick Waterloo Wellington Westfield Windsor York Kestrel "
    "Heron Falcon Lark Swallow Wren Linnet Curlew Plover Mallard Osprey Fieldfare Bluebell Foxglove Heather "
    "Lavender Poppy Cowslip Teasel Clover Thistle Meadowsweet Sorrel Yarrow"
).split()
_STREET_TYPES = "Road Street Avenue Close Lane Drive Way Crescent Grove Gardens Terrace Place Walk Rise View".split()
_BLOCK_TYPES = "Court House Heights Mews Lodge".split()


@lru_cache(maxsize=1)
def postcodes() -> pd.DataFrame:
    """Every postcode of the area with its ward, LSOA, IMD decile, town and street (fixed)."""
    rng = np.random.default_rng(GEOGRAPHY_SEED)
    frames = []
    ward_no = 0
    for o_idx, (outward, (town, wards)) in enumerate(OUTWARDS.items()):
        # all well-formed inward codes "9AB", then a fixed sample of them, sorted as a postcode file would be
        inward_all = np.array([f"{d}{a}{b}" for d in range(10) for a in _UNIT_LETTERS for b in _UNIT_LETTERS])
        inward = np.sort(rng.choice(inward_all, POSTCODES_PER_OUTWARD, replace=False))
        sector = np.array([int(s[0]) for s in inward])
        ward_local = (sector >= 5).astype(int)  # sectors 0-4 one ward, 5-9 the other
        lsoa_local = rng.integers(0, LSOAS_PER_WARD, POSTCODES_PER_OUTWARD)
        # streets: runs of 1-3 consecutive postcodes share a street; a sixth of runs are blocks of flats
        run_len = rng.integers(1, 4, POSTCODES_PER_OUTWARD)
        run_id = np.repeat(np.arange(POSTCODES_PER_OUTWARD), run_len)[:POSTCODES_PER_OUTWARD]
        pos_in_run = np.arange(POSTCODES_PER_OUTWARD) - np.searchsorted(run_id, run_id)
        n_runs = run_id.max() + 1
        stems = rng.choice(len(_STREET_STEMS), n_runs)
        types = rng.choice(len(_STREET_TYPES), n_runs)
        flats = rng.random(n_runs) < 0.16
        block_types = rng.choice(len(_BLOCK_TYPES), n_runs)
        street = np.array([f"{_STREET_STEMS[s]} {_STREET_TYPES[t]}" for s, t in zip(stems, types)])[run_id]
        block = np.array([f"{_STREET_STEMS[s]} {_BLOCK_TYPES[t]}" for s, t in zip(stems, block_types)])[run_id]
        frames.append(pd.DataFrame({
            "postcode": [f"{outward} {i}" for i in inward],
            "outward_code": outward,
            "ward_index": ward_no + ward_local,
            "lsoa_index": (ward_no + ward_local) * LSOAS_PER_WARD + lsoa_local,
            "town": town,
            "street": street,
            "block": block,
            "is_flats": flats[run_id],
            "first_number": 1 + pos_in_run * SLOTS,
        }))
        ward_no += len(wards)
    pcs = pd.concat(frames, ignore_index=True)
    ward_names = [w for _, (_, ws) in OUTWARDS.items() for w in ws]
    ward_outward = [o for o, (_, ws) in OUTWARDS.items() for _ in ws]
    n_lsoa = len(ward_names) * LSOAS_PER_WARD
    lsoa_ward = np.arange(n_lsoa) // LSOAS_PER_WARD
    base = np.array([_OUTWARD_IMD[ward_outward[w]] for w in lsoa_ward], dtype=float)
    imd = np.clip(np.rint(base + rng.normal(0, 1.6, n_lsoa)), 1, 10).astype(int)
    pcs["ward_code"] = [f"E0599{i + 1:04d}" for i in pcs["ward_index"]]
    pcs["ward_name"] = [ward_names[i] for i in pcs["ward_index"]]
    pcs["lsoa_code"] = [f"E0199{i + 1:04d}" for i in pcs["lsoa_index"]]
    # LSOA names as ONS writes them: "<local authority> <MSOA number><letter>"
    pcs["lsoa_name"] = [f"{LA_NAME} {i // LSOAS_PER_WARD + 1:03d}{'ABCDEF'[i % LSOAS_PER_WARD]}" for i in pcs["lsoa_index"]]
    pcs["imd_decile"] = imd[pcs["lsoa_index"].to_numpy()]
    # usage order: a fixed shuffle, so a small run fills a spread of postcodes across every ward
    pcs["usage_rank"] = np.argsort(rng.permutation(len(pcs)))
    return pcs


def postcode_lookup() -> pd.DataFrame:
    cols = ["postcode", "outward_code", "ward_code", "ward_name", "lsoa_code", "lsoa_name", "imd_decile"]
    return postcodes()[cols]


def wards() -> pd.DataFrame:
    pcs = postcodes()
    out = (pcs.groupby(["ward_code", "ward_name", "outward_code", "town"], sort=True)
              .agg(postcodes=("postcode", "size"), lsoas=("lsoa_code", "nunique")).reset_index())
    out["local_authority"] = LA_NAME
    return out


def write_seeds(directory: Path = SEEDS_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    postcode_lookup().to_csv(directory / "postcode_lookup.csv", index=False, lineterminator="\n")
    wards().to_csv(directory / "wards.csv", index=False, lineterminator="\n")


def usable_addresses(n_needed: int) -> np.ndarray:
    """Address indexes a run may use: the first postcodes in usage order, about half their slots filled."""
    pcs = postcodes()
    n_pc = int(np.clip(np.ceil(n_needed * 2 / SLOTS), 20, len(pcs)))
    chosen = np.flatnonzero(pcs["usage_rank"].to_numpy() < n_pc)
    return (chosen[:, None] * SLOTS + np.arange(SLOTS)[None, :]).ravel()


def address_table(addr: np.ndarray) -> pd.DataFrame:
    """uprn, line1, town, postcode and IMD decile for address indexes (vectorised)."""
    pcs = postcodes()
    pc = addr // SLOTS
    slot = addr % SLOTS
    sub = pcs.iloc[pc]
    number = (sub["first_number"].to_numpy() + slot).astype(str)
    house = number.astype(object) + " " + sub["street"].to_numpy()
    flat = "Flat " + (slot + 1).astype(str).astype(object) + ", " + sub["block"].to_numpy()
    return pd.DataFrame({
        "uprn": (UPRN_BASE + addr).astype(np.int64),
        "line1": np.where(sub["is_flats"].to_numpy(), flat, house),
        "town": sub["town"].to_numpy(),
        "postcode": sub["postcode"].to_numpy(),
        "imd_decile": sub["imd_decile"].to_numpy(),
        "outward_code": sub["outward_code"].to_numpy(),
    })


if __name__ == "__main__":
    write_seeds()
    print(f"wrote {len(postcodes())} postcodes to {SEEDS_DIR}")
