#!/usr/bin/env node
// Runs the real COCOON contracts (their compiled code cells, read from
// $COCOON_VECTORS/contracts/*.boc) in @ton/sandbox, driven by a line protocol:
// one JSON request per line on stdin, one JSON answer per line on stdout.
//
// Requests (every answer echoes "id" and has "ok"; on failure "error"):
//   {"cmd":"reset","now":T}                       fresh chain, clock at T (unix seconds)
//   {"cmd":"codes"}                               {"codes":{name:{hash,boc}}} (boc base64)
//   {"cmd":"set_now","now":T} / {"cmd":"advance","seconds":S}    {"now":T}
//   {"cmd":"send","from":A,"to":A,"value":"N","body":B64|null,"bounce":bool,
//    "init":{"code":NAME|B64,"data":B64}|null}    one internal message, the whole trace
//   {"cmd":"external","to":A,"body":B64,"init":{...}|null}       one external-in message
//   {"cmd":"account","address":A}                 {"account":ACCOUNT}
//   {"cmd":"message","boc":B64}                   a whole serialized message (an external-in
//                                                 a node sent to a liteserver), the whole trace
// Addresses are raw "0:<hex>"; amounts are decimal strings (nanoTON); cells are BoC base64.
// A trace answer is {"transactions":[TX...],"accounts":{A:ACCOUNT}} where
//   TX = {account, lt, hash, now, in:{src,value,bounce,bounced,op,body}, compute:{skipped,exit_code,success},
//         aborted, action_result, bounced_back, fees, out:[{dest,value,bounce,op,body}]}
//   ACCOUNT = {status, balance, kind, code, data, fields}; kind is root/proxy/client/worker/wallet
//   when the code is one of the vectors, and fields are the data cell's fields (contracts.md §2).
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { Blockchain, internal } = require('@ton/sandbox');
const { Address, Cell, beginCell, external, loadMessage } = require('@ton/core');

const NAMES = ['root', 'proxy', 'client', 'worker', 'wallet'];

function loadCodes() {
  const dir = process.env.COCOON_VECTORS;
  if (!dir) throw new Error('COCOON_VECTORS is not set');
  const codes = {};
  for (const name of NAMES) {
    const file = path.join(dir, 'contracts', `cocoon_${name}.boc`);
    codes[name] = Cell.fromBoc(fs.readFileSync(file))[0];
  }
  return codes;
}

const CODES = loadCodes();
const KIND_BY_HASH = new Map(NAMES.map((n) => [CODES[n].hash().toString('hex'), n]));

let chain = null;

const b64 = (cell) => cell.toBoc({ idx: false }).toString('base64');
const cellOf = (text) => Cell.fromBoc(Buffer.from(text, 'base64'))[0];
const raw = (addr) => (addr ? addr.toRawString() : null);

function codeOf(spec) {
  return CODES[spec] ?? cellOf(spec);
}

function initOf(init) {
  if (!init) return undefined;
  return { code: codeOf(init.code), data: cellOf(init.data) };
}

function opOf(body) {
  if (!body) return null;
  const s = body.beginParse();
  return s.remainingBits >= 32 ? s.loadUint(32) : null;
}

function paramsFields(cell) {
  const s = cell.beginParse();
  const f = {
    struct_version: s.loadUint(8),
    params_version: s.loadUint(32),
    unique_id: s.loadUint(32),
    is_test: s.loadBit(),
    price_per_token: s.loadCoins().toString(),
    worker_fee_per_token: s.loadCoins().toString(),
  };
  s.skip(32 * 4);
  f.proxy_delay_before_close = s.loadUint(32);
  f.client_delay_before_close = s.loadUint(32);
  f.min_proxy_stake = s.loadCoins().toString();
  f.min_client_stake = s.loadCoins().toString();
  return f;
}

function dataFields(kind, data) {
  const s = data.beginParse();
  switch (kind) {
    case 'proxy':
      return {
        owner: raw(s.loadAddress()),
        public_key: s.loadBuffer(32).toString('hex'),
        root: raw(s.loadAddress()),
        state: s.loadUint(2),
        balance: s.loadCoins().toString(),
        stake: s.loadCoins().toString(),
        unlock_ts: s.loadUint(32),
        params: paramsFields(s.loadRef()),
      };
    case 'client': {
      const f = {
        state: s.loadUint(2),
        balance: s.loadCoins().toString(),
        stake: s.loadCoins().toString(),
        tokens_used: s.loadUintBig(64).toString(),
        unlock_ts: s.loadUint(32),
        secret_hash: s.loadBuffer(32).toString('hex'),
      };
      const c = s.loadRef().beginParse();
      f.owner = raw(c.loadAddress());
      f.proxy = raw(c.loadAddress());
      f.public_key = c.loadBuffer(32).toString('hex');
      f.params = paramsFields(s.loadRef());
      return f;
    }
    case 'worker':
      return {
        owner: raw(s.loadAddress()),
        proxy: raw(s.loadAddress()),
        public_key: s.loadBuffer(32).toString('hex'),
        state: s.loadUint(2),
        tokens: s.loadUintBig(64).toString(),
        params: paramsFields(s.loadRef()),
      };
    case 'wallet':
      return {
        seqno: s.loadUint(32),
        subwallet_id: s.loadUint(32),
        public_key: s.loadBuffer(32).toString('hex'),
        status: s.loadUint(32),
        owner: raw(s.loadAddress()),
      };
    case 'root':
      return { owner: raw(s.loadAddress()), version: s.loadUint(32) };
    default:
      return null;
  }
}

