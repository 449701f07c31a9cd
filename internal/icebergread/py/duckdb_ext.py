"""DuckDB 1.5.5 with its iceberg, avro and httpfs extensions loaded from the
PyPI wheels (duckdb-extension-*==1.5.5), by path: DuckDB's own INSTALL
downloads from extensions.duckdb.org, which these machines cannot reach.
The binaries are DuckDB-signed; signature checking stays on."""

import importlib
import os

import duckdb


def path(name):
    """The .duckdb_extension file of the duckdb-extension-NAME wheel."""
    mod = importlib.import_module("duckdb_extension_" + name)
    return os.path.join(os.path.dirname(mod.__file__), "extensions", "v" + duckdb.__version__, name + ".duckdb_extension")


def load(con, name):
    con.execute("LOAD '%s'" % path(name).replace("'", "''"))


def connect():
    con = duckdb.connect()
    load(con, "avro")
    load(con, "iceberg")
    return con
