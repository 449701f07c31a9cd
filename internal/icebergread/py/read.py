"""read.py READER ARGS...: prints every row of an Iceberg table's current
snapshot as JSON lines (the format internal/icebergread parses).

  read.py duckdb LOCATION            DuckDB 1.5.5 iceberg_scan(LOCATION)
  read.py pyiceberg LOCATION         pyiceberg StaticTable (LOCATION: a table
                                     location with version-hint.text, or a
                                     vN.metadata.json)
  read.py pyiceberg-rest URI IDENT   pyiceberg RestCatalog(uri=URI).load_table(IDENT)

s3:// locations use ICEBERGREAD_S3_ENDPOINT (http://host:port, path style),
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.
"""

import base64
import datetime
import json
import os
import sys
from urllib.parse import urlparse

import duckdb_ext


def b64(v):
    return None if v is None else base64.b64encode(bytes(v)).decode()


def micros(v):
    if v is None:
        return None
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        d = v - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        return str((d.days * 86400 + d.seconds) * 1000000 + d.microseconds)
    return str(int(v))


def typed(t, v):
    if v is None:
        return {"t": t, "v": None}
    if t == "binary":
        return {"t": t, "v": b64(v)}
    if t in ("timestamp", "timestamptz"):
        return {"t": t, "v": micros(v)}
    if t == "long":
        return {"t": t, "v": str(v)}
    return {"t": t, "v": v}


def emit(fields, rows):
    """fields: [(field id, name, iceberg type)]; rows: dicts by column name."""
    out = sys.stdout
    for r in rows:
        row = {"extra": {}}
        for fid, name, t in fields:
            v = r.get(name)
            if fid == 1:
                row["partition"] = v
            elif fid == 2:
                row["offset"] = str(v)
            elif fid == 3:
                row["timestamp_us"] = micros(v)
            elif fid == 4:
                row["key"] = b64(v)
            elif fid == 5:
                row["headers"] = None if v is None else [{"key": h["key"], "value": b64(h["value"])} for h in v]
            elif fid == 6:
                if t == "string":
                    row["text"] = v
                else:
                    row["value"] = b64(v)
            else:
                row["extra"][name] = typed(t, v)
        out.write(json.dumps(row) + "\n")


def s3_env():
    ep = os.environ.get("ICEBERGREAD_S3_ENDPOINT")
    if not ep:
        return None
    return {
        "endpoint": ep,
        "key": os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "secret": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        "region": os.environ.get("AWS_REGION", "us-east-1"),
    }


def duckdb_s3_secret(con):
    """Loads httpfs and points DuckDB's S3 at ICEBERGREAD_S3_ENDPOINT."""
    s3 = s3_env()
    if s3 is None:
        raise SystemExit("read.py: ICEBERGREAD_S3_ENDPOINT is not set")
    duckdb_ext.load(con, "httpfs")
    u = urlparse(s3["endpoint"])
    con.execute(
        "CREATE SECRET zombi_s3 (TYPE s3, KEY_ID '%s', SECRET '%s', REGION '%s', ENDPOINT '%s', URL_STYLE 'path', USE_SSL %s)"
        % (sql_str(s3["key"]), sql_str(s3["secret"]), sql_str(s3["region"]), sql_str(u.netloc), "true" if u.scheme == "https" else "false")
    )


def sql_str(s):
    return s.replace("'", "''")


def read_duckdb(location):
    con = duckdb_ext.connect()
    if location.startswith("s3://"):
        duckdb_s3_secret(con)
    scan = "iceberg_scan('%s')" % sql_str(location)
    cols = con.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM %s)" % scan).fetchall()
    # DuckDB gives no field ids: the fixed columns are known by name, the
    # others are typed columns whose Iceberg type follows DuckDB's.
    fixed = {"_partition": 1, "_offset": 2, "_timestamp": 3, "_key": 4, "_headers": 5, "value": 6}
    duck = {"VARCHAR": "string", "BIGINT": "long", "INTEGER": "int", "DOUBLE": "double", "BOOLEAN": "boolean",
            "TIMESTAMP WITH TIME ZONE": "timestamptz", "TIMESTAMP": "timestamp", "BLOB": "binary"}
    fields, select = [], []
    for name, t in cols:
        fields.append((fixed.get(name, 0), name, duck.get(t, t)))
        q = '"%s"' % name.replace('"', '""')
        # Timestamps as microseconds: Python's datetime with a zone needs pytz.
        select.append("epoch_us(%s) AS %s" % (q, q) if t.startswith("TIMESTAMP") else q)
    # Fetched before any other statement: a new execute on the connection
    # drops a pending result (silently: zero rows).
    rows = con.execute("SELECT %s FROM %s" % (", ".join(select), scan)).fetchall()
    names = [c[0] for c in cols]
    emit(fields, (dict(zip(names, r)) for r in rows))


def pyiceberg_props():
    s3 = s3_env()
    if s3 is None:
        return {}
    return {
        "s3.endpoint": s3["endpoint"],
        "s3.access-key-id": s3["key"],
        "s3.secret-access-key": s3["secret"],
        "s3.region": s3["region"],
        "s3.force-virtual-addressing": "false",
    }


def read_pyiceberg_table(tbl):
    schema = tbl.schema()
    fields = [(f.field_id, f.name, str(f.field_type)) for f in schema.fields]
    at = tbl.scan().to_arrow()
    emit(fields, at.to_pylist())


def read_pyiceberg(location):
    from pyiceberg.table import StaticTable

    read_pyiceberg_table(StaticTable.from_metadata(location, properties=pyiceberg_props()))


def read_pyiceberg_rest(uri, ident):
    from pyiceberg.catalog.rest import RestCatalog

    cat = RestCatalog("zombi", uri=uri, **pyiceberg_props())
    read_pyiceberg_table(cat.load_table(ident))


def main(argv):
    if len(argv) >= 3 and argv[1] == "duckdb":
        read_duckdb(argv[2])
    elif len(argv) >= 3 and argv[1] == "pyiceberg":
        read_pyiceberg(argv[2])
    elif len(argv) >= 4 and argv[1] == "pyiceberg-rest":
        read_pyiceberg_rest(argv[2], argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
