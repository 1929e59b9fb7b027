#!/usr/bin/env node
// Test stand-in for Prisma's native `query-engine` binary, version 5.17.0
// (engine hash 393aa359...), the one prisma-client-py 0.15.0 (and so LiteLLM)
// starts as a child process. The native binary is downloaded at run time from
// a host the test machines cannot reach; npm ships Prisma's WASM build of the
// same engine, which this script runs over @prisma/adapter-pg.
//
// prisma-client-py speaks the native engine's HTTP protocol with GraphQL
// queries; the WASM engine only takes Prisma's JSON protocol. So this script:
//   - answers `--version` the way the binary does (prisma-client-py checks it),
//   - listens on `-p PORT` and serves GET /status, POST / (single queries and
//     batches), POST /transaction/start and /transaction/{id}/commit|rollback,
//   - turns each GraphQL query into a JSON-protocol query and the answer back.
//
// Environment, as prisma-client-py sets it for the native engine:
//   PRISMA_DML_PATH (or PRISMA_DML, base64)  the schema
//   OVERWRITE_DATASOURCES / the schema's env("...") url  the database URL
//   LOG_QUERIES=y  log each SQL statement (stderr)
// and NODE_PATH, set by the test support, where `npm ci` put this script's
// dependencies (package.json beside it), as they live outside the repository.
//
// Only used by the tests (tests/support/db_proxy.py); where the native engine
// can be downloaded, the test support uses the native engine instead.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';

const ENGINE_HASH = '393aa359c9ad4a4bb28630fb5613f9c281cde053';

const argv = process.argv.slice(2);
if (argv.includes('--version') || argv.includes('-V') || argv[0] === 'version') {
  process.stdout.write(`query-engine ${ENGINE_HASH}\n`);
  process.exit(0);
}
const portFlag = argv.findIndex((arg) => arg === '-p' || arg === '--port');
const port = portFlag >= 0 ? Number(argv[portFlag + 1]) : 0;

// Node 18 (Debian 12's) has no global WebCrypto; the WASM engine's random
// numbers (uuid() defaults, transaction ids) come from crypto.getRandomValues.
if (!globalThis.crypto) globalThis.crypto = (await import('node:crypto')).webcrypto;

// CommonJS resolution honours NODE_PATH, ESM resolution does not: load every
// dependency through require so the node_modules may live in a cache directory.
const require = createRequire(import.meta.url);
const { parse, Kind } = require('graphql');
const pg = require('pg');
const pgArray = require('postgres-array');
const { PrismaPg } = require('@prisma/adapter-pg');
const { bindAdapter } = require('@prisma/driver-adapter-utils');

const log = (message) => process.stderr.write(`query-engine stand-in: ${message}\n`);

// ---------------------------------------------------------------------------
// Schema and database URL

const datamodel = process.env.PRISMA_DML_PATH
  ? fs.readFileSync(process.env.PRISMA_DML_PATH, 'utf8')
  : Buffer.from(process.env.PRISMA_DML || '', 'base64').toString('utf8');

