"""Plan tasks that mobilise: the teams (by type) and the supplies (item, quantity) a response
level calls out, carried onto the incident's checklist when the response starts.

Issue #17 asks each level of a plan (预案) for "the teams and supplies to mobilise"; 0008 kept
only the level's triggers, command and tasks. A task may now name a team type (``team_type``, a
key of layers/vocab.py TEAM_TYPE; ``quantity`` = how many teams) or a relief item
(``item`` → ``stock_items``; ``quantity`` in its unit). Both columns are added to
``incident_checklists`` too, so a started response says what to send.

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("plan_tasks", "incident_checklists")


def upgrade() -> None:
    for t in TABLES:
        op.add_column(t, sa.Column("team_type", sa.String(24), nullable=True))
        op.add_column(t, sa.Column("item", sa.Text, nullable=True))
        op.add_column(t, sa.Column("quantity", sa.Float, nullable=True))
        op.create_check_constraint(f"ck_{t}_quantity_positive", t,
                                   "quantity IS NULL OR quantity > 0")
        op.create_check_constraint(f"ck_{t}_team_or_item", t,
                                   "team_type IS NULL OR item IS NULL")


def downgrade() -> None:
    for t in TABLES:
        op.drop_constraint(f"ck_{t}_team_or_item", t)
        op.drop_constraint(f"ck_{t}_quantity_positive", t)
        for c in ("quantity", "item", "team_type"):
            op.drop_column(t, c)
