"""The fault suite's figures: each fault case records what it observed (records in and out, lost,
duplicated, time to recover) through the `fault_figures` fixture, and the end of the run prints one
table of every recorded case, without `-s`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Collection, Hashable

__all__ = ["FaultFigure", "FaultFigures", "fault_figures", "pytest_terminal_summary"]


@dataclass(frozen=True)
class FaultFigure:
    """One fault case's figures, as the test observed them.

    Attributes:
        case: what was injected, e.g. "sigkill x3".
        test: the node id of the test that recorded it.
        records_in: records sent into the system under test.
        records_out: records that came out of it (duplicates included).
        lost: records in that never came out.
        duplicated: records out beyond the first copy of each.
        recover_s: seconds to recover (None: not measured by this case).
        recovery: what `recover_s` measures.
    """

    case: str
    test: str
    records_in: int
    records_out: int
    lost: int
    duplicated: int
    recover_s: float | None
    recovery: str


@dataclass(frozen=True)
class FaultFigures:
    """What the `fault_figures` fixture hands a test: records its cases into the session's list.

    Attributes:
        figures: every case recorded in the session so far.
        test: the node id of the test it was handed to.
    """

    figures: list[FaultFigure]
    test: str

    def record(
        self,
        case: str,
        *,
        sent: Collection[Hashable],
        received: Collection[Hashable],
        recover_s: float | None = None,
        recovery: str = "",
    ) -> FaultFigure:
        """Record one case's figures for the summary table, counted from what went in and came out.

        Args:
            case: what was injected.
            sent: the identity of every record sent in (unique).
            received: the identity of every record that came out, one entry per copy.
            recover_s: seconds to recover, if the case measures it.
            recovery: what `recover_s` measures (or why there is none).

        Returns:
            The recorded figures.
        """
        unique = set(received)
        figure = FaultFigure(
            case,
            self.test,
            records_in=len(sent),
            records_out=len(received),
            lost=len(set(sent) - unique),
            duplicated=len(received) - len(unique),
            recover_s=recover_s,
            recovery=recovery,
        )
        self.figures.append(figure)
        return figure


_FIGURES = pytest.StashKey[list[FaultFigure]]()


@pytest.fixture
def fault_figures(request: pytest.FixtureRequest) -> FaultFigures:
    """Where a fault case records its figures: `fault_figures.record("sigkill x3", sent=ids, received=ids_out)`."""
    return FaultFigures(request.config.stash.setdefault(_FIGURES, []), request.node.nodeid)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print the table of every fault case recorded during the run."""
    figures = config.stash.get(_FIGURES, [])
    if not figures:
        return
    header = ("case", "test file", "records in", "out", "lost", "duplicated", "recover s", "recovery measures")
    rows = [
        (f.case, f.test.split("::", 1)[0].rsplit("/", 1)[-1], str(f.records_in), str(f.records_out))
        + (str(f.lost), str(f.duplicated), _cell(f.recover_s), f.recovery or "-")
        for f in figures
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {2, 3, 4, 5, 6}  # numbers are right-aligned

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    terminalreporter.write_sep("=", "fault figures")
    terminalreporter.write_line(line(header).rstrip())
    for row in rows:
        terminalreporter.write_line(line(row).rstrip())