function datasourceUrl() {
  // prisma-client-py passes Prisma(datasource={"url": ...}) as OVERWRITE_DATASOURCES.
  if (process.env.OVERWRITE_DATASOURCES) {
    const overrides = JSON.parse(process.env.OVERWRITE_DATASOURCES);
    if (Array.isArray(overrides) && overrides[0] && overrides[0].url) return overrides[0].url;
  }
  const match = /datasource\s+\w+\s*\{[^}]*?url\s*=\s*(?:env\(\s*"([^"]+)"\s*\)|"([^"]+)")/s.exec(datamodel);
  if (match && match[1]) return process.env[match[1]];
  if (match && match[2]) return match[2];
  return process.env.DATABASE_URL;
}

const rawUrl = datasourceUrl();
if (!rawUrl) {
  log('no datasource url (OVERWRITE_DATASOURCES, or the env var the schema names)');
  process.exit(1);
}

// ---------------------------------------------------------------------------
// Postgres through adapter-pg

// Prisma reads these URL parameters itself; libpq and node-postgres do not know them.
const url = new URL(rawUrl);
const poolSize = Number(url.searchParams.get('connection_limit') || 10);
for (const name of ['connection_limit', 'pool_timeout', 'pgbouncer', 'schema', 'socket_timeout',
  'connect_timeout', 'statement_cache_size']) url.searchParams.delete(name);
const pool = new pg.Pool({ connectionString: url.toString(), max: poolSize });

// adapter-pg 5.17 refuses a result column whose type it has no mapping for
// (fieldToColumnType in its dist/index.js: UnsupportedNativeDataType), e.g.
// `name`, `"char"` and the reg* types of catalog queries that LiteLLM runs as
// raw SQL. The native engine reads such columns as text: so do we, by
// presenting them to the adapter as text (or text[]) before it looks.
// The OIDs adapter-pg 5.17 maps (the cases of its fieldToColumnType):
const ADAPTER_KNOWN_OIDS = new Set([
  // bool bytea int8 int2 int4 text oid json xml cidr float4 float8 money inet bpchar varchar
  16, 17, 20, 21, 23, 25, 26, 114, 142, 650, 700, 701, 790, 869, 1042, 1043,
  // date time timestamp timestamptz timetz bit varbit numeric uuid jsonb
  1082, 1083, 1114, 1184, 1266, 1560, 1562, 1700, 2950, 3802,
  // arrays of: xml json cidr money bool bytea "char" int2 int4 text bpchar varchar int8 float4
  143, 199, 651, 791, 1000, 1001, 1002, 1005, 1007, 1009, 1014, 1015, 1016, 1021,
  // float8 oid inet timestamp date time numeric bit varbit uuid jsonb (not timestamptz[], timetz[])
  1022, 1028, 1041, 1115, 1182, 1183, 1231, 1561, 1563, 2951, 3807,
]);
const TEXT_OID = 25;
const TEXT_ARRAY_OID = 1009;
const USER_DEFINED_OIDS = 10000; // adapter-pg reads these (enums, ...) as text itself

// Which of the other OIDs are arrays is Postgres's to say: read once at start
// (an array type is some type's typarray; int2vector and oidvector are not).
let arrayOids = new Set();

const asText = (value) => (typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value));

function presentUnknownColumnsAsText(result) {
  result.fields.forEach((field, column) => {
    if (field.dataTypeID >= USER_DEFINED_OIDS || ADAPTER_KNOWN_OIDS.has(field.dataTypeID)) return;
    const isArray = arrayOids.has(field.dataTypeID);
    field.dataTypeID = isArray ? TEXT_ARRAY_OID : TEXT_OID;
    for (const row of result.rows) {
      const value = row[column];
      if (value === null || value === undefined) continue;
      // node-postgres parses some arrays (name[]) itself and leaves others as '{a,b}'.
      if (isArray) row[column] = (Array.isArray(value) ? value : pgArray.parse(String(value))).map((v) => (v === null ? null : String(v)));
      else row[column] = asText(value);
    }
  });
}

// PrismaPg and its transactions share PgQueryable.performIO: wrap it once there.
const queryable = Object.getPrototypeOf(PrismaPg.prototype);
const performIO = queryable.performIO;
queryable.performIO = async function performIOWithTextFallback(query) {
  const result = await performIO.call(this, query);
  if (result.ok && result.value && Array.isArray(result.value.fields)) presentUnknownColumnsAsText(result.value);
  return result;
};

// ---------------------------------------------------------------------------
// The WASM query engine

async function loadEngine() {
  // The package's own entry imports the .wasm as an ES module, which Node only
  // allows behind a flag: instantiate it by hand instead.
  const dir = path.join(path.dirname(require.resolve('@prisma/query-engine-wasm/package.json')), 'postgresql');
  const bindings = await import(path.join(dir, 'query_engine_bg.js'));
  const module = await WebAssembly.compile(fs.readFileSync(path.join(dir, 'query_engine_bg.wasm')));
  const instance = await WebAssembly.instantiate(module, { './query_engine_bg.js': bindings });
  bindings.__wbg_set_wasm(instance.exports);
  const logQueries = Boolean(process.env.LOG_QUERIES);
  const engine = new bindings.QueryEngine(
    { datamodel, logLevel: logQueries ? 'debug' : 'error', logQueries },
    (line) => process.stderr.write(`${line}\n`),
    bindAdapter(new PrismaPg(pool)),
  );
  await engine.connect('{}');
  return engine;
}

