"""Who may see and do what in the refund programme. Releasing a payout file takes
two finance users (``release_payoutbatch`` to ask and to approve, B04); a late
claim is filed by support and accepted by a second person with ``check_approval``."""

from django.db import migrations

from backoffice.migrations._grants import role_grants

SEE_CLAIMS = [
    "refunds.view_shutdownprogramme",
    "refunds.view_refundclaim",
    "refunds.view_claimevent",
    "refunds.view_payoutbatch",
    "refunds.view_payout",
]
SUPPORT = [*SEE_CLAIMS, "refunds.add_refundclaim", "refunds.view_postaldetails", "refunds.view_bankdetails"]
FRAUD = [*SEE_CLAIMS, "refunds.review_refundclaim", "refunds.view_bankdetails"]
FINANCE = [
    *SEE_CLAIMS,
    "refunds.review_refundclaim",
    "refunds.report_refundclaim",
    "refunds.view_bankdetails",
    "refunds.view_postaldetails",
    "refunds.release_payoutbatch",
    "refunds.download_payoutbatch",
    "refunds.import_payoutresults",
    "refunds.view_payoutresultimport",
    "refunds.view_bankmasteroverride",
    "refunds.add_bankmasteroverride",
    "refunds.change_bankmasteroverride",
    # Finance edits the payout schedule in the admin (django-celery-beat).
    "django_celery_beat.view_periodictask",
    "django_celery_beat.change_periodictask",
    "django_celery_beat.view_crontabschedule",
    "django_celery_beat.add_crontabschedule",
    "django_celery_beat.change_crontabschedule",
    # A release is an approval request; finance must be able to open it.
    "backoffice.view_approval",
]
SUPERVISOR = sorted({*SUPPORT, *FRAUD, *FINANCE, "refunds.add_shutdownprogramme", "refunds.change_shutdownprogramme"})
ADDED = {"support": SUPPORT, "fraud_analyst": FRAUD, "finance": FINANCE, "supervisor": SUPERVISOR}

grant, revoke = role_grants(ADDED)


class Migration(migrations.Migration):
    dependencies = [
        ("refunds", "0001_initial"),
        ("backoffice", "0009_incident_permissions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
