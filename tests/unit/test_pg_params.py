"""The PostgreSQL parameter rule ``:name`` -> ``%(name)s``, and the PostgreSQL overlay keeps every query's
parameters.

Pure string functions: no server needed (the queries and the migrations run against a real server in
``tests/contract/test_postgres_store.py``, which also compares the two dialects' schemas).
"""

from __future__ import annotations

import re

import pytest

from leadeval.adapters.jobstore.postgres import to_psycopg_params
from leadeval.adapters.jobstore.sql import load_queries


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM t WHERE id = :job_id", "SELECT * FROM t WHERE id = %(job_id)s"),
        ("VALUES (:a, :b_2, :_c)", "VALUES (%(a)s, %(b_2)s, %(_c)s)"),
        ("x = :a AND y = :a", "x = %(a)s AND y = %(a)s"),
        # casts are not parameters; a parameter followed by a cast is
        ("SELECT value::jsonb", "SELECT value::jsonb"),
        ("SELECT :hashes::jsonb", "SELECT %(hashes)s::jsonb"),
        ("CAST(:n AS bigint)", "CAST(%(n)s AS bigint)"),
        # literal % is doubled everywhere (psycopg scans the whole text)
        ("WHERE name LIKE 'a%' AND pct = 5 % 2", "WHERE name LIKE 'a%%' AND pct = 5 %% 2"),
        # string literals, E'' escapes, quoted identifiers, comments, dollar quotes are left alone
        ("to_char(ts, 'YYYY-MM-DD\"T\"HH24:MI:SS')", "to_char(ts, 'YYYY-MM-DD\"T\"HH24:MI:SS')"),
        ("SELECT 'it''s :not' , :yes", "SELECT 'it''s :not' , %(yes)s"),
        ("SELECT E'a\\':no' , :yes", "SELECT E'a\\':no' , %(yes)s"),
        ('SELECT ":col" FROM t WHERE a = :a', 'SELECT ":col" FROM t WHERE a = %(a)s'),
        ("-- uses :nothing\nSELECT :x", "-- uses :nothing\nSELECT %(x)s"),
        ("/* :no */ SELECT :x", "/* :no */ SELECT %(x)s"),
        ("AS $fn$ SELECT :no $fn$; SELECT :x", "AS $fn$ SELECT :no $fn$; SELECT %(x)s"),
        ("AS $$ :no $$", "AS $$ :no $$"),
        ("SELECT $1, :x", "SELECT $1, %(x)s"),
        # array slices with numbers are not parameters
        ("SELECT a[1:2]", "SELECT a[1:2]"),
    ],
)
def test_to_psycopg_params(sql: str, expected: str) -> None:
    assert to_psycopg_params(sql) == expected


def test_every_sqlite_query_has_a_postgresql_twin_with_the_same_parameters() -> None:
    param = re.compile(r"%\((\w+)\)s")
    sqlite, postgres = load_queries("sqlite"), load_queries("postgresql")
    assert set(sqlite) <= set(postgres)
    for name, sql in sqlite.items():
        sqlite_params = set(param.findall(to_psycopg_params(sql)))
        assert set(param.findall(to_psycopg_params(postgres[name]))) == sqlite_params, name
    assert set(param.findall(to_psycopg_params(postgres["claim_due"]))) == {"now", "lease_until", "limit"}
