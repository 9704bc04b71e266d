"""The full-text index lives beside the models, in each database's own dialect.

SQLite keeps it in an FTS5 table (``message_search``) filled by triggers on
``messages``; PostgreSQL in a generated ``tsvector`` column with a GIN index.
Either way the index changes in the transaction that changes the message, and
neither is a model: Alembic's autogenerate is told to look past them.
"""

from __future__ import annotations

from typing import Any

SQLITE_FTS_TABLE = "message_search"
PG_VECTOR_COLUMN = "search_vector"
PG_VECTOR_INDEX = "ix_messages_search_vector"


def include_in_autogenerate(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Alembic ``include_name`` hook: skip the search index objects made by hand."""
    if type_ == "table" and name and name.startswith(SQLITE_FTS_TABLE):
        return False
    if type_ == "column" and name == PG_VECTOR_COLUMN:
        return False
    return not (type_ == "index" and name == PG_VECTOR_INDEX)


SQLITE_UPGRADE = [
    # External-content FTS5: the text stays in messages.body, the index holds tokens.
    # unicode61 splits on Unicode word boundaries and folds case and diacritics; queries
    # are prefix queries, so Korean is found by the start of a word ("안녕" in "안녕하세요").
    f"""CREATE VIRTUAL TABLE {SQLITE_FTS_TABLE} USING fts5(
        body, content='messages', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
        INSERT INTO {SQLITE_FTS_TABLE}(rowid, body) VALUES (new.id, new.body);
    END""",
    f"""CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
        INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}, rowid, body)
        VALUES ('delete', old.id, old.body);
    END""",
    f"""CREATE TRIGGER messages_search_update AFTER UPDATE OF body ON messages BEGIN
        INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}, rowid, body)
        VALUES ('delete', old.id, old.body);
        INSERT INTO {SQLITE_FTS_TABLE}(rowid, body) VALUES (new.id, new.body);
    END""",
    f"INSERT INTO {SQLITE_FTS_TABLE}({SQLITE_FTS_TABLE}) VALUES ('rebuild')",
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS messages_search_update",
    "DROP TRIGGER IF EXISTS messages_search_delete",
    "DROP TRIGGER IF EXISTS messages_search_insert",
    f"DROP TABLE IF EXISTS {SQLITE_FTS_TABLE}",
]
PG_UPGRADE = [
    # 'simple' does no stemming and no stop words: it splits on spaces and punctuation
    # and lower-cases, which suits a chat in any language; prefix queries (:*) give
    # Korean and other unsegmented text a match on the start of each word.
    f"""ALTER TABLE messages ADD COLUMN {PG_VECTOR_COLUMN} tsvector
        GENERATED ALWAYS AS (to_tsvector('simple', coalesce(body, ''))) STORED""",
    f"CREATE INDEX {PG_VECTOR_INDEX} ON messages USING gin ({PG_VECTOR_COLUMN})",
]
PG_DOWNGRADE = [
    f"DROP INDEX IF EXISTS {PG_VECTOR_INDEX}",
    f"ALTER TABLE messages DROP COLUMN IF EXISTS {PG_VECTOR_COLUMN}",
]