async function accountOf(address) {
  const c = await chain.getContract(address);
  const st = c.accountState;
  const out = { status: st ? st.type : 'nonexist', balance: c.balance.toString() };
  if (st && st.type === 'active') {
    const kind = st.state.code ? KIND_BY_HASH.get(st.state.code.hash().toString('hex')) : undefined;
    out.kind = kind ?? null;
    out.code = st.state.code ? b64(st.state.code) : null;
    out.data = st.state.data ? b64(st.state.data) : null;
    out.fields = null;
    if (kind && st.state.data) {
      try {
        out.fields = dataFields(kind, st.state.data);
      } catch (e) {
        out.fields_error = String(e.message ?? e);
      }
    }
  }
  return out;
}

function msgOf(m) {
  const info = m.info;
  const body = m.body;
  const empty = body.bits.length === 0 && body.refs.length === 0;
  const out = {
    src: info.type === 'external-in' ? null : raw(info.src),
    dest: info.type === 'external-out' ? null : raw(info.dest),
    value: info.type === 'internal' ? info.value.coins.toString() : '0',
    bounce: info.type === 'internal' ? info.bounce : false,
    bounced: info.type === 'internal' ? info.bounced : false,
    op: empty ? null : opOf(body),
    body: empty ? null : b64(body),
  };
  return out;
}

function txOf(tx) {
  const d = tx.description;
  const out = {
    account: raw(new Address(0, Buffer.from(tx.address.toString(16).padStart(64, '0'), 'hex'))),
    lt: tx.lt.toString(),
    hash: tx.hash().toString('hex'),
    now: tx.now,
    in: tx.inMessage ? msgOf(tx.inMessage) : null,
    fees: tx.totalFees.coins.toString(),
    out: tx.outMessages.values().map(msgOf),
  };
  if (d.type === 'generic') {
    const c = d.computePhase;
    out.compute =
      c.type === 'skipped'
        ? { skipped: c.reason, exit_code: null, success: false }
        : { skipped: null, exit_code: c.exitCode, success: c.success, gas: c.gasFees.toString() };
    out.aborted = d.aborted;
    out.action_result = d.actionPhase ? d.actionPhase.resultCode : null;
    out.bounced_back = d.bouncePhase ? d.bouncePhase.type : null;
  }
  return out;
}

async function trace(message) {
  const res = await chain.sendMessage(message);
  const transactions = res.transactions.map(txOf);
  const accounts = {};
  for (const t of transactions) {
    for (const a of [t.account, ...t.out.map((m) => m.dest)]) {
      if (a && !(a in accounts)) accounts[a] = await accountOf(Address.parse(a));
    }
  }
  return { transactions, accounts };
}

async function handle(req) {
  switch (req.cmd) {
    case 'reset':
      chain = await Blockchain.create();
      chain.now = req.now;
      return { now: chain.now };
    case 'codes': {
      const codes = {};
      for (const n of NAMES) codes[n] = { hash: CODES[n].hash().toString('hex'), boc: b64(CODES[n]) };
      return { codes };
    }
    case 'set_now':
      chain.now = req.now;
      return { now: chain.now };
    case 'advance':
      chain.now = chain.now + req.seconds;
      return { now: chain.now };
    case 'send': {
      const msg = internal({
        from: Address.parse(req.from),
        to: Address.parse(req.to),
        value: BigInt(req.value),
        body: req.body ? cellOf(req.body) : beginCell().endCell(),
        bounce: req.bounce ?? true,
        stateInit: initOf(req.init),
      });
      return trace(msg);
    }
    case 'external': {
      const msg = external({
        to: Address.parse(req.to),
        body: cellOf(req.body),
        init: initOf(req.init),
      });
      return trace(msg);
    }
    case 'message':
      return trace(loadMessage(cellOf(req.boc).beginParse()));
    case 'account':
      return { account: await accountOf(Address.parse(req.address)) };
    default:
      throw new Error(`unknown cmd ${req.cmd}`);
  }
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let req;
    let answer;
    try {
      req = JSON.parse(line);
      if (!chain && req.cmd !== 'reset' && req.cmd !== 'codes') throw new Error('send "reset" first');
      answer = { id: req.id ?? null, ok: true, ...(await handle(req)) };
    } catch (e) {
      answer = { id: req ? req.id ?? null : null, ok: false, error: String(e.stack ?? e) };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  }
}

main().catch((e) => {
  process.stderr.write(String(e.stack ?? e) + '\n');
  process.exit(1);
});
