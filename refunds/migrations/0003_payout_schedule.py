"""Payout batches: the release approval and results-file links, and the schedule.

The schedule is a django-celery-beat row, so finance edits it in the admin (the
role migration 0002 grants them change_periodictask): by default every weekday at
09:00 Japan time; the task itself skips national holidays and 12-31..01-03
(refunds/zengin/calendar.py), which a crontab cannot express.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


TASK_NAME = "refund payout batches"
TASK = "refunds.tasks.payout_batches_build"
CRONTAB = {"minute": "0", "hour": "9", "day_of_week": "mon-fri", "day_of_month": "*", "month_of_year": "*", "timezone": "Asia/Tokyo"}


def schedule_create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab = CrontabSchedule.objects.filter(**CRONTAB).first() or CrontabSchedule.objects.create(**CRONTAB)
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": TASK,
            "crontab": crontab,
            "queue": "payouts",
            "enabled": True,
            "description": "Gathers approved refund claims into payout batches (bank and Japan Post) on bank business days. "
            "The batch still needs a second finance user's approval before it leaves.",
        },
    )


def schedule_delete(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME, task=TASK).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('backoffice', '0009_incident_permissions'),
        ('refunds', '0002_role_permissions'),
        ('wallet', '0008_payout_clearing'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='payout',
            name='result_import',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='payouts', to='refunds.payoutresultimport', verbose_name='results file'),
        ),
        migrations.AddField(
            model_name='payoutbatch',
            name='built_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='built by'),
        ),
        migrations.AddField(
            model_name='payoutbatch',
            name='release_approval',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='backoffice.approval', verbose_name='release approval'),
        ),
        migrations.AddField(
            model_name='payoutresultimport',
            name='content',
            field=models.BinaryField(default=b''),
        ),
        migrations.AddField(
            model_name='payoutresultimport',
            name='paid_yen',
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='payoutresultimport',
            name='returned_yen',
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddIndex(
            model_name='payoutbatch',
            index=models.Index(fields=['state', 'id'], name='payout_batch_state'),
        ),
        migrations.AddConstraint(
            model_name='payoutbatch',
            constraint=models.UniqueConstraint(condition=models.Q(('file_name', ''), _negated=True), fields=('file_name',), name='payout_batch_file_name_once'),
        ),
        migrations.RunPython(schedule_create, schedule_delete),
    ]
