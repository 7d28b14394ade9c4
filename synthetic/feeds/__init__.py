"""One module per partner source system. Each turns the true population and its needs into the rows
that system would hold, in that system's own delivery format (hard-coded here on purpose: the
generator plays the outside world and does not read the project's feed registry)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..dates import NEVER, age_years
from ..needs import Needs
from ..population import LEAD, Population


@dataclass
class Context:
    pop: Population
    needs: Needs
    rng_for: Callable[[str], np.random.Generator]
    w0: int
    w1: int
    shared: dict = field(default_factory=dict)  # ids one system shares with another (PNC ids, UPNs)

    def lead_of_household(self) -> np.ndarray:
        """The lead adult of each household (the mother in family households; the man who moved out
        in a household formed by a separation)."""
        if "lead" not in self.shared:
            p, hh = self.pop.persons, self.pop.households
            lead = np.full(len(hh), -1, np.int64)
            is_lead = p["role"].to_numpy() == LEAD
            lead[p["hid0"].to_numpy()[is_lead]] = np.flatnonzero(is_lead)
            m = self.pop.membership
            first_in = m.drop_duplicates("hid")  # first person to join a household formed later
            missing = lead[first_in["hid"].to_numpy()] < 0
            lead[first_in["hid"].to_numpy()[missing]] = first_in["pid"].to_numpy()[missing]
            self.shared["lead"] = lead
        return self.shared["lead"]


def members_at(pop: Population, hids: np.ndarray, dates: np.ndarray) -> pd.DataFrame:
    """People living in each household on each date: columns event (index into hids), pid, age."""
    ev = pd.DataFrame({"event": np.arange(len(hids)), "hid": hids, "date": dates})
    m = pop.membership[["pid", "hid", "from", "to"]]
    x = ev.merge(m, on="hid")
    x = x[(x["from"] <= x["date"]) & (x["date"] < x["to"])]
    x = x.drop_duplicates(["event", "pid"]).sort_values(["event", "pid"], kind="stable")
    dob = pop.persons["dob"].to_numpy()
    x = x.assign(age=age_years(dob[x["pid"].to_numpy()], x["date"].to_numpy()))
    return x[["event", "pid", "date", "age"]].reset_index(drop=True)


def weekday(days: np.ndarray) -> np.ndarray:
    """0 = Monday (1970-01-01 was a Thursday)."""
    return (np.asarray(days) + 3) % 7


def to_weekday(days: np.ndarray) -> np.ndarray:
    """Move weekend dates back to the Friday."""
    wd = weekday(days)
    return np.asarray(days) - np.where(wd >= 5, wd - 4, 0)


def close_after_need(end: np.ndarray, earliest: np.ndarray, need_to: np.ndarray, lag: np.ndarray) -> np.ndarray:
    """A service record's end when it follows its need: `lag` days after the need ended (never before `earliest`),
    or its own end if that comes first; a need still going leaves the end as it was."""
    return np.where(need_to < NEVER, np.minimum(end, np.maximum(need_to + lag, earliest)), end)


def pick(rng: np.random.Generator, options: list, probs: list[float], n: int) -> np.ndarray:
    p = np.asarray(probs, float)
    return np.asarray(options, dtype=object)[rng.choice(len(options), n, p=p / p.sum())]


def seq_ids(dates: np.ndarray, fmt: str, start: int, rng: np.random.Generator) -> np.ndarray:
    """Ids numbered in date order (as a case system allocates them), with small gaps."""
    n = len(dates)
    order = np.lexsort((np.arange(n), dates))
    numbers = np.empty(n, np.int64)
    numbers[order] = start + np.cumsum(rng.integers(1, 4, n))
    return np.array([fmt.format(v) for v in numbers.tolist()], dtype=object)
