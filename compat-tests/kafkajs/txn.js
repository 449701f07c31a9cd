// kafkajs transactions against a broker (Zombi or Apache Kafka): the
// scenario of compat-tests/txn_clients_test.go. Prints one JSON line that
// TestTxnKafkaJS checks; any error or missed deadline exits non-zero.
//
//   node txn.js BOOTSTRAP OUT IN CTP GROUP TXNID
//
// 1. A transactional producer commits c1-0..5, aborts a-0..3 (sent and
//    acknowledged first), commits c2-0..3 to OUT, record i of a transaction
//    to partition i % 2.
// 2. Consume-transform-produce: a read_committed member of GROUP reads IN;
//    three records at a time go to CTP as "x-" + value (partition n % 2 for
//    in-n) in a transaction with sendOffsets: in-0..2 committed, in-3..5
//    aborted; then a new member resumes from the group's offset and commits
//    in-3..5. admin.fetchOffsets reads the group's offset while the first
//    transaction is open, after its commit, once the new member resumed, and
//    at the end.
// 3. A second producer with the same transactional id fences a first whose
//    transaction is open on OUT-fence: the first's commit fails.
// 4. Two consumers (readUncommitted false and true) read OUT, CTP and
//    OUT-fence from the start.
'use strict'
const { Kafka, logLevel } = require('kafkajs')

const [broker, outTopic, inTopic, ctpTopic, group, txnId] = process.argv.slice(2)
const PARTS = 2
const kafka = new Kafka({ clientId: 'kafkajs-txn', brokers: [broker], logLevel: logLevel.ERROR, retry: { retries: 5 } })

function withDeadline (what, ms, p) {
  let timer
  const t = new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms) })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

async function transactionalProducer (id) {
  const p = kafka.producer({ transactionalId: id, maxInFlightRequests: 1, idempotent: true, transactionTimeout: 60000 })
  await p.connect()
  return p
}

// A group member whose records queue up for take().
async function member () {
  const c = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 500, maxWaitTimeInMs: 200 })
  await c.connect()
  await c.subscribe({ topics: [inTopic], fromBeginning: true })
  const queue = []
  let wake = () => {}
  await c.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      queue.push({ partition, offset: Number(message.offset), value: message.value.toString() })
      wake()
    }
  })
  c.take = n => withDeadline(`the group member reads ${n} records of ${inTopic}`, 20000, new Promise(resolve => {
    const check = () => {
      if (queue.length >= n) {
        wake = () => {}
        resolve(queue.splice(0, n))
      }
    }
    wake = check
    check()
  }))
  return c
}

