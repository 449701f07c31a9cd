// One case of compat-tests/security_clients_test.go for kafkajs.
// argv[2] is a JSON object: bootstrap, protocol, mechanism, username,
// password, ca, cert, key, topic, group, values, refused. Without refused,
// a producer writes the values to partition 0 (acks=-1) and a consumer
// group reads them back; with refused, admin.connect() must fail. Prints
// one JSON object: version, values, error, auth_error.
const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

const conf = JSON.parse(process.argv[2])
const out = { version: 'kafkajs ' + require('kafkajs/package.json').version, values: [], error: '', auth_error: false }

async function main () {
  let ssl = false
  if (conf.ca) {
    // Node checks the certificate and the host name (127.0.0.1, an IP SAN).
    ssl = { ca: [fs.readFileSync(conf.ca)] }
    if (conf.cert) {
      ssl.cert = fs.readFileSync(conf.cert)
      ssl.key = fs.readFileSync(conf.key)
    }
  }
  const sasl = conf.mechanism
    ? { mechanism: conf.mechanism.toLowerCase(), username: conf.username, password: conf.password }
    : undefined
  const kafka = new Kafka({
    clientId: 'zombi-security-kafkajs',
    brokers: [conf.bootstrap],
    ssl,
    sasl,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    authenticationTimeout: 10000,
    retry: { retries: conf.refused ? 0 : 5 }
  })
  if (conf.refused) {
    const admin = kafka.admin()
    try {
      await admin.connect()
      await admin.listTopics()
    } catch (e) {
      out.error = e.name + ': ' + e.message
      out.auth_error = e.name === 'KafkaJSSASLAuthenticationError'
    } finally {
      await admin.disconnect()
    }
    return
  }
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic: conf.topic, acks: -1, messages: conf.values.map(v => ({ value: v, partition: 0 })) })
  await producer.disconnect()
  const consumer = kafka.consumer({ groupId: conf.group, sessionTimeout: 10000, heartbeatInterval: 1000 })
  await consumer.connect()
  await consumer.subscribe({ topic: conf.topic, fromBeginning: true })
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`consumed ${out.values.length} of ${conf.values.length} in 30 s`)), 30000)
    consumer.run({
      eachMessage: async ({ message }) => {
        out.values.push(message.value.toString())
        if (out.values.length >= conf.values.length) {
          clearTimeout(timer)
          resolve()
        }
      }
    }).catch(reject)
  })
  await consumer.disconnect()
}

main()
  .catch(e => { out.error = (e.name || 'Error') + ': ' + e.message })
  .finally(() => { console.log(JSON.stringify(out)); process.exit(0) })
