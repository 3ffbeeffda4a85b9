"""Stock items: the vocabulary of relief items a depot's stock may name.

``PATCH /depot_stock/{depot}/帐蓬`` (a misspelling) used to book stock to a new junk item. Now
``depot_stock.item`` is a foreign key to ``stock_items.name``: an item exists only once it was
seeded here or added on purpose (`emgis stock-items add`, ``POST /stock-items``), and each
addition is audited (the row trigger of 0001/0002, keyed by name).

The seed is frozen here (a migration never changes after release; layers/vocab.py STOCK_ITEMS
holds the same list for the code). Items already in ``depot_stock`` when this runs are kept as
kind ``other`` so that no stock row is lost.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KINDS = ("shelter", "bedding", "clothing", "food", "water", "sanitation", "power", "rescue",
         "medical", "other")
SEED = (
    ("帐篷", "顶", "shelter", "tent"), ("棉帐篷", "顶", "shelter", "cotton tent"),
    ("单帐篷", "顶", "shelter", "single tent"), ("棉被", "床", "bedding", "quilt"),
    ("毛毯", "条", "bedding", "blanket"), ("睡袋", "个", "bedding", "sleeping bag"),
    ("折叠床", "张", "bedding", "folding bed"), ("棉大衣", "件", "clothing", "padded coat"),
    ("方便食品", "kg", "food", "instant food"), ("大米", "kg", "food", "rice"),
    ("饮用水", "L", "water", "drinking_water"), ("瓶装水", "L", "water", "bottled water"),
    ("清洁用水", "L", "water", "clean_water"), ("家庭包", "个", "sanitation", "family_kits"),
    ("移动厕所", "个", "sanitation", "toilets"), ("发电机", "台", "power", "generator"),
    ("应急灯", "个", "power", "emergency lamp"), ("救生衣", "件", "rescue", "life jacket"),
    ("冲锋舟", "艘", "rescue", "assault boat"), ("急救包", "个", "medical", "first-aid kit"),
)
BULK_OFF = "WHEN (coalesce(current_setting('emgis.bulk', true), '') <> 'on')"


def upgrade() -> None:
    allowed = ", ".join(f"'{k}'" for k in KINDS)
    op.create_table(
        "stock_items",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False, server_default="other"),
        sa.Column("name_en", sa.Text(), nullable=True),
        sa.Column("added_by", sa.Text(), nullable=False, server_default="seed"),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.CheckConstraint(f"kind IN ({allowed})", name="kind_allowed"),
        sa.CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"),
        sa.PrimaryKeyConstraint("name"),
    )
    items = sa.table("stock_items", sa.column("name"), sa.column("unit"), sa.column("kind"),
                     sa.column("name_en"))
    op.bulk_insert(items, [{"name": n, "unit": u, "kind": k, "name_en": e}
                           for n, u, k, e in SEED])
    op.execute("INSERT INTO stock_items (name, unit, kind, added_by) "
               "SELECT item, max(unit), 'other', 'migration 0006' FROM depot_stock "
               "WHERE item NOT IN (SELECT name FROM stock_items) GROUP BY item")
    op.create_foreign_key("depot_stock_item_fkey", "depot_stock", "stock_items", ["item"],
                          ["name"], onupdate="CASCADE", ondelete="RESTRICT")
    op.execute(f"CREATE TRIGGER stock_items_audit AFTER INSERT OR UPDATE OR DELETE ON stock_items "
               f"FOR EACH ROW {BULK_OFF} EXECUTE FUNCTION emgis_audit('name')")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS stock_items_audit ON stock_items")
    op.drop_constraint("depot_stock_item_fkey", "depot_stock", type_="foreignkey")
    op.drop_table("stock_items")