async function main () {
  const out = { client: 'kafkajs ' + require('kafkajs/package.json').version }

  // 1. Commit, abort, commit.
  const p = await transactionalProducer(txnId)
  for (const [tag, n, commit] of [['c1-', 6, true], ['a-', 4, false], ['c2-', 4, true]]) {
    const txn = await p.transaction()
    const messages = []
    for (let i = 0; i < n; i++) {
      messages.push({ value: tag + i, partition: i % PARTS })
    }
    await txn.send({ topic: outTopic, acks: -1, messages })
    await (commit ? txn.commit() : txn.abort())
  }
  await p.disconnect()

  // 2. Consume-transform-produce.
  const admin = kafka.admin()
  await admin.connect()
  const committed = async () => {
    const [t] = await admin.fetchOffsets({ groupId: group, topics: [inTopic] })
    const o = Number(t.partitions.find(x => x.partition === 0).offset)
    return o >= 0 ? o : -1
  }
  // Kafka makes the offsets of a transaction visible when its coordinator
  // has written the markers, a moment after EndTxn answers.
  const waitCommitted = async want => {
    const stop = Date.now() + 10000
    let o = await committed()
    while (o !== want && Date.now() < stop) {
      await new Promise(resolve => setTimeout(resolve, 50))
      o = await committed()
    }
    return o
  }
  const offsets = out.offsets = {}
  const inputs = out.inputs = []
  const tp = await transactionalProducer(txnId + '-ctp')
  const transform = async (msgs, commit, pending) => {
    inputs.push(msgs.map(m => m.value))
    const txn = await tp.transaction()
    await txn.send({
      topic: ctpTopic,
      acks: -1,
      messages: msgs.map(m => ({ value: 'x-' + m.value, partition: Number(m.value.split('-')[1]) % PARTS }))
    })
    const next = msgs[msgs.length - 1].offset + 1
    await txn.sendOffsets({ consumerGroupId: group, topics: [{ topic: inTopic, partitions: [{ partition: 0, offset: String(next) }] }] })
    if (pending) {
      offsets.pending = await committed()
    }
    await (commit ? txn.commit() : txn.abort())
  }
  let c = await member()
  await transform(await c.take(3), true, true)
  offsets.after_commit = await waitCommitted(3)
  await transform(await c.take(3), false)
  await c.disconnect() // autoCommit is off: it commits nothing
  // A new member resumes from the group's offset: the abort did not move it.
  c = await member()
  const msgs = await c.take(3)
  offsets.after_abort = await committed()
  await transform(msgs, true)
  offsets.final = await waitCommitted(6)
  await c.disconnect()
  await tp.disconnect()

  // 3. Fencing: a second producer with the id of a first whose transaction
  // is open (fenced-0, acknowledged) aborts it; the first cannot commit.
  const fenceTopic = outTopic + '-fence'
  await admin.createTopics({ topics: [{ topic: fenceTopic, numPartitions: 1 }], waitForLeaders: true })
  const old = await transactionalProducer(txnId + '-fence')
  const oldTxn = await old.transaction()
  await oldTxn.send({ topic: fenceTopic, acks: -1, messages: [{ value: 'fenced-0', partition: 0 }] })
  const fresh = await transactionalProducer(txnId + '-fence')
  const freshTxn = await fresh.transaction() // InitProducerId: bumps the epoch, aborts the open transaction
  out.fenced_error = ''
  try {
    await oldTxn.commit()
  } catch (e) {
    out.fenced_error = `${e.name}: ${e.type || ''} ${e.message}`
  }
  await freshTxn.send({ topic: fenceTopic, acks: -1, messages: [{ value: 'fence-ok', partition: 0 }] })
  await freshTxn.commit()
  await old.disconnect().catch(() => {})
  await fresh.disconnect()
  await admin.disconnect()

  // 4. Every topic at both isolation levels, the two readers at once.
  const read = async (readUncommitted, counts) => {
    const c = kafka.consumer({ groupId: `${group}-reader-${readUncommitted}`, readUncommitted, maxWaitTimeInMs: 200 })
    await c.connect()
    await c.subscribe({ topics: Object.keys(counts), fromBeginning: true })
    const got = {}
    for (const t of Object.keys(counts)) got[t] = []
    const want = Object.values(counts).reduce((a, b) => a + b)
    let n = 0
    await withDeadline(`${readUncommitted ? 'read_uncommitted' : 'read_committed'} read of ${want} records`, 20000, new Promise((resolve, reject) => {
      c.run({
        eachMessage: async ({ topic, partition, message }) => {
          got[topic].push({ p: partition, o: Number(message.offset), v: message.value.toString() })
          if (++n === want) resolve()
        }
      }).catch(reject)
    }))
    // Nothing beyond them.
    await new Promise(resolve => setTimeout(resolve, 500))
    await c.disconnect()
    return got
  }
  const [rc, ru] = await Promise.all([
    read(false, { [outTopic]: 10, [ctpTopic]: 6, [fenceTopic]: 1 }),
    read(true, { [outTopic]: 14, [ctpTopic]: 9, [fenceTopic]: 2 })
  ])
  out.committed = rc[outTopic]
  out.ctp_committed = rc[ctpTopic]
  out.fence_committed = rc[fenceTopic]
  out.uncommitted = ru[outTopic]
  out.ctp_uncommitted = ru[ctpTopic]
  out.fence_uncommitted = ru[fenceTopic]
  console.log(JSON.stringify(out))
}

main().then(() => process.exit(0)).catch(err => {
  console.error(err)
  process.exit(1)
})
