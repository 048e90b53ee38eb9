// Drives the official @vercel/blob SDK against the fake server. Run by
// sdk_test.go with VERCEL_BLOB_API_URL, BLOB_READ_WRITE_TOKEN and
// STORE_ACCESS (the fake store's access, public or private) set, from a
// directory whose node_modules holds the pinned SDK. Exits non-zero on the
// first failed expectation.
import { createHash } from 'node:crypto';
import {
  put, head, list, copy, del, createFolder,
  BlobError, BlobNotFoundError, BlobAccessError, BlobStoreNotFoundError, BlobPreconditionFailedError,
} from '@vercel/blob';

const token = process.env.BLOB_READ_WRITE_TOKEN;
const apiURL = process.env.VERCEL_BLOB_API_URL;
const origin = new URL(apiURL).origin;
const storeAccess = process.env.STORE_ACCESS;
const otherAccess = storeAccess === 'public' ? 'private' : 'public';
if (storeAccess !== 'public' && storeAccess !== 'private') throw new Error(`STORE_ACCESS=${storeAccess}`);
let checks = 0;

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
  checks++;
}

async function rejects(promise, klass, re, msg) {
  try {
    await promise;
  } catch (e) {
    assert(e instanceof klass, `${msg}: got ${e && e.constructor && e.constructor.name}: ${e && e.message}`);
    if (re) assert(re.test(e.message), `${msg}: message ${JSON.stringify(e.message)} does not match ${re}`);
    return e;
  }
  throw new Error(`${msg}: expected a rejection`);
}

