import pytest

from wallet.templatetags.wallet_extras import device_summary


@pytest.mark.parametrize(
    ("user_agent", "shown"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36", "Chrome / Linux"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile Safari/604.1", "Safari / iPhone"),
        ("AnzenPayApp/1.2", "AnzenPayApp/1.2"),
        ("", ""),
    ],
)
def test_sessions_and_devices_are_shown_as_browser_and_system(user_agent: str, shown: str) -> None:
    assert device_summary(user_agent) == shown
