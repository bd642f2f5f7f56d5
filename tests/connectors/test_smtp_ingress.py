"""SMTP ingress internals a client cannot see: the shortcut for plain reverse and forward paths."""

from __future__ import annotations

from email._header_value_parser import get_angle_addr
from email.errors import HeaderParseError

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.smtp_ingress import simple_address

ATEXT = st.text(alphabet="aZ09!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=6)
LABEL = st.text(alphabet="aZ09-", min_size=1, max_size=6)
PATHS = st.text(alphabet='ab.@<>-+_ \t()"[]:;,\\', max_size=30) | st.builds(
    lambda local, domain, rest: f"<{'.'.join(local)}@{'.'.join(domain)}>{rest}",
    st.lists(ATEXT, min_size=1, max_size=3),
    st.lists(LABEL, min_size=1, max_size=3),
    st.sampled_from(["", " SIZE=10", "  BODY=8BITMIME", " (c) X", "\tX", "x", " "]),
)


@settings(max_examples=1000)
@given(arg=PATHS)
def test_the_shortcut_reads_a_path_as_the_email_parser_does_or_leaves_it(arg: str) -> None:
    try:
        address, rest = get_angle_addr(arg)
        parsed: tuple[str, str] | None = (address.addr_spec, rest)
    except (HeaderParseError, IndexError, AttributeError):  # the parser cannot read it
        parsed = None

    assert simple_address(arg) in (None, parsed)


def test_plain_paths_take_the_shortcut() -> None:
    assert simple_address("<a.b+c@amt.example> SIZE=10") == ("a.b+c@amt.example", "SIZE=10")
    assert simple_address("<Erika_M@x-y.example>") == ("Erika_M@x-y.example", "")


def test_paths_the_shortcut_leaves_alone_go_to_the_parser() -> None:
    for arg in ['<"quoted"@example.org>', "<a@[192.0.2.1]>", "<a@b> (comment)", "a@b", "<a@b.>"]:
        assert simple_address(arg) is None