// The SDK's get() refuses hosts other than *.blob.vercel-storage.com, so
// content is fetched directly, as docs/vercel-blob-protocol.md (§9) says.
async function fetchBytes(url, access, extra = {}) {
  const headers = access === 'private' ? { authorization: `Bearer ${token}` } : {};
  const res = await fetch(url, { headers: { ...headers, ...extra } });
  assert(res.ok || res.status === 206, `GET ${url}: status ${res.status}`);
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

// The store id as blob URLs spell it: lower case.
function fromGoStore() { return token.split('_')[3].toLowerCase(); }

const sha = (b) => createHash('sha256').update(b).digest('hex');

// A store has one access; the other is refused as the service refuses it,
// and the SDK passes the service's message through.
await rejects(put('sdk/other-access.txt', 'x', { access: otherAccess }), BlobError,
  new RegExp(`^Vercel Blob: Cannot use ${otherAccess} access on a ${storeAccess} store\\. The store is configured with ${storeAccess} access\\.$`),
  'put with the other access');
await rejects(put('sdk/other-access.bin', Buffer.alloc(10), { access: otherAccess, multipart: true }), BlobError,
  /Cannot use .* access on a .* store/, 'multipart put with the other access');

for (const access of [storeAccess]) {
  const dir = `sdk/${access}/`;
  const p = `${dir}hello.txt`;

  const r1 = await put(p, 'hello from the sdk', { access, addRandomSuffix: false, contentType: 'text/plain' });
  assert(r1.pathname === p, `put pathname ${r1.pathname}`);
  assert(r1.url.startsWith(origin), `put url ${r1.url} is served by the fake`);
  assert(r1.downloadUrl === `${r1.url}?download=1`, `downloadUrl ${r1.downloadUrl}`);
  assert(/^"[^"]+"$/.test(r1.etag), `etag ${r1.etag}`);
  assert(r1.contentType === 'text/plain', `contentType ${r1.contentType}`);

  await rejects(put(p, 'again', { access }), BlobError, /already exists/, 'put without allowOverwrite');
  await rejects(put(p, 'again', { access, allowOverwrite: false }), BlobError, /already exists/, 'put allowOverwrite:false');
  const r2 = await put(p, 'hello again', { access, allowOverwrite: true });
  assert(r2.etag !== r1.etag, 'overwrite changes the etag');

  const h = await head(r1.url);
  assert(h.size === 11 && h.pathname === p, `head ${JSON.stringify(h)}`);
  assert(h.uploadedAt instanceof Date && !isNaN(h.uploadedAt), `uploadedAt ${h.uploadedAt}`);
  assert(h.contentType.startsWith('text/plain'), `inferred contentType ${h.contentType}`);
  assert(/max-age=\d+/.test(h.cacheControl), `cacheControl ${h.cacheControl}`);
  assert(h.etag === r2.etag, 'head etag matches put');
  const hp = await head(p);
  assert(hp.url === h.url, 'head by pathname');

  const { body, res } = await fetchBytes(h.url, access);
  assert(body.toString() === 'hello again', `content ${body}`);
  assert(res.headers.get('etag') === h.etag, 'content etag');
  const ranged = await fetchBytes(h.url, access, { range: 'bytes=6-10' });
  assert(ranged.res.status === 206 && ranged.body.toString() === 'again', `range read ${ranged.body}`);
  const dl = await fetchBytes(h.downloadUrl, access);
  assert(/^attachment/.test(dl.res.headers.get('content-disposition')), 'download=1 is an attachment');
  assert(new URL(h.url).pathname.startsWith(`/${fromGoStore()}.${access}.blob.vercel-storage.com/`), `blob URL ${h.url} names the store and its access`);
  const anon = await fetch(h.url);
  assert(anon.status === (access === 'private' ? 403 : 200), `anonymous ${access} read: ${anon.status}`);

  // if-match
  await rejects(put(p, 'x', { access, ifMatch: '"stale"' }), BlobPreconditionFailedError, null, 'put with stale ifMatch');
  const r3 = await put(p, 'hello third', { access, ifMatch: r2.etag });
  assert(r3.pathname === p, 'put with current ifMatch');

  const rs = await put(`${dir}rand.txt`, 'r', { access, addRandomSuffix: true });
  assert(new RegExp(`^${dir}rand-[A-Za-z0-9]+\\.txt$`).test(rs.pathname), `random suffix ${rs.pathname}`);

  const c = await copy(h.url, `${dir}copy.txt`, { access });
  assert(c.pathname === `${dir}copy.txt`, `copy ${JSON.stringify(c)}`);
  assert((await fetchBytes(c.url, access)).body.toString() === 'hello third', 'copied content');
  await rejects(copy(h.url, `${dir}copy.txt`, { access }), BlobError, /already exists/, 'copy onto existing');
  await rejects(copy(h.url, `${dir}copy2.txt`, { access: otherAccess }), BlobError, /Cannot use .* access on a .* store/, 'copy with the other access');
  await copy(h.url, `${dir}copy.txt`, { access, allowOverwrite: true });
  await rejects(copy(`${dir}missing.txt`, `${dir}x.txt`, { access }), BlobNotFoundError, null, 'copy of missing');

  await put(`${dir}sub/a.txt`, 'a', { access });
  await put(`${dir}sub/deeper/b.txt`, 'b', { access });

  // Expanded listing, two at a time, in lexicographic order.
  const names = [];
  let cursor;
  let pages = 0;
  do {
    const page = await list({ prefix: dir, limit: 2, cursor });
    assert(page.blobs.length <= 2, 'limit honoured');
    names.push(...page.blobs.map((b) => b.pathname));
    cursor = page.hasMore ? page.cursor : undefined;
    pages++;
  } while (cursor);
  const want = [`${dir}copy.txt`, `${dir}hello.txt`, rs.pathname, `${dir}sub/a.txt`, `${dir}sub/deeper/b.txt`].sort();
  assert(JSON.stringify(names) === JSON.stringify(want), `expanded list ${names}`);
  assert(pages === 3, `pages ${pages}`);

  const folded = await list({ prefix: dir, mode: 'folded' });
  assert(JSON.stringify(folded.folders) === JSON.stringify([`${dir}sub/`]), `folders ${folded.folders}`);
  assert(folded.blobs.length === 3, `folded blobs ${folded.blobs.map((b) => b.pathname)}`);
  const blob0 = folded.blobs[0];
  assert(blob0.url && blob0.downloadUrl && blob0.size >= 0 && blob0.uploadedAt instanceof Date && blob0.etag, 'list entry fields');

  // Multipart: 8 MiB parts sent 8 at a time, completed out of order.
  const big = Buffer.alloc(21 * 1024 * 1024 + 123);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  const mp = await put(`${dir}big.bin`, big, { access, multipart: true, contentType: 'application/octet-stream' });
  const got = (await fetchBytes(mp.url, access)).body;
  assert(got.length === big.length && sha(got) === sha(big), `multipart content (${got.length} bytes)`);
  await rejects(put(`${dir}big.bin`, big, { access, multipart: true }), BlobError, /already exists/, 'multipart onto existing');
  const empty = await put(`${dir}empty.bin`, Buffer.alloc(0), { access, multipart: true });
  assert((await head(empty.url)).size === 0, 'empty multipart');

  await rejects(head(`${dir}nope.txt`), BlobNotFoundError, null, 'head of missing');
  await del([c.url, h.url]);
  await rejects(head(h.url), BlobNotFoundError, null, 'head after delete');
  await del(`${dir}never-existed.txt`); // silent
  await rejects(del(p.replace('hello', 'sub/a'), { ifMatch: '"stale"' }), BlobPreconditionFailedError, null, 'del with stale ifMatch');
}

const folder = await createFolder('sdk/folder', { access: storeAccess });
assert(folder.pathname === 'sdk/folder/', `createFolder ${JSON.stringify(folder)}`);

await rejects(put('sdk/x.txt', 'x', { access: storeAccess, token: token.replace(/_[^_]+$/, '_wrongsecret') }), BlobAccessError, null, 'wrong secret');
await rejects(put('sdk/x.txt', 'x', { access: storeAccess, token: 'vercel_blob_rw_someotherstore_secret' }), BlobStoreNotFoundError, null, 'other store');

// Interop with the Go driver: read what it wrote, leave something for it.
const fromGo = await head('go/written-by-go.txt');
assert((await fetchBytes(fromGo.url, storeAccess)).body.toString() === 'written by the Go driver', 'Go-written content');
await put('sdk/for-go.txt', 'written by the SDK', { access: storeAccess, contentType: 'text/plain' });

console.log(`SDK OK: ${checks} checks passed`);
