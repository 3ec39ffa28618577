"""The kinds of experiment a sweep can hold, in one registry: each kind declares in one place how the
report shows an experiment of that kind — the columns of its summary table, any further table, the
sentences under "What the numbers show", the takeaway paragraph that opens it (and the report's summary),
its figures (the first is its headline figure), and whether its runs' text samples are printed.

    register_kind(Kind("my_kind", columns=..., findings=..., figures=...))
    get_kind("my_kind")            # an unknown name (a newer sweep) is shown as a grid
    list_kinds()

`suites` validates an experiment's kind against this list and `document.build_report` asks the kind for
each part; neither names a kind.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from training.sweep import figures, findings, tables, takeaways


@dataclasses.dataclass(frozen=True)
class Kind:
    """How the report shows an experiment.

    Args:
        name: the key experiments name in `Experiment.kind` (and sweep.json).
        columns: groups -> [(header, cell function of a group)] of the summary table.
        findings: (groups, rows) -> sentences, computed from this sweep's numbers.
        figures: (sweep folder, rows, report folder, experiment key) -> [(png path, caption)].
        extra_tables: groups -> [(sentence introducing it, table)] shown after the summary table.
        samples: print the text each run generated (language models).
        takeaway: groups -> `takeaways.Takeaway` (headline, paragraph from the numbers, tied to the mechanism).
    """

    name: str
    columns: Callable
    findings: Callable
    figures: Callable
    extra_tables: Callable = lambda groups: []
    samples: bool = False
    takeaway: Callable | None = None


_KINDS: dict[str, Kind] = {}
FALLBACK = "grid"  # the kind that fits any task


def register_kind(kind: Kind) -> Kind:
    if kind.name in _KINDS:
        raise ValueError(f"An experiment kind named {kind.name!r} is already registered.")
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> Kind:
    """The registered kind, or the grid's (which fits any task) for a name this checkout does not know."""
    return _KINDS.get(name, _KINDS[FALLBACK])


def list_kinds() -> list[str]:
    return list(_KINDS)


register_kind(Kind("through_time", tables.through_time_columns, findings.findings_through_time,
                   figures.through_time_figures, takeaway=takeaways.vanishing))
register_kind(Kind("exploding", tables.exploding_columns, findings.findings_exploding, figures.exploding_figures,
                   takeaway=takeaways.exploding))
register_kind(Kind("long_term", tables.variant_task_columns, findings.findings_long_term, figures.long_term_figures,
                   extra_tables=tables.recall_gap_tables, takeaway=takeaways.long_term))
register_kind(Kind("unidirectional", tables.unidirectional_columns, findings.findings_unidirectional,
                   figures.unidirectional_figures, takeaway=takeaways.unidirectional))
register_kind(Kind("char_lm", tables.char_lm_columns, findings.findings_char_lm, figures.char_lm_figures,
                   samples=True, takeaway=takeaways.char_lm))
register_kind(Kind("grid", tables.variant_task_columns, findings.findings_grid, figures.grid_figures,
                   takeaway=takeaways.grid))
