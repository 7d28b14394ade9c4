"""Name pools with a realistic frequency shape, by naming culture, sex and birth cohort.

Weights fall off with rank (Zipf-like), so common pairs such as "Jack Smith" collide often, while a
long tail of toponymic surnames keeps most families distinguishable. A few names carry accents
(Zoë, Chloé, Renée, Gonçalves) so cp1252 and UTF-8 feeds both get exercised; every name here is
encodable in cp1252.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

NICKNAMES_CSV = Path(__file__).resolve().parents[1] / "seeds" / "nicknames.csv"

CULTURES = ["british", "south_asian", "east_european", "african", "european"]
CULTURE_SHARES = np.array([0.80, 0.09, 0.04, 0.04, 0.03])

# Birth cohorts for British forenames: born before 1975, 1975-1999, 2000 onwards.
COHORT_BOUNDS = [1975, 2000]

_BRIT_M = [
    # born before 1975
    "David John Michael Paul Peter Robert Stephen Mark Andrew Richard Christopher Ian Anthony Kevin Gary Alan "
    "Brian Colin Keith Graham Philip Martin Steven William James Thomas George Kenneth Raymond Terence Dennis Roy "
    "Derek Barry Trevor Geoffrey Malcolm Neil Nigel Simon Timothy Edward Frank Ronald Patrick Leslie Stuart Roger "
    "Jeffrey Dave Carl Wayne Tony Glen Clive Russell Howard Frederick Albert Arthur Harold Norman Donald Douglas",
    # 1975-1999
    "Daniel James Matthew Christopher Thomas Michael David Andrew Richard Lee Craig Ryan Adam Jamie Mark Jonathan "
    "Robert Paul Stephen Scott Benjamin Samuel Luke Ashley Dean Carl Wayne Gareth Liam Kieran Joshua Jordan Nathan "
    "Jack Alexander Sean Shaun Darren Jason Stuart Steven Simon Martin Gavin Aaron Anthony Peter William Joseph "
    "Philip Ross Marc Neil Kevin Karl Bradley Callum Connor Lewis Dominic Edward Oliver Elliott Christian Tom",
    # 2000 onwards
    "Oliver Jack Harry George Noah Charlie Jacob Alfie Freddie Oscar Leo Thomas Joshua James William Archie Henry "
    "Theo Max Isaac Ethan Lucas Logan Arthur Teddy Finley Mason Riley Harrison Samuel Daniel Joseph Edward Tommy "
    "Alexander Dylan Reggie Jenson Ronnie Frankie Louie Toby Luca Elijah Jaxon Tyler Kai Callum Lewis Liam Jayden "
    "Ryan Alex Adam Benjamin Sebastian Albie Rory Hugo Ellis Harley Bobby Jake Kian Ollie Zachary Matthew Nathan",
]
_BRIT_F = [
    "Susan Margaret Patricia Linda Christine Elizabeth Karen Julie Jacqueline Janet Carol Sandra Deborah Tracey "
    "Jennifer Barbara Mary Jean Pauline Joan Valerie Gillian Lynn Angela Alison Helen Sarah Catherine Dorothy Brenda "
    "Maureen Sheila Anne Diane Wendy Jane Kathleen Irene Doreen Ann Beverley Sharon Denise Lesley Marion Rosemary "
    "Shirley Elaine Hazel Joyce Sylvia June Eileen Rita Frances Teresa Yvonne Heather Judith Marilyn Gwendolyn",
    "Sarah Emma Laura Rebecca Gemma Claire Nicola Amy Lisa Rachel Hannah Samantha Charlotte Louise Kelly Stacey "
    "Jessica Lauren Katie Danielle Jennifer Victoria Natalie Michelle Joanne Kerry Hayley Jade Leanne Emily Sophie "
    "Amanda Helen Zoë Kirsty Stephanie Elizabeth Catherine Lucy Naomi Chloe Kathryn Jodie Melissa Donna Rachael "
    "Amber Abigail Holly Katherine Alexandra Kimberley Carly Vicky Leah Georgina Jasmine Sian Becky Renée Rosie",
    "Olivia Amelia Isla Ava Emily Isabella Mia Poppy Ella Lily Sophia Grace Evie Freya Charlotte Ruby Ivy Willow "
    "Florence Rosie Sophie Daisy Phoebe Jessica Chloe Millie Evelyn Sienna Harper Matilda Alice Elsie Lucy Holly "
    "Erin Scarlett Isabelle Eva Maisie Layla Imogen Zoë Chloé Esme Bella Hallie Thea Ellie Aria Maya Elizabeth "
    "Heidi Niamh Lola Emilia Darcy Lottie Amber Megan Paige Eleanor Hannah Georgia Molly Katie Summer Ellie-Mae",
]
_OTHER = {
    ("south_asian", "M"): "Mohammed Muhammad Ali Omar Ibrahim Yusuf Hassan Hamza Imran Asif Tariq Zain Ahmed Adam "
    "Bilal Faisal Kamran Nadeem Arjun Raj Sanjay Amit Rohan Vikram Harpreet Gurpreet Jaspreet Sukhdeep Aryan Ayaan "
    "Rayyan Zakariya Idris Usman Abdullah Ismail Sajid Shahid",
    ("south_asian", "F"): "Aisha Fatima Maryam Zainab Amina Zara Ayesha Nasreen Shazia Priya Anjali Sunita "
    "Manpreet Harleen Simran Noor Hafsa Khadija Sana Yasmin Farah Rukhsana Samina Nadia Alisha Inaaya Anaya "
    "Parveen Shabana Hina Ruqayyah Safiya Mehreen Kiran Neha",
    ("east_european", "M"): "Jakub Piotr Tomasz Krzysztof Pawel Marek Andrzej Michal Lukasz Kamil Adrian Mateusz "
    "Bartosz Dawid Szymon Filip Ionut Andrei Mihai Alexandru Gabriel Darius Vasile Marius Oliwer Nikola",
    ("east_european", "F"): "Anna Katarzyna Agnieszka Magdalena Joanna Monika Ewa Aleksandra Natalia Zuzanna "
    "Julia Zofia Maja Hanna Oliwia Ioana Elena Andreea Maria Gabriela Alina Roxana Daria Wiktoria Amelia Lena",
    ("african", "M"): "Emmanuel Daniel Samuel David Michael Joseph Chinedu Oluwaseun Kwame Kofi Tunde Femi Ade "
    "Chidi Ikenna Musa Abdi Mohamed Yusuf Elijah Isaac Jayden Malachi Tobi Joshua Nathaniel Kayode",
    ("african", "F"): "Grace Blessing Esther Faith Mercy Abigail Precious Chioma Ngozi Funmilayo Amara Adaeze "
    "Folake Ama Efua Hodan Amina Fatima Sarah Ruth Deborah Joy Tiwa Zara Ife Temi Favour Hope",
    ("european", "M"): "José João Luís André Nuno Pedro Rui Marco Luca Giuseppe Antonio Francesco Matteo Carlos "
    "Javier Pablo Miguel Jérôme François Hélio Noël Loïc Rémi Sébastien Stéphane Gonçalo",
    ("european", "F"): "Maria Ana Inês Beatriz Sofia Giulia Francesca Chiara Elena Lucia Carmen Isabel Marta "
    "Amélie Hélène Noémie Anaïs Céline Chloé Zoé Renée Maëlle Léa Margaux Aurélie Mónica Raquel",
}

_BRIT_SURNAMES = (
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson Wright Walker "
    "White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin Cooper Hill Ward Morris "
    "Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson Davis Parker Price Bennett Young "
    "Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan "
    "Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason "
    "Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher "
    "Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson Howard Andrews Stewart "
    "Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer Gill "
    "Dawson Ball Burton O'Brien Watts Rose Booth Perry Ryan Grant Wells Armstrong Francis Rees Hayes Hart Hudson "
    "Newman Barrett Webster Hunter Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland "
    "Hawkins Harding Porter Robertson Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane Cooke Bates "
    "Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross Cross Long Freeman Warren Nicholls Hamilton "
    "Byrne Sutton McDonald Yates Hodgson Robson Curtis Hopkins O'Connor Harper Coleman Watkins Moss McCarthy "
    "Chambers O'Neill Griffin Sharp Hardy Wheeler Potter Osborne Johnston Gordon Doyle Wallace George Jordan Hutchinson "
    "Rowe Burke May Pritchard Gilbert Willis Higgins Read Miles Stevenson Stephenson Hammond Arnold Buckley Walters "
    "Hewitt Barber Nelson Slater Austin Sullivan Whitehead Mann Frost Lambert Stephens Blake Akhtar Lynch Goodwin "
    "Barton Woodward Thomson Cunningham Quinn Barnett Baxter Bibi Clayton Nash Greenwood Jennings Holt Kemp Poole "
    "Gallagher Bond Stokes Tucker Davidson Fowler Heath Norman Middleton Lawson Banks French Stanley Jarvis Gibbs "
    "Ferguson Hayward Carroll Douglas Dickinson Todd Barlow Peters Lucas Knowles Hartley Miah Simmons Morton Alexander "
    "Field Morrison Norris Townsend Preston Hancock Thornton Baldwin Burrows Briggs Storey Pugh Little Dale Brontë"
).split()

# Long tail: toponymic surnames built from English place-name parts (Ashford, Brackley, ...).
_TAIL_PREFIX = (
    "Ash Brad Craw Hart Whit Mar Bur Thorn Wood Stan Brook Cal Hol Kings Lang Nor Pen Red Ship Sud Ald Bark Bev "
    "Black Bram Brough Cars Chad Chil Cod Crom Dar Dun Eas Fair Farn Gar Glad Hal Haw Hey Hor Kel Kirk Lid Lin "
    "Lock Mal Mid Mil Mor Nether Oak Ord Pick Rad Ram Rush Saw Shel Small Staf Stam Thack Tod Wal War Wel Wick"
).split()
_TAIL_SUFFIX = "ley ford ton worth field by wood well ham bridge combe shaw hurst den stead more wick thorpe cliffe dale".split()

_SURNAMES_OTHER = {
    "south_asian": "Khan Patel Ahmed Hussain Ali Begum Singh Kaur Shah Mahmood Iqbal Akhtar Rahman Islam Miah Bibi "
    "Chaudhry Malik Butt Aslam Raza Sharma Kumar Gupta Mistry Parmar Chauhan Bhatti Qureshi Siddiqui Anwar Rashid "
    "Hanif Sandhu Gill Dhillon Sidhu Bains",
    "east_european": "Nowak Kowalski Kowalska Wisniewski Wojcik Kaminski Lewandowski Zielinski Szymanski Wozniak "
    "Dabrowski Kozlowski Mazur Krawczyk Popescu Ionescu Popa Stan Dumitru Rusu Horvath Novak Kovac Petrov",
    "african": "Okafor Mensah Adeyemi Okonkwo Owusu Boateng Asante Mohamud Abdi Hassan Osei Eze Nwosu Adebayo "
    "Oyelaran Johnson Williams Campbell Francis Thomas Brown Grant Clarke Mohammed",
    "european": "Silva Santos Ferreira Pereira Gonçalves Rodrigues Rossi Russo Esposito Bianchi Romano Garcia "
    "Martinez Lopez Fernandez Müller Dubois Lefèvre Moreau Rousseau Dubé Côté Fontaine Mercier",
}


def _zipf(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


class NamePool:
    """Arrays of names with sampling probabilities."""

    def __init__(self, names: list[str], probs: np.ndarray):
        self.names = np.array(names, dtype=object)
        self.probs = probs / probs.sum()
        self._cum = np.cumsum(self.probs)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        idx = np.searchsorted(self._cum, rng.random(n) * self._cum[-1], side="right")
        return self.names[np.minimum(idx, len(self.names) - 1)]


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for n in names:
        seen.setdefault(n, None)
    return list(seen)


@lru_cache(maxsize=1)
def forename_pools() -> dict[tuple[str, str, int], NamePool]:
    """(culture, sex, cohort) -> pool; non-British cultures use one list for every cohort."""
    pools = {}
    for cohort in range(3):
        for sex, lists in (("M", _BRIT_M), ("F", _BRIT_F)):
            names = _dedupe(lists[cohort].split())
            pools[("british", sex, cohort)] = NamePool(names, _zipf(len(names), 0.6))
    for (culture, sex), text in _OTHER.items():
        names = _dedupe(text.split())
        for cohort in range(3):
            pools[(culture, sex, cohort)] = NamePool(names, _zipf(len(names), 0.5))
    return pools


@lru_cache(maxsize=1)
def surname_pools() -> dict[str, NamePool]:
    # The England-wide ranking includes South Asian surnames; those families get the south_asian pool.
    south_asian = set(_SURNAMES_OTHER["south_asian"].split())
    brit = [s for s in _dedupe(_BRIT_SURNAMES) if s not in south_asian]
    # Top surnames: Smith about 1.3% of the British-named population, as in England and Wales.
    head = _zipf(len(brit), 0.8)
    head = head / head.sum() * 0.62
    tail = _dedupe([p + s for p in _TAIL_PREFIX for s in _TAIL_SUFFIX])
    tail_w = np.full(len(tail), 0.38 / len(tail))
    pools = {"british": NamePool(brit + tail, np.concatenate([head, tail_w]))}
    for culture, text in _SURNAMES_OTHER.items():
        names = _dedupe(text.split())
        pools[culture] = NamePool(names, _zipf(len(names), 0.6))
    return pools


def cohort_of(birth_year: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array(COHORT_BOUNDS), birth_year, side="right")


def sample_forenames(rng: np.random.Generator, culture: np.ndarray, sex: np.ndarray, birth_year: np.ndarray) -> np.ndarray:
    """Forenames for people given culture index, sex ('M'/'F') and birth year (vectorised per pool)."""
    pools = forename_pools()
    out = np.empty(len(culture), dtype=object)
    cohort = cohort_of(birth_year)
    key = culture.astype(np.int64) * 10 + (sex == "F").astype(np.int64) * 3 + cohort
    for k in np.unique(key).tolist():
        rows = np.flatnonzero(key == k)
        c, rem = divmod(k, 10)
        s, co = divmod(rem, 3)
        out[rows] = pools[(CULTURES[c], "MF"[s], co)].sample(rng, rows.size)
    return out


def sample_surnames(rng: np.random.Generator, culture: np.ndarray) -> np.ndarray:
    pools = surname_pools()
    out = np.empty(len(culture), dtype=object)
    for c in np.unique(culture).tolist():
        rows = np.flatnonzero(culture == c)
        out[rows] = pools[CULTURES[c]].sample(rng, rows.size)
    return out


@lru_cache(maxsize=1)
def nickname_table() -> pd.DataFrame:
    """seeds/nicknames.csv: (name, canonical, kind) rows; a name may map to several canonical names."""
    return pd.read_csv(NICKNAMES_CSV, dtype=str, keep_default_na=False)


@lru_cache(maxsize=1)
def variant_lookup() -> tuple[dict[str, tuple[int, int]], np.ndarray]:
    """canonical -> (offset, count) into a flat array of its variants (nicknames and spellings). Only rows of
    kind 'nickname': a practitioner keys a pet form (Bill), not a register's Latin (Gulielmus), a clerk's
    abbreviation (Wm) or another language's equivalent (Jakub for James), which the seed holds for linkage."""
    table = nickname_table()
    table = table[(table["kind"] == "nickname") & (table["name"] != table["canonical"])]
    table = table.sort_values(["canonical", "name"], kind="stable")
    flat = table["name"].to_numpy(dtype=object)
    canon = table["canonical"].to_numpy(dtype=object)
    lookup: dict[str, tuple[int, int]] = {}
    start = 0
    for i in range(1, len(canon) + 1):
        if i == len(canon) or canon[i] != canon[start]:
            lookup[canon[start]] = (start, i - start)
            start = i
    return lookup, flat


def all_names() -> set[str]:
    """Every forename and surname the generator can emit (before recording errors)."""
    names: set[str] = set()
    for pool in forename_pools().values():
        names.update(pool.names.tolist())
    for pool in surname_pools().values():
        names.update(pool.names.tolist())
    return names
