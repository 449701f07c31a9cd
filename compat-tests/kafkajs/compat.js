// kafkajs against a broker (Zombi or Apache Kafka): admin create + metadata, an idempotent producer
// (keys, headers, a plain and a gzip send), a consumer group that reads
// everything and commits, then the committed offsets. Prints one JSON line
// that TestKafkaJS checks; any error exits non-zero.
'use strict'
const { Kafka, logLevel, CompressionTypes } = require('kafkajs')

const [broker, topic, group] = process.argv.slice(2)
const N = 300
const kafka = new Kafka({ clientId: 'kafkajs-compat', brokers: [broker], logLevel: logLevel.ERROR, retry: { retries: 3 } })

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })
  const meta = await admin.fetchTopicMetadata({ topics: [topic] })

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const msgs = []
  for (let i = 0; i < N; i++) {
    msgs.push({ key: 'k' + (i % 7), value: 'v' + i, headers: { h: 'x' + i }, timestamp: String(1700000000000 + i) })
  }
  const acks = []
  for (const [part, compression] of [[msgs.slice(0, 150), CompressionTypes.None], [msgs.slice(150), CompressionTypes.GZIP]]) {
    acks.push(...await producer.send({ topic, acks: -1, compression, messages: part }))
  }
  await producer.disconnect()

  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 500 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('consumed ' + got.length + ' of ' + N + ' in 30 s')), 30000)
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        got.push({
          p: partition,
          o: Number(message.offset),
          k: message.key.toString(),
          v: message.value.toString(),
          h: message.headers.h.toString(),
          ts: Number(message.timestamp)
        })
        if (got.length === N) {
          clearTimeout(timer)
          resolve()
        }
      }
    }).catch(reject)
  })
  await consumer.disconnect() // commits what was consumed
  const committed = await admin.fetchOffsets({ groupId: group, topics: [topic] })
  await admin.disconnect()
  console.log(JSON.stringify({
    partitions: meta.topics[0].partitions.length,
    acks: acks.map(a => ({ p: a.partition, e: a.errorCode, b: Number(a.baseOffset) })),
    got,
    committed: committed[0].partitions.map(c => ({ p: c.partition, o: Number(c.offset) }))
  }))
}

main().catch(err => {
  console.error(err)
  process.exit(1)
})
