// read.mjs LOCATION: prints every row of an Iceberg table's current snapshot
// as JSON lines (the format internal/icebergread parses), reading it with
// code that shares nothing with iceberg-go: our own walk of the metadata
// JSON, icebird's Avro decoder for the manifest list and manifests, and
// hyparquet (+ hyparquet-compressors for zstd) for the Parquet data files.
//
// LOCATION is a table directory or s3://bucket/prefix (the version in
// metadata/version-hint.text is read), or a vN.metadata.json itself.
// s3:// is read over HTTP from ICEBERGREAD_S3_ENDPOINT (path style), with
// requests signed by aws4 (SigV4) with AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_REGION: the objects are read through the
// S3 protocol, the way an engine reads them, not from the server's disk.
import { readFile } from 'node:fs/promises'
import { inflateRawSync } from 'node:zlib'
import aws4 from 'aws4'
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { avroMetadata, readZigZag } from 'icebird/src/avro/avro.metadata.js'
import { avroRead } from 'icebird/src/avro/avro.read.js'

async function fetchBytes(loc) {
  if (loc.startsWith('s3://')) return s3Get(loc)
  const path = loc.startsWith('file://') ? new URL(loc).pathname : loc
  const b = await readFile(path)
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

async function s3Get(loc) {
  const endpoint = process.env.ICEBERGREAD_S3_ENDPOINT
  if (!endpoint) throw new Error(`${loc}: ICEBERGREAD_S3_ENDPOINT is not set`)
  const u = new URL(endpoint)
  const rest = loc.slice('s3://'.length)
  const path = '/' + rest.split('/').map(encodeURIComponent).join('/')
  const opts = aws4.sign({
    host: u.host, path, method: 'GET', service: 's3',
    region: process.env.AWS_REGION || 'us-east-1',
  }, {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  })
  const res = await fetch(`${u.protocol}//${u.host}${path}`, { headers: opts.headers })
  if (!res.ok) throw new Error(`GET ${loc}: HTTP ${res.status} ${await res.text()}`)
  return new Uint8Array(await res.arrayBuffer())
}

// Snapshot ids are 64-bit: JSON.parse would round them (Node 20 has no
// JSON.parse source access), so they are turned into strings first.
function parseMetadata(text) {
  return JSON.parse(text.replace(/("(?:current-snapshot-id|snapshot-id|parent-snapshot-id)"\s*:\s*)(-?\d+)/g, '$1"$2"'))
}

async function metadataLocation(loc) {
  if (loc.endsWith('.metadata.json')) return loc
  const base = loc.replace(/\/+$/, '')
  const hint = new TextDecoder().decode(await fetchBytes(`${base}/metadata/version-hint.text`)).trim()
  if (/^\d+$/.test(hint)) return `${base}/metadata/v${hint}.metadata.json`
  if (hint.endsWith('.metadata.json')) return hint.includes('/') ? hint : `${base}/metadata/${hint}`
  throw new Error(`${base}/metadata/version-hint.text: unexpected content ${JSON.stringify(hint)}`)
}

// readAvro decodes an Avro object container file with icebird. icebird's
// own inflate rejects Go's compress/flate streams, so deflate blocks are
// inflated here with node:zlib and handed to icebird as an uncompressed
// file (same header, same sync marker).
function readAvro(bytes, name) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const reader = { view, offset: 0 }
  const { metadata, syncMarker } = avroMetadata(reader)
  const codec = metadata['avro.codec'] ?? 'null'
  if (codec === 'null') return avroRead({ reader, metadata, syncMarker })
  if (codec !== 'deflate') throw new Error(`${name}: Avro codec ${codec} not supported`)
  const parts = [bytes.subarray(0, reader.offset)]
  while (reader.offset < bytes.byteLength) {
    const count = readZigZag(reader)
    const size = readZigZag(reader)
    const data = inflateRawSync(bytes.subarray(reader.offset, reader.offset + size))
    reader.offset += size
    parts.push(zigzag(count), zigzag(data.length), data, bytes.subarray(reader.offset, reader.offset + 16))
    reader.offset += 16
  }
  const plain = Buffer.concat(parts)
  const r2 = { view: new DataView(plain.buffer, plain.byteOffset, plain.byteLength), offset: 0 }
  const h = avroMetadata(r2)
  return avroRead({ reader: r2, metadata: { ...h.metadata, 'avro.codec': 'null' }, syncMarker: h.syncMarker })
}

function zigzag(n) {
  let v = n >= 0 ? n * 2 : -n * 2 - 1
  const out = []
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80)
    v = Math.floor(v / 128)
  }
  out.push(v)
  return Uint8Array.from(out)
}

