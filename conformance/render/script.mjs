// Drives storage-js's image transformation options against a running Stowage server and
// checks the rendered sizes. Run by render_test.go, which uploads nothing itself: it passes
// a generated PNG (IMAGE_FILE, IMAGE_WIDTH×IMAGE_HEIGHT) and a public bucket (BUCKET).
// Exits non-zero on the first mismatch.
import { readFile } from 'node:fs/promises'
import { StorageClient } from '@supabase/storage-js'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`missing env ${name}`)
  return v
}
const key = env('SERVICE_KEY')
const storage = new StorageClient(env('STORAGE_URL'), { Authorization: `Bearer ${key}`, apikey: key })
const bucket = storage.from(env('BUCKET'))
const path = 'photos/render test.png' // a space: the URLs must be encoded as storage-js does

let step = ''
function check(cond, msg, detail) {
  if (!cond) {
    const extra = detail === undefined ? '' : `: ${JSON.stringify(detail)}`
    throw new Error(`[${step}] ${msg}${extra}`)
  }
}
function ok(res, what) {
  check(!res.error, `${what} failed`, res.error && { message: res.error.message, status: res.error.status })
  return res.data
}

// dimensions reads the size from a PNG, JPEG or WebP header.
function dimensions(b) {
  if (b.length > 24 && b.toString('latin1', 1, 4) === 'PNG') {
    return { type: 'png', width: b.readUInt32BE(16), height: b.readUInt32BE(20) }
  }
  if (b.length > 4 && b[0] === 0xff && b[1] === 0xd8) {
    for (let i = 2; i + 9 < b.length;) {
      if (b[i] !== 0xff) { i++; continue }
      const marker = b[i + 1]
      if (marker === 0xff) { i++; continue }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue }
      const len = b.readUInt16BE(i + 2)
      // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc)
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { type: 'jpeg', height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) }
      }
      i += 2 + len
    }
  }
  if (b.length > 30 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') {
    const chunk = b.toString('latin1', 12, 16)
    if (chunk === 'VP8 ') return { type: 'webp', width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff }
    if (chunk === 'VP8L') {
      const bits = b.readUInt32LE(21)
      return { type: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 }
    }
    if (chunk === 'VP8X') return { type: 'webp', width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 }
  }
  throw new Error(`[${step}] not a PNG, JPEG or WebP image (${b.length} bytes: ${b.subarray(0, 16).toString('hex')})`)
}

async function fetched(url) {
  const res = await fetch(url)
  const body = Buffer.from(await res.arrayBuffer())
  check(res.status === 200, `GET ${url}: status ${res.status}`, body.toString('utf8', 0, 300))
  check(/^image\//.test(res.headers.get('content-type') ?? ''), `content-type ${res.headers.get('content-type')}`)
  return body
}

function wantSize(got, width, height) {
  check(got.width === width && got.height === height, `got ${got.type} ${got.width}×${got.height}, want ${width}×${height}`)
  console.log(`${step}: ${got.type} ${got.width}×${got.height}`)
}

step = 'upload'
const original = await readFile(env('IMAGE_FILE'))
ok(await bucket.upload(path, original, { contentType: 'image/png', upsert: true }), 'upload')
wantSize(dimensions(original), Number(env('IMAGE_WIDTH')), Number(env('IMAGE_HEIGHT')))

step = 'download with transform (cover)'
const blob = ok(await bucket.download(path, { transform: { width: 100, height: 50, resize: 'cover' } }), 'download')
wantSize(dimensions(Buffer.from(await blob.arrayBuffer())), 100, 50)

step = 'getPublicUrl with transform (width only)'
const { publicUrl } = bucket.getPublicUrl(path, { transform: { width: 64 } }).data
check(publicUrl.includes('/render/image/public/') && publicUrl.includes('width=64'), 'public URL', publicUrl)
// Aspect ratio kept: 200×100 → 64×32.
wantSize(dimensions(await fetched(publicUrl)), 64, 32)

step = 'createSignedUrl with transform (contain)'
const { signedUrl } = ok(await bucket.createSignedUrl(path, 60, { transform: { width: 80, height: 80, resize: 'contain' } }), 'createSignedUrl')
check(signedUrl.includes('/render/image/sign/') && signedUrl.includes('token='), 'signed URL', signedUrl)
// contain fits 200×100 inside 80×80: 80×40.
wantSize(dimensions(await fetched(signedUrl)), 80, 40)

step = 'signed URL options come from the token'
wantSize(dimensions(await fetched(signedUrl + '&width=10&height=10&resize=fill')), 80, 40)

step = 'createSignedUrl without transform'
const plain = ok(await bucket.createSignedUrl(path, 60), 'createSignedUrl').signedUrl
check(plain.includes('/object/sign/'), 'plain signed URL', plain)
wantSize(dimensions(await fetched(plain)), Number(env('IMAGE_WIDTH')), Number(env('IMAGE_HEIGHT')))

console.log('render conformance: all checks passed')
