import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.ingest.pipeline.helpers import started
from whowhywhen.ingest.pipeline import (
    IptoccGeoLookup,
    PipelineContext,
    anonymise_address,
    anonymise_ip,
    geo,
)


class FixedGeo:
    """A GeoLookup that answers one country for every address."""

    def __init__(self, code: str | None) -> None:
        self.code = code
        self.asked: list[str] = []

    def country(self, ip: str) -> str | None:
        self.asked.append(ip)
        return self.code


class TestIptoccGeoLookup:
    @pytest.mark.parametrize(
        ("ip", "country"),
        [
            ("8.8.8.8", "US"),
            ("2001:4860:4860::8888", "US"),
            ("::ffff:8.8.8.8", "US"),
            ("10.0.0.1", None),
            ("192.168.1.1", None),
            ("172.16.0.1", None),
            ("127.0.0.1", None),
            ("100.64.0.1", None),
            ("::1", None),
            ("fe80::1", None),
            ("0.0.0.0", None),
            ("garbage", None),
            ("", None),
            ("256.1.1.1", None),
            ("8.8.8.8 ", None),
        ],
    )
    def test_countries(self, ip: str, country: str | None) -> None:
        assert IptoccGeoLookup().country(ip) == country

    @given(st.text(max_size=100))
    def test_never_raises(self, ip: str) -> None:
        code = IptoccGeoLookup().country(ip)
        assert code is None or (len(code) == 2 and code.isupper())

    @given(st.ip_addresses())
    def test_any_address_gives_an_upper_case_code_or_none(self, ip: object) -> None:
        code = IptoccGeoLookup().country(str(ip))
        assert code is None or (len(code) == 2 and code.isascii() and code.isupper())


class TestAnonymiseAddress:
    @pytest.mark.parametrize(
        ("ip", "anonymised"),
        [
            ("1.2.3.4", "1.2.3.0"),
            ("203.0.113.255", "203.0.113.0"),
            ("2001:db8:1234:5678:9abc::1", "2001:db8:1234::"),
            ("2001:0db8:0001:ffff:ffff:ffff:ffff:ffff", "2001:db8:1::"),
            ("::ffff:1.2.3.4", "1.2.3.0"),
            ("fe80::1%eth0", "fe80::"),
            ("garbage", None),
            ("", None),
            ("1.2.3.256", None),
            ("01.2.3.4", None),
        ],
    )
    def test_keeps_only_the_network(self, ip: str, anonymised: str | None) -> None:
        assert anonymise_address(ip) == anonymised

    @given(st.text(max_size=100))
    def test_never_raises(self, ip: str) -> None:
        anonymise_address(ip)

    @given(st.ip_addresses(v=4))
    def test_ipv4_last_octet_is_zero(self, ip: object) -> None:
        anonymised = anonymise_address(str(ip))
        assert anonymised is not None
        assert anonymised.endswith(".0")
        assert anonymised.rpartition(".")[0] == str(ip).rpartition(".")[0]


class TestGeoStep:
    def test_sets_the_country(self, ctx: PipelineContext) -> None:
        event = started(ip="8.8.8.8")
        geo(event, ctx)
        assert event.country == "US"

    def test_no_ip_no_country(self, ctx: PipelineContext) -> None:
        event = started(ip=None)
        geo(event, ctx)
        assert event.country is None

    def test_uses_the_lookup_from_the_context(self, ctx: PipelineContext) -> None:
        lookup = FixedGeo("FR")
        ctx.geo = lookup
        event = started(ip="1.2.3.4")
        geo(event, ctx)
        assert (event.country, lookup.asked) == ("FR", ["1.2.3.4"])


class TestAnonymiseIpStep:
    def test_does_nothing_unless_the_project_asks(self, ctx: PipelineContext) -> None:
        event = started(ip="1.2.3.4")
        anonymise_ip(event, ctx)
        assert event.ip == "1.2.3.4"

    def test_anonymises_when_asked(self, ctx: PipelineContext) -> None:
        event = started(ip="1.2.3.4")
        anonymise_ip(event, ctx.for_project(anonymise_ip=True))
        assert event.ip == "1.2.3.0"

    def test_drops_what_is_not_an_address(self, ctx: PipelineContext) -> None:
        event = started(ip="not an ip")
        anonymise_ip(event, ctx.for_project(anonymise_ip=True))
        assert event.ip is None

    def test_keeps_the_incoming_event_untouched(self, ctx: PipelineContext) -> None:
        event = started(ip="1.2.3.4")
        anonymise_ip(event, ctx.for_project(anonymise_ip=True))
        assert event.source.ip == "1.2.3.4"
