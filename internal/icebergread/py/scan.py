"""scan.py LOCATION: prints the rows of the Iceberg table at LOCATION (a
table directory with metadata/version-hint.text, or s3://... with
ICEBERGREAD_S3_ENDPOINT and the AWS_* variables) with DuckDB's iceberg_scan,
the way the README's demo queries a topic's table."""

import sys

import duckdb_ext
import read

if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    con = duckdb_ext.connect()
    if sys.argv[1].startswith("s3://"):
        read.duckdb_s3_secret(con)
    con.sql("SELECT * FROM iceberg_scan($1) ORDER BY _partition, _offset", params=[sys.argv[1]]).show(max_rows=100)