// topLevelFieldIds maps a data file's top-level column names to their
// Iceberg field ids (PARQUET field_id), so columns are matched by id.
function topLevelFieldIds(meta) {
  const ids = {}
  const schema = meta.schema
  let i = 1
  for (let c = 0; c < schema[0].num_children; c++) {
    const el = schema[i]
    if (el.field_id !== undefined) ids[el.field_id] = el.name
    i = skip(schema, i)
  }
  return ids
}

function skip(schema, i) {
  const n = schema[i].num_children || 0
  i++
  for (let c = 0; c < n; c++) i = skip(schema, i)
  return i
}

const b64 = v => (v === null || v === undefined) ? null : Buffer.from(v).toString('base64')
const str = v => (v === null || v === undefined) ? null : (typeof v === 'string' ? v : new TextDecoder().decode(v))

// Micros keeps a TIMESTAMP(MICROS) exact: hyparquet's default parser
// makes a Date, which holds milliseconds only.
class Micros {
  constructor(us) { this.us = BigInt(us) }
}
const parsers = {
  timestampFromMicroseconds: us => new Micros(us),
  timestampFromMilliseconds: ms => new Micros(BigInt(ms) * 1000n),
}

function micros(v) {
  if (v === null || v === undefined) return null
  if (v instanceof Micros) return String(v.us)
  if (v instanceof Date) return String(BigInt(v.getTime()) * 1000n)
  throw new Error(`unexpected timestamp ${v}`)
}

// typed renders a value of an Iceberg primitive type for the JSON line.
function typed(type, v) {
  if (v === null || v === undefined) return { t: type, v: null }
  switch (type) {
    case 'binary': return { t: type, v: b64(v) }
    case 'string': return { t: type, v: str(v) }
    case 'long': return { t: type, v: String(v) }
    case 'timestamp': case 'timestamptz': return { t: type, v: micros(v) }
    default: return { t: type, v: typeof v === 'bigint' ? String(v) : v }
  }
}

async function main() {
  const loc = process.argv[2]
  if (!loc) throw new Error('usage: node read.mjs LOCATION')
  const mdLoc = await metadataLocation(loc)
  const md = parseMetadata(new TextDecoder().decode(await fetchBytes(mdLoc)))
  const cur = md['current-snapshot-id']
  if (cur === undefined || cur === null || cur === '-1') return
  const snap = md.snapshots.find(s => s['snapshot-id'] === cur)
  if (!snap) throw new Error(`${mdLoc}: current snapshot ${cur} not in snapshots`)
  const schema = md.schemas.find(s => s['schema-id'] === md['current-schema-id'])

  const files = []
  for (const m of readAvro(await fetchBytes(snap['manifest-list']), snap['manifest-list'])) {
    if (m.content !== undefined && m.content !== 0) throw new Error(`${m.manifest_path}: delete manifests are not supported`)
    for (const e of readAvro(await fetchBytes(m.manifest_path), m.manifest_path)) {
      if (e.status === 2) continue // DELETED: not in this snapshot
      const df = e.data_file
      if (df.content !== undefined && df.content !== 0) throw new Error(`${df.file_path}: delete files are not supported`)
      if (String(df.file_format).toUpperCase() !== 'PARQUET') throw new Error(`${df.file_path}: format ${df.file_format}`)
      files.push(df.file_path)
    }
  }

  const out = []
  for (const path of files) {
    const buf = await fetchBytes(path)
    const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
    const meta = await parquetMetadataAsync(file)
    const names = topLevelFieldIds(meta)
    const rows = await parquetReadObjects({ file, metadata: meta, compressors, parsers, utf8: false })
    for (const r of rows) {
      const row = { extra: {} }
      for (const f of schema.fields) {
        const name = names[f.id]
        const v = name === undefined ? null : r[name]
        switch (f.id) {
          case 1: row.partition = v; break
          case 2: row.offset = String(v); break
          case 3: row.timestamp_us = micros(v); break
          case 4: row.key = b64(v); break
          case 5: row.headers = v === null || v === undefined ? null : v.map(h => ({ key: str(h.key), value: b64(h.value) })); break
          case 6:
            if (f.type === 'string') row.text = str(v)
            else row.value = b64(v)
            break
          default: row.extra[f.name] = typed(f.type, v)
        }
      }
      out.push(JSON.stringify(row))
    }
  }
  if (out.length) process.stdout.write(out.join('\n') + '\n')
}

main().catch(err => {
  process.stderr.write(`read.mjs: ${err.stack || err}\n`)
  process.exit(1)
})
