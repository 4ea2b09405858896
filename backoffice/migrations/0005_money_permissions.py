"""Permissions for the money and risk models (issue 3), added to the roles of
0004. Fraud analysts tune the risk rules and limits and read what they decided;
support reads a customer's money records to answer them; finance reads the
ledger. The supervisor holds everything the roles hold.
"""

from django.db import migrations

from backoffice.migrations._grants import role_grants

SUPPORT = [
    "wallet.view_topup",
    "wallet.view_payment",
    "wallet.view_paymentrefund",
    "wallet.view_card",
    "wallet.view_transactionreport",
    "wallet.view_accountfreeze",
    "wallet.view_merchant",
    "wallet.view_terminal",
]
FRAUD_ANALYST = [
    *SUPPORT,
    "wallet.view_riskrule",
    "wallet.change_riskrule",
    "wallet.view_riskrulechange",
    "wallet.view_limitpolicy",
    "wallet.change_limitpolicy",
    "wallet.view_riskdecision",
]
FINANCE = [
    "wallet.view_ledgeraccount",
    "wallet.view_transfer",
    "wallet.view_entry",
    "wallet.view_topup",
    "wallet.view_payment",
    "wallet.view_paymentrefund",
    "wallet.view_merchant",
    "wallet.view_limitpolicy",
]
SUPERVISOR = sorted({*SUPPORT, *FRAUD_ANALYST, *FINANCE})

ADDED = {
    "support": SUPPORT,
    "fraud_analyst": FRAUD_ANALYST,
    "finance": FINANCE,
    "supervisor": SUPERVISOR,
}


grant, revoke = role_grants(ADDED)


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0004_staff_groups"),
        ("wallet", "0005_default_risk_rules"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
