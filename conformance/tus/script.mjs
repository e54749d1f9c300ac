// Drives tus-js-client (the locked 4.x) against a started Stowage server; tus_test.go runs
// it. MODE=full uploads FILE from an fs stream; MODE=partial uploads FILE from a Buffer and
// aborts after two chunks, printing the upload URL; MODE=resume continues UPLOAD_URL.
// CHUNK_SIZE (bytes, default 6 MiB) is tus-js-client's chunkSize.
import fs from 'node:fs'
import * as tus from 'tus-js-client'

const env = process.env
const chunkSize = Number(env.CHUNK_SIZE || 6 * 1024 * 1024)

function options(extra) {
  return {
    endpoint: env.ENDPOINT,
    chunkSize,
    retryDelays: [0, 200, 500],
    headers: { authorization: `Bearer ${env.KEY}`, 'x-upsert': 'true' },
    uploadDataDuringCreation: true,
    removeFingerprintOnSuccess: true,
    metadata: {
      bucketName: env.BUCKET,
      objectName: env.OBJECT,
      contentType: 'application/octet-stream',
      cacheControl: '3600',
      metadata: JSON.stringify({ client: 'tus-js-client' }),
    },
    ...extra,
  }
}

function run(input, extra) {
  return new Promise((resolve, reject) => {
    const up = new tus.Upload(input, options({ ...extra, onError: reject, onSuccess: () => resolve(up) }))
    up.start()
  })
}

const size = fs.statSync(env.FILE).size
if (env.MODE === 'full') {
  await run(fs.createReadStream(env.FILE), { uploadSize: size })
  console.log(JSON.stringify({ done: true }))
} else if (env.MODE === 'partial') {
  const data = fs.readFileSync(env.FILE)
  const url = await new Promise((resolve, reject) => {
    let chunks = 0
    const up = new tus.Upload(data, options({
      onError: reject,
      onSuccess: () => reject(new Error('finished before the abort')),
      onChunkComplete: () => {
        chunks++
        if (chunks === 2) {
          up.abort().then(() => resolve(up.url), reject)
        }
      },
    }))
    up.start()
  })
  console.log(JSON.stringify({ url }))
} else if (env.MODE === 'resume') {
  const data = fs.readFileSync(env.FILE)
  let first = -1
  await run(data, {
    uploadUrl: env.UPLOAD_URL,
    onProgress: (sent) => { if (first < 0) first = sent },
  })
  console.log(JSON.stringify({ done: true, firstProgress: first }))
} else {
  throw new Error(`unknown MODE ${env.MODE}`)
}
