"""The audit trail without a global lock, keyed and anchored outside the database (desk/audit.py).

Events are now inserted unsealed and chained later by the sealer with HMAC-SHA256 (DESK_AUDIT_KEY). The rows already
stored were chained with plain SHA-256 under the old head lock: their chain is verified here (a broken chain stops
the migration, naming the row: investigate before re-keying it), then their seals are cleared so that the sealer
chains them again, keyed, in the same order (ids follow the old sequence). On PostgreSQL, triggers then refuse any
UPDATE of an event other than sealing it, every DELETE and TRUNCATE of events and checkpoints, and moving the head
back. The test suite's flush sets ``desk.audit_maintenance`` (tests/conftest.py), in its own transaction only.
"""

import hashlib
import json
from datetime import UTC

from django.db import migrations, models

import desk.models

GENESIS_HASH = "0" * 64


def _sha256_of(event) -> str:
    # The unkeyed event hash of migrations 0001-0004, frozen here.
    content = {
        "seq": event.seq,
        "prev_hash": event.prev_hash,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
        "request_id": event.request_id,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rekey_stored_events(apps, schema_editor) -> None:
    AuditEvent = apps.get_model("desk", "AuditEvent")
    AuditHead = apps.get_model("desk", "AuditHead")
    expected_seq, expected_prev = 1, GENESIS_HASH
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        if event.seq != expected_seq or event.prev_hash != expected_prev or _sha256_of(event) != event.hash:
            raise RuntimeError(
                f"audit chain broken at #{event.seq} before re-keying: investigate (verify_audit on the previous "
                "release names the row) before migrating"
            )
        expected_seq, expected_prev = expected_seq + 1, event.hash
    head = AuditHead.objects.filter(pk=1).first()
    if head is not None and (head.seq, head.hash) != (expected_seq - 1, expected_prev):
        raise RuntimeError(f"audit head #{head.seq} does not match the chain's end #{expected_seq - 1}: rows missing")
    AuditEvent.objects.update(seq=None, prev_hash=None, hash=None)
    AuditHead.objects.update(seq=0, hash=GENESIS_HASH)


GUARD_SQL = """
CREATE OR REPLACE FUNCTION desk_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The one maintenance door, for the test suite's flush between tests (SET LOCAL, its own transaction only).
    IF current_setting('desk.audit_maintenance', true) = 'on' THEN
        IF TG_LEVEL = 'STATEMENT' THEN
            RETURN NULL;
        ELSIF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF TG_TABLE_NAME = 'desk_auditevent' THEN
            -- Sealing, the only change an event sees: unsealed to sealed, every other column unchanged.
            IF OLD.seq IS NULL AND NEW.seq IS NOT NULL
               AND (to_jsonb(NEW) - ARRAY['seq', 'prev_hash', 'hash'])
                   = (to_jsonb(OLD) - ARRAY['seq', 'prev_hash', 'hash']) THEN
                RETURN NEW;
            END IF;
        ELSIF TG_TABLE_NAME = 'desk_audithead' THEN
            -- The head moves forward only; the verified position beside it is the verifier's.
            IF NEW.id = OLD.id AND (NEW.seq > OLD.seq OR (NEW.seq = OLD.seq AND NEW.hash = OLD.hash)) THEN
                RETURN NEW;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
"""
GUARDED_TABLES = ("desk_auditevent", "desk_auditcheckpoint", "desk_audithead")


def guard_install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite (the embedded desk) has no such guard: the anchor is what shows a rewrite there
    schema_editor.execute(GUARD_SQL, params=None)
    for table in GUARDED_TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_guard BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION desk_audit_guard()"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {table}_guard_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION desk_audit_guard()"
        )


def guard_remove(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in GUARDED_TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_guard ON {table}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_guard_truncate ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS desk_audit_guard()")


class Migration(migrations.Migration):

    dependencies = [
        ('desk', '0005_vol_surface'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditCheckpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.PositiveBigIntegerField(unique=True)),
                ('hash', models.CharField(max_length=64)),
                ('signed_at', models.DateTimeField(help_text='UTC, microseconds')),
                ('signature', models.CharField(max_length=64)),
            ],
            options={
                'ordering': ['seq'],
            },
        ),
        migrations.AlterModelOptions(
            name='auditevent',
            options={'ordering': [models.OrderBy(models.F('seq'), nulls_last=True), 'id'], 'permissions': [('export_audit', 'Can export and verify the audit trail')]},
        ),
        migrations.AddField(
            model_name='auditevent',
            name='txid',
            field=models.BigIntegerField(db_default=desk.models.CurrentTransactionId(), editable=False, help_text='the inserting transaction (PostgreSQL)'),
        ),
        migrations.AddField(
            model_name='audithead',
            name='unsealed_floor',
            field=models.BigIntegerField(default=0, help_text='no event left unsealed belongs to a transaction older than this one (PostgreSQL)'),
        ),
        migrations.AddField(
            model_name='audithead',
            name='verified_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='audithead',
            name='verified_hash',
            field=models.CharField(blank=True, default='', max_length=64),
        ),
        migrations.AddField(
            model_name='audithead',
            name='verified_mac',
            field=models.CharField(blank=True, default='', max_length=64),
        ),
        migrations.AddField(
            model_name='audithead',
            name='verified_seq',
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='hash',
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='prev_hash',
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='seq',
            field=models.PositiveBigIntegerField(blank=True, help_text='empty until sealed', null=True, unique=True),
        ),
        migrations.RunPython(rekey_stored_events),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(condition=models.Q(('seq__isnull', True)), fields=['txid', 'id'], name='auditevent_unsealed'),
        ),
        migrations.AddConstraint(
            model_name='auditevent',
            constraint=models.UniqueConstraint(condition=models.Q(('prev_hash__isnull', False)), fields=('prev_hash',), name='auditevent_prev_hash_unique'),
        ),
        migrations.AddConstraint(
            model_name='auditevent',
            constraint=models.UniqueConstraint(condition=models.Q(('hash__isnull', False)), fields=('hash',), name='auditevent_hash_unique'),
        ),
        migrations.AddConstraint(
            model_name='auditevent',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('hash__isnull', True), ('prev_hash__isnull', True), ('seq__isnull', True)), models.Q(('hash__isnull', False), ('prev_hash__isnull', False), ('seq__isnull', False)), _connector='OR'), name='auditevent_sealed_whole'),
        ),
        migrations.RunPython(guard_install, guard_remove),
    ]
