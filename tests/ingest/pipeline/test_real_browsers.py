"""Browser user agents seen in real traffic are not bots.

The corpus ships in the fake-useragent wheel (browsers.jsonl: real browser user agents with
their observed share), so the check needs no network and is not written by us.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

from whowhywhen.ingest.pipeline import shared_user_agent_classifier
from whowhywhen.models.enums import ClientType

GENERATED = Path(__file__).parent / "data" / "browser_user_agents.txt"


def real_browser_user_agents() -> list[str]:
    text = importlib.resources.files("fake_useragent").joinpath("data/browsers.jsonl").read_text()
    return sorted({json.loads(line)["useragent"] for line in text.splitlines() if line.strip()})


class TestRealBrowsers:
    def test_at_most_half_a_percent_of_real_browser_agents_are_flagged(self) -> None:
        agents = real_browser_user_agents()
        agents += [line for line in GENERATED.read_text().splitlines() if line.strip()]
        agents = sorted(set(agents))
        assert len(agents) >= 1000
        classifier = shared_user_agent_classifier()
        flagged = [agent for agent in agents if classifier.classify(agent).bot is not None]
        assert len(flagged) <= 0.005 * len(agents), flagged[:20]

    def test_real_browser_agents_are_browsers(self) -> None:
        classifier = shared_user_agent_classifier()
        agents = real_browser_user_agents()
        browsers = [a for a in agents if classifier.classify(a).client_type == ClientType.browser]
        assert len(browsers) >= 0.99 * len(agents)
