"""The four safety-risk levels (红橙黄蓝 四色): one table for analysis, API and map legend.

安全风险等级从高到低划分为重大风险、较大风险、一般风险和低风险，分别用红、橙、黄、蓝
标示 (domain.md §2.1). The lowest colour is **blue, never green**; several vendor pages get
this wrong. No RGB values are published, so colours come from the norms table
(``risk.colour.*``) and a jurisdiction may override them. Keys and Chinese labels are the
stable vocabulary of :data:`layers.vocab.RISK_LEVEL`; this module adds the order (rank),
the English label and the colour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from emgis.layers import vocab
from emgis.layers.norms import Norms, default_norms

#: Level keys from highest to lowest risk.
LEVEL_KEYS: tuple[str, ...] = ("red", "orange", "yellow", "blue")

#: Rank of each level: 4 (red, 重大) ... 1 (blue, 低). Higher rank = higher risk.
RANK: dict[str, int] = {k: len(LEVEL_KEYS) - i for i, k in enumerate(LEVEL_KEYS)}

_EN = {"red": "major", "orange": "significant", "yellow": "general", "blue": "low"}
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class RiskLevel:
    """One of the four levels, as the map legend and the API show it."""

    key: str
    rank: int
    zh: str
    en: str
    colour: str

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "rank": self.rank, "zh": self.zh, "en": self.en,
                "colour": self.colour}


def risk_levels(norms: Norms | None = None) -> list[RiskLevel]:
    """Return the four levels, highest first, with colours from ``risk.colour.*``.

    Parameters
    ----------
    norms
        Norms in force; ``default_norms()`` when omitted.

    Raises
    ------
    ValueError
        If a colour norm is missing or is not a ``#rrggbb`` hex string.
    """
    norms = norms or default_norms()
    colours = norms.group("risk.colour")
    out = []
    for key in LEVEL_KEYS:
        colour = colours.get(key)
        if not isinstance(colour, str) or not _HEX.match(colour):
            raise ValueError(
                f"norm risk.colour.{key} is {colour!r}, not a colour; give a hex colour such as "
                f"'#1e50ff' in the norms file (the low level is blue, not green)"
            )
        out.append(RiskLevel(key, RANK[key], vocab.RISK_LEVEL[key].zh, _EN[key], colour.lower()))
    return out


def level_key(text: object) -> str | None:
    """Return the level key for a key, Chinese label, colour word or alias; None if unknown."""
    return vocab.lookup(vocab.RISK_LEVEL, text)


def key_for_rank(rank: int) -> str:
    """Return the level key of a rank (4 → 'red' ... 1 → 'blue')."""
    for k, r in RANK.items():
        if r == rank:
            return k
    raise ValueError(f"rank {rank!r} is not a risk rank; ranks run from 1 (blue) to 4 (red)")