// ---------------------------------------------------------------------------
// The schema's fields, as far as the translation needs them: which are Json
// (the JSON protocol wants Json values tagged, or a JSON text is stored as a
// JSON string: double-encoded, and LiteLLM then fails to read its own rows)
// and which are relations (their nested arguments and writes need the same).

const SCALAR_TYPES = new Set(['String', 'Int', 'BigInt', 'Float', 'Decimal', 'Boolean', 'DateTime', 'Json', 'Bytes']);

function readModels(schema) {
  const models = {};
  let current = null;
  for (const raw of schema.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    const start = /^(?:model|view)\s+(\w+)\s*\{/.exec(line);
    if (start) {
      current = {};
      models[start[1]] = current;
    } else if (line === '}') {
      current = null;
    } else if (current && line && !line.startsWith('@@')) {
      const field = /^(\w+)\s+(\w+)(\[\])?/.exec(line);
      if (field) current[field[1]] = { type: field[2], list: Boolean(field[3]) };
    }
  }
  for (const fields of Object.values(models)) {
    for (const field of Object.values(fields)) {
      field.json = field.type === 'Json';
      field.relation = !SCALAR_TYPES.has(field.type) && field.type in models;
    }
  }
  return models;
}

const MODELS = readModels(datamodel);

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

// prisma-client-py sends a Json value as its JSON text (a GraphQL string).
const tagJson = (value) => (typeof value === 'string' ? { $type: 'Json', value } : Array.isArray(value) ? value.map(tagJson) : value);

// Filters on a Json field whose operand is itself a Json value.
const JSON_FILTER_OPERANDS = new Set(['equals', 'not', 'array_contains', 'array_starts_with', 'array_ends_with', 'gt', 'gte', 'lt', 'lte']);
const RELATION_FILTERS = new Set(['some', 'every', 'none', 'is', 'isNot']);

// Rebuilds a where or data object of `model` (or each of a list of them),
// `retag(key, value, field)` giving each entry's new value.
function mapFields(model, object, retag) {
  const fields = MODELS[model];
  if (!fields || object === null || typeof object !== 'object') return object;
  if (Array.isArray(object)) return object.map((item) => mapFields(model, item, retag));
  return Object.fromEntries(Object.entries(object).map(([key, value]) => [key, retag(key, value, fields[key])]));
}

function tagWhere(model, where) {
  return mapFields(model, where, (key, value, field) => {
    if (key === 'AND' || key === 'OR' || key === 'NOT') return tagWhere(model, value);
    if (field && field.json) {
      return isObject(value)
        ? Object.fromEntries(Object.entries(value).map(([op, operand]) => [op, JSON_FILTER_OPERANDS.has(op) ? tagJson(operand) : operand]))
        : tagJson(value);
    }
    if (field && field.relation && isObject(value)) {
      const operators = Object.keys(value).filter((op) => RELATION_FILTERS.has(op));
      return operators.length
        ? { ...value, ...Object.fromEntries(operators.map((op) => [op, tagWhere(field.type, value[op])])) }
        : tagWhere(field.type, value); // a to-one relation filtered directly
    }
    return value;
  });
}

function tagData(model, data) {
  return mapFields(model, data, (key, value, field) => {
    if (field && field.json) return tagJson(value);
    if (field && field.relation && isObject(value)) return tagNestedWrites(field.type, value);
    return value;
  });
}

// Nested writes on a relation field: { create: ..., connect: ..., upsert: [...], ... }.
function tagNestedWrites(model, writes) {
  const each = (value, tag) => (Array.isArray(value) ? value.map(tag) : tag(value));
  const out = {};
  for (const [op, value] of Object.entries(writes)) {
    if (value === null || typeof value !== 'object') {
      out[op] = value;
    } else if (op === 'create') {
      out[op] = tagData(model, value);
    } else if (op === 'createMany') {
      out[op] = { ...value, data: tagData(model, value.data) };
    } else if (op === 'connectOrCreate') {
      out[op] = each(value, (item) => ({ ...item, where: tagWhere(model, item.where), create: tagData(model, item.create) }));
    } else if (op === 'upsert') {
      out[op] = each(value, (item) => ({ ...item, where: tagWhere(model, item.where), create: tagData(model, item.create), update: tagData(model, item.update) }));
    } else if (op === 'update' || op === 'updateMany') {
      // to-many: { where, data }; to-one: the data itself
      out[op] = each(value, (item) => ('data' in item ? { ...item, where: tagWhere(model, item.where), data: tagData(model, item.data) } : tagData(model, item)));
    } else {
      // connect, disconnect, set, delete, deleteMany: filters
      out[op] = tagWhere(model, value);
    }
  }
  return out;
}

function tagArguments(model, args) {
  if (!model) return args;
  const out = { ...args };
  for (const key of ['where', 'cursor', 'having']) if (out[key]) out[key] = tagWhere(model, out[key]);
  for (const key of ['data', 'create', 'update']) if (out[key]) out[key] = tagData(model, out[key]);
  return out;
}

// ---------------------------------------------------------------------------
// GraphQL (as prisma-client-py writes it) -> JSON protocol

// The actions prisma-client-py names as `{action}{Model}`, longest first so a
// prefix (findUnique / findUniqueOrThrow) never wins over the full name.
const MODEL_ACTIONS = ['findUniqueOrThrow', 'findFirstOrThrow', 'findUnique', 'findFirst', 'findMany',
  'createManyAndReturn', 'createMany', 'createOne', 'updateMany', 'updateOne', 'deleteMany', 'deleteOne',
  'upsertOne', 'aggregate', 'groupBy'];
const RAW_ACTIONS = new Set(['executeRaw', 'queryRaw', 'runCommandRaw']);

function literal(node) {
  switch (node.kind) {
    case Kind.INT: {
      const number = Number(node.value);
      return Number.isSafeInteger(number) ? number : { $type: 'BigInt', value: node.value };
    }
    case Kind.FLOAT: return Number(node.value);
    case Kind.STRING: case Kind.BOOLEAN: case Kind.ENUM: return node.value;
    case Kind.NULL: return null;
    case Kind.LIST: return node.values.map(literal);
    case Kind.OBJECT: return Object.fromEntries(node.fields.map((field) => [field.name.value, literal(field.value)]));
    default: throw new Error(`unsupported GraphQL value: ${node.kind}`);
  }
}

const argumentsOf = (field) => Object.fromEntries((field.arguments || []).map((arg) => [arg.name.value, literal(arg.value)]));

function selectionOf(selectionSet, model) {
  const fields = (model && MODELS[model]) || {};
  const out = {};
  for (const field of selectionSet ? selectionSet.selections : []) {
    const name = field.name.value;
    const related = fields[name] && fields[name].relation ? fields[name].type : undefined;
    if (!field.selectionSet && !(field.arguments && field.arguments.length)) out[name] = true;
    else out[name] = { arguments: tagArguments(related, argumentsOf(field)), selection: selectionOf(field.selectionSet, related) };
  }
  return out;
}

function splitOperation(name) {
  if (RAW_ACTIONS.has(name)) return { action: name };
  for (const action of MODEL_ACTIONS) {
    if (!name.startsWith(action)) continue;
    const model = name.slice(action.length);
    // prisma-client-py writes findUnique{Model}OrThrow, the JSON protocol findUniqueOrThrow
    if ((action === 'findUnique' || action === 'findFirst') && model.endsWith('OrThrow') && !(model in MODELS)) {
      return { action: `${action}OrThrow`, model: model.slice(0, -'OrThrow'.length) };
    }
    return { action, model };
  }
  throw new Error(`unknown operation: ${name}`);
}

// One GraphQL document -> the JSON-protocol query and the alias the answer goes under.
function translate(document) {
  const operation = parse(document).definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION);
  const field = operation.selectionSet.selections[0];
  const { action, model } = splitOperation(field.name.value);
  const query = { action, query: { arguments: tagArguments(model, argumentsOf(field)), selection: selectionOf(field.selectionSet, model) } };
  if (model) query.modelName = model;
  return { query, alias: field.alias ? field.alias.value : field.name.value };
}

