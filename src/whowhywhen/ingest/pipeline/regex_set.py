"""A typed wrapper around RE2's ``Set``: many patterns, one pass over the text.

A Python loop over a thousand ``re`` patterns costs hundreds of microseconds per string; an RE2
set compiles them into one automaton and reports every pattern that matched in a single scan.
"""

from collections.abc import Iterable, Sequence

import re2

# The crawler list compiles into a large automaton; RE2's default budget (8 MiB) is too small and
# an exhausted DFA silently reports "no match".
_MAX_MEM = 256 * 1024 * 1024


class RegexSet:
    """Unanchored search for any of ``patterns``; :meth:`matches` returns their indexes.

    A pattern RE2 cannot compile (backreferences, lookarounds) is left out and listed in
    ``skipped``, so a new release of a data package cannot stop the collector from starting.
    """

    __slots__ = ("_positions", "_set", "skipped")

    def __init__(self, patterns: Iterable[str], *, case_sensitive: bool = True) -> None:
        options = re2.Options()
        options.max_mem = _MAX_MEM
        options.case_sensitive = case_sensitive
        options.log_errors = False
        self._set = re2.Set.SearchSet(options)
        self._positions: list[int] = []  # set index → index in ``patterns``
        self.skipped: list[str] = []
        for position, pattern in enumerate(patterns):
            try:
                self._set.Add(pattern)
            except re2.error:
                self.skipped.append(pattern)
                continue
            self._positions.append(position)
        if self._positions:
            self._set.Compile()

    def matches(self, text: str) -> Sequence[int]:
        """Indexes (in ``patterns``) of every pattern found in ``text``, ascending."""
        if not self._positions:
            return ()
        found: list[int] | None = self._set.Match(text)
        return sorted(self._positions[i] for i in found) if found else ()

    def first(self, text: str) -> int | None:
        """The lowest index of a pattern found in ``text``: the highest priority match."""
        if not self._positions:
            return None
        found: list[int] | None = self._set.Match(text)
        return self._positions[min(found)] if found else None
