"""pyiceberg's RestCatalog against Zombi's read-only Iceberg REST catalog.

usage: iceberg_pyiceberg.py URI [PROPERTY=VALUE ...]  (a VALUE starting
with "{" is JSON, e.g. auth={"type":"basic","basic":{...}})
Prints one JSON object: what the catalog listed, the rows of zombi.orders,
and how a write was refused. The Go test (iceberg_catalog_test.go) checks it.
"""
import json
import sys

from pyiceberg.catalog import load_catalog
from pyiceberg.schema import Schema
from pyiceberg.types import NestedField, StringType

uri = sys.argv[1]
props = {k: json.loads(v) if v.startswith("{") else v for k, v in (a.split("=", 1) for a in sys.argv[2:])}
cat = load_catalog("zombi", type="rest", uri=uri, **props)
out = {
    "namespaces": [list(n) for n in cat.list_namespaces()],
    "tables": sorted(".".join(t) for t in cat.list_tables("zombi")),
    "namespace_exists": cat.namespace_exists("zombi"),
    "other_namespace_exists": cat.namespace_exists("other"),
    "table_exists": cat.table_exists("zombi.orders"),
    "missing_table_exists": cat.table_exists("zombi.nosuch"),
}
tbl = cat.load_table("zombi.orders")
out["metadata_location"] = tbl.metadata_location
out["field_ids"] = {f.name: f.field_id for f in tbl.schema().fields}
arrow = tbl.scan().to_arrow().sort_by([("_partition", "ascending"), ("_offset", "ascending")])
out["rows"] = [
    {"partition": r["_partition"], "offset": r["_offset"], "key": r["_key"].decode(), "value": r["value"].decode()}
    for r in arrow.to_pylist()
]
try:
    cat.load_table("zombi.nosuch")
    out["missing_table"] = "loaded"
except Exception as e:  # NoSuchTableError
    out["missing_table"] = type(e).__name__
for name, write in [
    ("create_namespace", lambda: cat.create_namespace("new")),
    ("create_table", lambda: cat.create_table("zombi.new", Schema(NestedField(1, "x", StringType())))),
    ("drop_table", lambda: cat.drop_table("zombi.orders")),
]:
    try:
        write()
        out[name] = "done"
    except Exception as e:
        out[name] = type(e).__name__ + ": " + str(e)
print(json.dumps(out))
