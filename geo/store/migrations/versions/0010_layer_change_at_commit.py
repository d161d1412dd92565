"""A change row takes its id when its transaction commits, so a stamp follows commit order

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 20:40:00.000000

The triggers of 0009 append a row per write as the write happens. A long transaction that got
its row first and committed after a shorter one left the latest id where the shorter one put
it: a tile cached between the two commits, without the long one's changes, stayed "fresh".
Now a deferred constraint trigger gives the row a new id as its transaction commits, under a
lock per layer held until the commit is visible: a later id is always a later commit. Writers
of one layer wait for each other only for the instant of committing. (The GeoPackage, built
without migrations, writes one transaction at a time: its ids are in commit order already.)
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION petadesa_layer_change_committed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('petadesa.layer_change'), hashtext(NEW.layer));
    UPDATE layer_change SET id = nextval(pg_get_serial_sequence('layer_change', 'id'))
    WHERE id = NEW.id;
    RETURN NULL;
END
$$
"""

TRIGGER = """
CREATE CONSTRAINT TRIGGER layer_change_committed AFTER INSERT ON layer_change
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION petadesa_layer_change_committed()
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS layer_change_committed ON layer_change")
    op.execute("DROP FUNCTION IF EXISTS petadesa_layer_change_committed()")
