"""Incident work (issue 4): who may see and do what with cases, the review queue,
hunts, compensation and mass resets. Paying compensation and starting a mass
reset also need a second person with ``check_approval`` (B04)."""

from django.db import migrations

from backoffice.migrations._grants import role_grants

SEE_CASES = [
    "backoffice.view_case",
    "backoffice.view_casetransaction",
    "backoffice.view_caseevent",
    "backoffice.view_compensation",
    "backoffice.view_massreset",
    "wallet.view_transactionreport",
    "wallet.view_riskdecision",
    # Support may ask to lift a freeze (0007) and must be able to follow the request.
    "backoffice.view_approval",
]
WORK_CASES = [
    *SEE_CASES,
    "backoffice.add_case",
    "backoffice.change_case",
    "backoffice.work_reviewqueue",
    "backoffice.view_hunt",
    "backoffice.add_hunt",
    "backoffice.view_hunthit",
    "backoffice.add_compensation",
    "wallet.view_cardreversal",
]
FINANCE = [
    "backoffice.view_case",
    "backoffice.view_casetransaction",
    "backoffice.view_caseevent",
    # The incident console and dashboard show every switch, payouts' own included.
    "wallet.view_channelswitch",
    "backoffice.view_compensation",
    "backoffice.report_compensation",
    "wallet.view_cardreversal",
    # Requesting a ledger correction; a second person with check_approval carries it out (B04).
    "wallet.add_transfer",
]
SUPERVISOR = sorted({*WORK_CASES, *FINANCE, "backoffice.run_massreset"})
ADDED = {"support": SEE_CASES, "fraud_analyst": WORK_CASES, "finance": FINANCE, "supervisor": SUPERVISOR}

grant, revoke = role_grants(ADDED)


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0008_cases_hunts_compensation_mass_reset"),
        ("wallet", "0007_card_reversals"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