// JSON-protocol answers tag DateTime, Json, BigInt, Decimal and Bytes values
// ({"$type": ..., "value": ...}); the GraphQL protocol gives the bare values.
function untag(value) {
  if (Array.isArray(value)) return value.map(untag);
  if (!isObject(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 2 && '$type' in value && 'value' in value) return untag(value.value);
  return Object.fromEntries(keys.map((key) => [key, untag(value[key])]));
}

// The JSON protocol names the answer after the action; prisma-client-py reads it under its alias.
function underAlias(answer, alias) {
  if (!answer || !answer.data) return answer;
  const [value] = Object.values(answer.data);
  return { data: { [alias]: untag(value) } };
}

async function runQuery(engine, body, transactionId) {
  const request = JSON.parse(body);
  if (request.batch) {
    const translated = request.batch.map((item) => translate(item.query));
    const batch = { batch: translated.map((t) => t.query) };
    if (request.transaction) batch.transaction = request.isolationLevel ? { isolationLevel: request.isolationLevel } : {};
    const answer = JSON.parse(await engine.query(JSON.stringify(batch), '{}', transactionId));
    if (answer.batchResult) answer.batchResult = answer.batchResult.map((item, i) => underAlias(item, translated[i].alias));
    return answer;
  }
  const { query, alias } = translate(request.query);
  return underAlias(JSON.parse(await engine.query(JSON.stringify(query), '{}', transactionId)), alias);
}

// ---------------------------------------------------------------------------
// HTTP, as the native engine serves it

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

const failed = (answer) => Boolean(answer.errors || answer.error);

function serve(engine) {
  return http.createServer(async (request, response) => {
    const send = (status, payload) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(payload));
    };
    try {
      const { pathname } = new URL(request.url, 'http://engine');
      const body = await readBody(request);
      if (request.method === 'GET' && pathname === '/status') return send(200, { status: 'ok' });
      if (request.method === 'GET' && pathname === '/metrics') return send(200, { counters: [], gauges: [], histograms: [] });
      if (request.method === 'POST' && pathname === '/') {
        return send(200, await runQuery(engine, body, request.headers['x-transaction-id'] || undefined));
      }
      if (request.method === 'POST' && pathname === '/transaction/start') {
        const answer = JSON.parse(await engine.startTransaction(body || '{}', '{}'));
        return send(failed(answer) ? 400 : 200, answer);
      }
      const ending = /^\/transaction\/([^/]+)\/(commit|rollback)$/.exec(pathname);
      if (request.method === 'POST' && ending) {
        const [, id, verb] = ending;
        const answer = JSON.parse(verb === 'commit' ? await engine.commitTransaction(id, '{}') : await engine.rollbackTransaction(id, '{}'));
        return send(failed(answer) ? 400 : 200, answer);
      }
      return send(404, { errors: [{ error: `not found: ${request.method} ${pathname}` }] });
    } catch (error) {
      // A failure of the translation is a query error to the client, as the native engine reports one.
      const message = String((error && error.message) || error);
      return send(200, { errors: [{ error: String((error && error.stack) || error), user_facing_error: { is_panic: false, message, meta: {}, error_code: null } }] });
    }
  });
}

// ---------------------------------------------------------------------------

const catalog = await pool.query('SELECT DISTINCT typarray::int AS oid FROM pg_type WHERE typarray <> 0');
arrayOids = new Set(catalog.rows.map((row) => row.oid));
const engine = await loadEngine();
const server = serve(engine);
// The client keeps its connections open; Node closes idle ones after 5 s by
// default, and a request sent on a connection being closed fails. The native
// engine never closes them: neither do we.
server.keepAliveTimeout = 0;

async function shutdown() {
  server.close();
  try {
    await engine.disconnect('{}');
    await pool.end();
  } finally {
    process.exit(0);
  }
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

server.listen(port, '127.0.0.1', () => {
  // The native engine's start line (JSON, as RUST_LOG_FORMAT=json asks), for whoever reads the log.
  const { port: bound } = server.address();
  process.stderr.write(`${JSON.stringify({ timestamp: new Date().toISOString(), level: 'INFO', fields: { message: `Started query engine http server on http://127.0.0.1:${bound}` }, target: 'query_engine::server' })}\n`);
});
