"""National identifiers: validators (scalar, for tests and callers) and vectorised generators.

NHS number: 10 digits, the 10th a modulus-11 check over the first nine with weights 10..2
(remainder 11 -> check 0; remainder 10 -> the number is never issued).
NI number: two prefix letters, six digits, suffix A-D; D F I Q U V never appear in the prefix,
O never second, and the pairs BG GB NK KN TN NT ZZ are never allocated.
UPN (DfE): 13 characters, a check letter first; characters 2-13 are the LA number (3 digits),
establishment number (4), year of allocation (2) and serial (3). The check letter is
sum(value(char_i) * i for i in 2..13) mod 23, looked up in "ABCDEFGHJKLMNPQRTUVWXYZ".
PNC id (police): "YY/NNNNNNNL", the letter a mod-23 check over the 9 digits.
"""

from __future__ import annotations

import re

import numpy as np

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_NI_BAD_LETTERS = set("DFIQUV")
_NI_BAD_PAIRS = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}
NI_FIRST = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in _NI_BAD_LETTERS]
NI_SECOND = [c for c in NI_FIRST if c != "O"]
NI_PREFIXES = [a + b for a in NI_FIRST for b in NI_SECOND if a + b not in _NI_BAD_PAIRS]
PNC_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"

_NHS_WEIGHTS = np.arange(10, 1, -1)


# --- validators ------------------------------------------------------------------------------------


def nhs_check_digit(first9: str) -> int | None:
    """Check digit for nine digits, or None when the remainder makes the number invalid."""
    total = sum(int(d) * w for d, w in zip(first9, range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def is_valid_nhs_number(value: str | None) -> bool:
    if value is None:
        return False
    digits = re.sub(r"[\s-]", "", str(value))
    if not re.fullmatch(r"\d{10}", digits):
        return False
    check = nhs_check_digit(digits[:9])
    return check is not None and check == int(digits[9])


def is_valid_ni_number(value: str | None) -> bool:
    if value is None:
        return False
    text = re.sub(r"\s", "", str(value)).upper()
    m = re.fullmatch(r"([A-Z]{2})(\d{6})([A-D])", text)
    return bool(m) and m.group(1) in set(NI_PREFIXES)


def upn_check_letter(body12: str) -> str:
    """Check letter for UPN characters 2-13 (a letter in position 13 marks a temporary UPN)."""
    total = 0
    for weight, ch in zip(range(2, 14), body12):
        total += weight * (int(ch) if ch.isdigit() else UPN_LETTERS.index(ch))
    return UPN_LETTERS[total % 23]


def is_valid_upn(value: str | None) -> bool:
    if value is None:
        return False
    text = str(value).strip().upper()
    if not re.fullmatch(rf"[{UPN_LETTERS}]\d{{11}}[0-9{UPN_LETTERS}]", text):
        return False
    return upn_check_letter(text[1:]) == text[0]


def pnc_check_letter(year2: str, serial7: str) -> str:
    return PNC_LETTERS[int(year2 + serial7) % 23]


def is_valid_pnc(value: str | None) -> bool:
    m = re.fullmatch(r"(\d{2})/(\d{7})([A-Z])", str(value or ""))
    return bool(m) and pnc_check_letter(m.group(1), m.group(2)) == m.group(3)


# --- vectorised generators -------------------------------------------------------------------------


def _digits_to_str(digits: np.ndarray) -> np.ndarray:
    """(n, k) int matrix of digits -> array of k-character strings."""
    n, k = digits.shape
    as_bytes = (digits.astype(np.uint8) + ord("0")).tobytes()
    return np.frombuffer(as_bytes, dtype=f"S{k}").astype(f"U{k}").astype(object) if n else np.array([], dtype=object)


def nhs_numbers(n: int, rng: np.random.Generator) -> np.ndarray:
    """n distinct valid NHS numbers (England ranges 4xx and 6xx-7xx)."""
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        m = int((n - out.size) * 1.25) + 16
        first = rng.choice(np.array([4, 6, 7]), size=m)
        rest = rng.integers(0, 10, size=(m, 8))
        body = np.column_stack([first, rest])
        check = 11 - (body * _NHS_WEIGHTS).sum(axis=1) % 11
        check[check == 11] = 0
        ok = check != 10
        full = np.column_stack([body, check])[ok]
        values = (full * (10 ** np.arange(9, -1, -1))).sum(axis=1)
        out = np.concatenate([out, values])
        _, first_idx = np.unique(out, return_index=True)
        out = out[np.sort(first_idx)]
    out = out[:n]
    return np.array([f"{v:010d}" for v in out.tolist()], dtype=object)


def ni_numbers(n: int, rng: np.random.Generator) -> np.ndarray:
    """n distinct valid NI numbers."""
    prefixes = np.array(NI_PREFIXES, dtype=object)
    suffixes = np.array(list("ABCD"), dtype=object)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        m = int((n - len(out)) * 1.05) + 8
        p = prefixes[rng.integers(0, len(prefixes), m)]
        d = rng.integers(0, 1_000_000, m)
        s = suffixes[rng.integers(0, 4, m)]
        for a, b, c in zip(p.tolist(), d.tolist(), s.tolist()):
            v = f"{a}{b:06d}{c}"
            if v not in seen:
                seen.add(v)
                out.append(v)
    return np.array(out[:n], dtype=object)


def upns(la: np.ndarray, estab: np.ndarray, year2: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """Permanent UPNs from their parts (int arrays); the caller keeps (la, estab, year, serial) unique."""
    n = len(la)
    if n == 0:
        return np.array([], dtype=object)
    digits = np.column_stack([
        (la // 100) % 10, (la // 10) % 10, la % 10,
        (estab // 1000) % 10, (estab // 100) % 10, (estab // 10) % 10, estab % 10,
        (year2 // 10) % 10, year2 % 10,
        (serial // 100) % 10, (serial // 10) % 10, serial % 10,
    ]).astype(np.int64)
    check = (digits * np.arange(2, 14)).sum(axis=1) % 23
    letters = np.array(list(UPN_LETTERS), dtype=object)[check]
    return letters + _digits_to_str(digits)


def pnc_ids(year2: np.ndarray, serial: np.ndarray) -> np.ndarray:
    num = year2.astype(np.int64) * 10_000_000 + serial.astype(np.int64)
    letters = np.array(list(PNC_LETTERS), dtype=object)[num % 23]
    return np.array([f"{y:02d}/{s:07d}" for y, s in zip(year2.tolist(), serial.tolist())], dtype=object) + letters


def mistype_digits(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Keying errors in digit strings: one digit changed (60%) or two adjacent digits swapped (40%)."""
    out = values.copy()
    for i, v in enumerate(values.tolist()):
        chars = list(v)
        digit_pos = [j for j, c in enumerate(chars) if c.isdigit()]
        if len(digit_pos) < 2:
            continue
        if rng.random() < 0.6:
            j = digit_pos[int(rng.integers(0, len(digit_pos)))]
            chars[j] = str((int(chars[j]) + int(rng.integers(1, 10))) % 10)
        else:
            k = int(rng.integers(0, len(digit_pos) - 1))
            a, b = digit_pos[k], digit_pos[k + 1]
            if chars[a] == chars[b]:  # swapping equal digits changes nothing: change one instead
                chars[a] = str((int(chars[a]) + 1) % 10)
            else:
                chars[a], chars[b] = chars[b], chars[a]
        out[i] = "".join(chars)
    return out
