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
    """Unanchored search for any of ``patterns``; :meth:`matches` returns their indexes."""

    __slots__ = ("_set", "size")

    def __init__(self, patterns: Iterable[str], *, case_sensitive: bool = True) -> None:
        options = re2.Options()
        options.max_mem = _MAX_MEM
        options.case_sensitive = case_sensitive
        options.log_errors = False
        self._set = re2.Set.SearchSet(options)
        self.size = 0
        for pattern in patterns:
            self._set.Add(pattern)  # raises re2.error on a pattern RE2 cannot compile
            self.size += 1
        if self.size:
            self._set.Compile()

    def matches(self, text: str) -> Sequence[int]:
        """Indexes (in insertion order of the patterns) of every pattern found in ``text``."""
        if not self.size:
            return ()
        found: list[int] | None = self._set.Match(text)
        return sorted(found) if found else ()

    def first(self, text: str) -> int | None:
        """The lowest index of a pattern found in ``text``: the highest priority match."""
        if not self.size:
            return None
        found: list[int] | None = self._set.Match(text)
        return min(found) if found else None


def is_valid_pattern(pattern: str) -> bool:
    """Whether RE2 accepts ``pattern`` (it refuses backreferences and lookarounds)."""
    try:
        re2.compile(pattern)
    except re2.error:
        return False
    return True
