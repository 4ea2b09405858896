"""Default risk rules, from INCIDENT.md. Analysts tune them in the admin (each
edit is a new version); these are the starting thresholds.

- One 7pay victim saw 3 card top-ups within a minute: the third top-up inside a
  minute is held for review.
- 7pay's after-the-fact fraud query, made real-time: a store payment of ¥10,000
  or more within 24 h after top-ups of ¥10,000 or more is reviewed.
- Takeovers began with a login from a new phone or a reset password: a top-up
  within 24 h of either is reviewed (an account's very first device is
  a new customer, not a takeover).
- Payments Japan: cap cards per account (3, as CARDS_PER_WALLET_MAX); one card
  on several wallets and one device behind several wallets are red flags
  (docomo 口座: one bank account claimed by many wallets).

Every rule also gets its version-1 snapshot in RiskRuleChange.
"""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

MINUTE = 60
DAY = 24 * 60 * 60
CREDENTIAL_EVENTS = ["password_changed", "reset_completed", "email_changed"]

DEFAULT_RULES = [
    {
        "code": "topup-burst",
        "name": "Three top-ups within a minute",
        "description": "A 7pay victim saw 3 top-ups within a minute. The third top-up inside a minute is held for review.",
        "kind": "velocity_count",
        "events": ["topup"],
        "params": {"window_seconds": MINUTE, "max_count": 2, "channels": []},
        "action": "review",
    },
    {
        "code": "topup-count-day",
        "name": "More than 10 top-ups a day",
        "description": "Many small top-ups in a day: testing stolen cards or draining them below the caps.",
        "kind": "velocity_count",
        "events": ["topup"],
        "params": {"window_seconds": DAY, "max_count": 10, "channels": []},
        "action": "review",
    },
    {
        "code": "topup-amount-day",
        "name": "More than ¥50,000 of top-ups a day",
        "description": "Below the hard daily limits (money limits), but unusual for one customer.",
        "kind": "velocity_amount",
        "events": ["topup"],
        "params": {"window_seconds": DAY, "max_amount_yen": 50_000, "channels": []},
        "action": "review",
    },
    {
        "code": "payment-burst",
        "name": "More than 3 store payments within 10 minutes",
        "description": "Stolen balances were spent at once, register after register.",
        "kind": "velocity_count",
        "events": ["payment"],
        "params": {"window_seconds": 10 * MINUTE, "max_count": 3, "channels": []},
        "action": "review",
    },
    {
        "code": "login-burst",
        "name": "More than 10 logins an hour",
        "description": "Scripted logins with a stolen password and second factor.",
        "kind": "velocity_count",
        "events": ["login"],
        "params": {"window_seconds": 60 * MINUTE, "max_count": 10, "channels": []},
        "action": "review",
    },
    {
        "code": "topup-then-spend",
        "name": "Store spending right after top-ups (7pay)",
        "description": (
            "7pay's fraud query run in real time: a payment of ¥10,000 or more within 24 h after top-ups totalling ¥10,000 or more."
        ),
        "kind": "topup_then_spend",
        "events": ["payment"],
        "params": {"hours": 24, "topup_total_min_yen": 10_000, "payment_min_yen": 10_000, "topup_channels": [], "channels": []},
        "action": "review",
    },
    {
        "code": "new-device-topup",
        "name": "Top-up within 24 h of a new device",
        "description": (
            "A login from a new device followed by a top-up: the shape of an account takeover. Not on payments by default: "
            "a review payment is declined at the register, and a customer with a new phone must still be able to pay."
        ),
        "kind": "new_device_money",
        "events": ["topup"],
        "params": {"hours": 24, "ignore_first_device": True, "channels": []},
        "action": "review",
    },
    {
        "code": "credential-change-topup",
        "name": "Top-up within 24 h of a password or email change",
        "description": "7pay's reset hole: take the account by resetting its password, then top up.",
        "kind": "credential_change_topup",
        "events": ["topup"],
        "params": {"hours": 24, "auth_events": CREDENTIAL_EVENTS, "channels": []},
        "action": "review",
    },
    {
        "code": "cards-per-wallet",
        "name": "At most 3 cards per wallet",
        "description": "Payments Japan guidance: cap the cards on one account.",
        "kind": "cards_per_wallet",
        "events": ["card_register"],
        "params": {"max_cards": 3, "channels": []},
        "action": "block",
    },
    {
        "code": "card-on-other-wallet",
        "name": "Card already on another wallet",
        "description": "A card registered on a second wallet is reviewed (families share cards; fraudsters do too).",
        "kind": "wallets_per_card",
        "events": ["card_register"],
        "params": {"max_other_wallets": 0, "channels": []},
        "action": "review",
    },
    {
        "code": "card-on-many-wallets",
        "name": "Card on more than 3 wallets",
        "description": "One card feeding many wallets: refused at registration and at top-up.",
        "kind": "wallets_per_card",
        "events": ["card_register", "topup"],
        "params": {"max_other_wallets": 2, "channels": []},
        "action": "block",
    },
    {
        "code": "wallets-per-device",
        "name": "One device behind more than 3 wallets in 30 days",
        "description": "The same browser or app install logging in to many accounts.",
        "kind": "wallets_per_device",
        "events": ["login", "card_register", "topup"],
        "params": {"by": "device", "hours": 30 * 24, "max_other_wallets": 2, "channels": []},
        "action": "review",
    },
    {
        "code": "wallets-per-ip",
        "name": "One IP address behind more than 20 wallets in an hour",
        "description": "Set high: mobile carriers put many customers behind one address.",
        "kind": "wallets_per_device",
        "events": ["card_register", "topup"],
        "params": {"by": "ip", "hours": 1, "max_other_wallets": 20, "channels": []},
        "action": "review",
    },
]


def forward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    RiskRule = apps.get_model("wallet", "RiskRule")
    RiskRuleChange = apps.get_model("wallet", "RiskRuleChange")
    for spec in DEFAULT_RULES:
        spec = {**spec, "events": sorted(spec["events"])}
        rule, created = RiskRule.objects.get_or_create(code=spec["code"], defaults={**spec, "version": 1})
        if created:
            RiskRuleChange.objects.create(rule=rule, version=1, snapshot={**spec, "version": 1, "enabled": True})


def backward(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    RiskRule = apps.get_model("wallet", "RiskRule")
    RiskRuleChange = apps.get_model("wallet", "RiskRuleChange")
    codes = [spec["code"] for spec in DEFAULT_RULES]
    RiskRuleChange.objects.filter(rule__code__in=codes).delete()
    RiskRule.objects.filter(code__in=codes).delete()


class Migration(migrations.Migration):
    dependencies = [("wallet", "0004_ledger_rules")]
    operations = [migrations.RunPython(forward, backward)]
