// server.js is alova 3.5.5 on Node doing the example server's product route,
// the peer of bench/http.sh:
//
//   GET /api/products/{id}  the downstream's GET /products/{id}, cached by
//                           alova for 5 minutes in L1 (lru-cache, 10,000
//                           entries) and L2 (Redis through ioredis)
//
// The cache policy is the example server's: both tiers, 5 minutes. alova uses
// its L2 only in "restore" mode, so that is the mode set for GET. Its default
// cacheLogger prints every cache hit to the console; it is turned off, as in
// production. There is no access log.
//
//   PORT=9004 REDIS_URL=redis://127.0.0.1:6379/0 DOWNSTREAM=http://127.0.0.1:9001 node server.js
//
// http.sh copies this file and package.json to a temporary directory and
// runs npm install there: never in the repository.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { createAlova } = require('alova');
const adapterFetch = require('alova/fetch');
const { LRUCache } = require('lru-cache');
const Redis = require('ioredis');

const ttl = 5 * 60 * 1000;

// lruAdapter is alova's L1 storage adapter over lru-cache, as in alova's
// server-side guide (without @alova/psc: one process).
function lruAdapter(options) {
  const cache = new LRUCache(options);
  return {
    set: (key, value) => cache.set(key, value),
    get: (key) => cache.get(key),
    remove: (key) => cache.delete(key),
    clear: () => cache.clear(),
  };
}

// RedisAdapter is alova's L2 storage adapter over ioredis, as in alova's
// best practice for L2 storage and @alova/storage-redis (not on this
// registry): JSON values, each entry [data, expireTs, tag] written with PX =
// the time it has left.
class RedisAdapter {
  constructor(url, keyPrefix) {
    this.client = new Redis(url);
    this.prefix = keyPrefix;
  }
  async set(key, value) {
    const expireTs = Array.isArray(value) ? value[1] : undefined;
    const data = JSON.stringify(value);
    if (typeof expireTs === 'number') {
      const px = expireTs - Date.now();
      if (px > 0) await this.client.set(this.prefix + key, data, 'PX', px);
      return;
    }
    await this.client.set(this.prefix + key, data);
  }
  async get(key) {
    const data = await this.client.get(this.prefix + key);
    return data ? JSON.parse(data) : undefined;
  }
  async remove(key) {
    await this.client.del(this.prefix + key);
  }
  async clear() {
    throw new Error('clear is refused on a shared Redis');
  }
}

class HTTPError extends Error {
  constructor(status) {
    super(`downstream answered ${status}`);
    this.status = status;
  }
}

const alova = createAlova({
  baseURL: process.env.DOWNSTREAM,
  requestAdapter: adapterFetch(),
  timeout: 2000,
  cacheFor: { GET: { mode: 'restore', expire: ttl } },
  cacheLogger: false,
  l1Cache: lruAdapter({ max: 10000, ttl }),
  l2Cache: new RedisAdapter(process.env.REDIS_URL, 'alova-node:'),
  responded: async (response) => {
    if (response.status !== 200) throw new HTTPError(response.status);
    return response.json();
  },
});

const validID = /^[A-Za-z0-9_-]{1,64}$/;
const prefix = '/api/products/';

function writeError(res, status, code) {
  const body = JSON.stringify({ error: { code } });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer(async (req, res) => {
  if (req.method !== 'GET' || !req.url.startsWith(prefix)) return writeError(res, 404, 'not_found');
  const id = req.url.slice(prefix.length);
  if (!validID.test(id)) return writeError(res, 400, 'invalid_id');
  try {
    const product = await alova.Get('/products/' + id).send();
    const body = JSON.stringify(product);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  } catch (err) {
    if (err instanceof HTTPError && err.status === 404) return writeError(res, 404, 'not_found');
    writeError(res, 502, 'downstream_unavailable');
  }
});

server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules/alova/package.json'), 'utf8'));
  console.error(`node: alova ${version} listening on 127.0.0.1:${process.env.PORT}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
