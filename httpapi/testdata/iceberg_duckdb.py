"""DuckDB 1.5.5's iceberg extension attached to Zombi's Iceberg REST catalog.

usage: iceberg_duckdb.py URI [TOKEN]
The extensions are loaded from the PyPI wheels duckdb-extension-{avro,
httpfs,iceberg}==1.5.5 (DuckDB-signed binaries; signature checks stay on),
so nothing is downloaded. Prints one JSON object for the Go test.
"""
import glob
import json
import os
import sys

import duckdb
import duckdb_extension_avro
import duckdb_extension_httpfs
import duckdb_extension_iceberg

uri = sys.argv[1]
token = sys.argv[2] if len(sys.argv) > 2 else None
con = duckdb.connect(config={
    "allow_unsigned_extensions": "false",
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
})
for m in (duckdb_extension_avro, duckdb_extension_httpfs, duckdb_extension_iceberg):
    (path,) = glob.glob(os.path.join(os.path.dirname(m.__file__), "extensions", "*", "*.duckdb_extension"))
    con.execute(f"LOAD '{path}'")
if token:
    con.execute(f"CREATE SECRET zombi (TYPE iceberg, TOKEN '{token}')")
    con.execute(f"ATTACH '' AS z (TYPE iceberg, ENDPOINT '{uri}', SECRET zombi)")
else:
    con.execute(f"ATTACH '' AS z (TYPE iceberg, ENDPOINT '{uri}', AUTHORIZATION_TYPE 'none')")
out = {
    "tables": sorted(f"{r[1]}.{r[2]}" for r in con.execute("SHOW ALL TABLES").fetchall() if r[0] == "z"),
    "rows": [
        {"partition": p, "offset": o, "key": k.decode(), "value": v.decode()}
        for p, o, k, v in con.execute("SELECT _partition, _offset, _key, value FROM z.zombi.orders ORDER BY _partition, _offset").fetchall()
    ],
    "empty_count": con.execute("SELECT count(*) FROM z.zombi.empty").fetchone()[0],
}
try:
    con.execute("CREATE TABLE z.zombi.newt (x INTEGER)")
    out["create_table"] = "done"
except Exception as e:
    out["create_table"] = type(e).__name__ + ": " + str(e)
print(json.dumps(out))
