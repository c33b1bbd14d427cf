// Reads Iceberg tables with icebird (an independent Iceberg reader built on
// hyparquet) and prints, per request, the row count and the sum of one
// column. Usage: node icebird_read.mjs <icebird module path> <requests.json>
// where requests are [{tableUrl, metadataFileName, column, partition}]. file:// URLs
// (the lake is a local directory) are served from the filesystem, with
// Range requests, in place of fetch.
import { readFile } from 'node:fs/promises'
import { open } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'

const [modulePath, requestsPath] = process.argv.slice(2)
const { icebergRead } = await import(pathToFileURL(modulePath).href)

const realFetch = globalThis.fetch
globalThis.fetch = async (url, init) => {
  const u = String(url)
  if (!u.startsWith('file://')) return realFetch(url, init)
  const path = fileURLToPath(u)
  let range
  const h = init?.headers
  if (h) range = typeof h.get === 'function' ? h.get('Range') : (h.Range ?? h.range)
  let fh
  try {
    fh = await open(path, 'r')
  } catch (e) {
    return new Response('not found: ' + path, { status: 404 })
  }
  try {
    const { size } = await fh.stat()
    if (range) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range)
      const start = Number(m[1])
      const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
      const buf = Buffer.alloc(end - start + 1)
      await fh.read(buf, 0, buf.length, start)
      return new Response(buf, { status: 206, headers: { 'Content-Length': String(buf.length) } })
    }
    const buf = await fh.readFile()
    return new Response(buf, { status: 200, headers: { 'Content-Length': String(buf.length) } })
  } finally {
    await fh.close()
  }
}

const requests = JSON.parse(await readFile(requestsPath, 'utf8'))
for (const r of requests) {
  const rows = await icebergRead({ tableUrl: r.tableUrl, metadataFileName: r.metadataFileName })
  let sum = 0n
  let missing = 0
  for (const row of rows) {
    if (r.partition && (row[r.partition] === null || row[r.partition] === undefined)) missing++
    const v = row[r.column]
    if (v === null || v === undefined) continue
    sum += BigInt(v)
  }
  console.log(JSON.stringify({ tableUrl: r.tableUrl, metadataFileName: r.metadataFileName, count: rows.length, sum: sum.toString(), missingPartition: missing }))
}
